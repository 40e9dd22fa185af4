{%- if cookiecutter.result_backend != "none" -%}
"""Integration: tasks go through the real broker to a real worker, and their results are stored."""

from collections.abc import Callable
from typing import Any

import pytest
from celery.result import AsyncResult
from conftest import WebServer

from {{ cookiecutter.project_slug }}.tasks.fetch import fetch_url
from {{ cookiecutter.project_slug }}.tasks.primes import MAX_LIMIT, count_primes

pytestmark = pytest.mark.usefixtures("worker")

QUEUE = "{{ cookiecutter.queue_name }}"
StoredResult = Callable[[AsyncResult[Any]], dict[str, Any]]


def test_count_primes_runs_on_the_worker_and_stores_its_result(stored_result: StoredResult) -> None:
    stored = stored_result(count_primes.delay(100_000))
    assert stored["status"] == "SUCCESS"
    assert stored["result"] == 9592
    assert stored["name"] == "{{ cookiecutter.project_slug }}.tasks.primes.count_primes"
    assert stored["queue"] == QUEUE
{%- if cookiecutter.result_backend == "redis" %}
    # Redis results expire on their own: result_expires becomes the key's TTL.
    assert 0 < stored["ttl"] <= 24 * 3600
{%- endif %}


def test_count_primes_is_stopped_by_its_soft_time_limit(stored_result: StoredResult) -> None:
    stored = stored_result(count_primes.apply_async((MAX_LIMIT,), soft_time_limit=1))
    assert stored["status"] == "FAILURE"
    assert stored["result"]["exc_type"] == "SoftTimeLimitExceeded"


def test_fetch_url_runs_on_the_worker_and_stores_its_result(
    web: WebServer, stored_result: StoredResult
) -> None:
    stored = stored_result(fetch_url.delay(f"{web.url}/ok"))
    assert stored["status"] == "SUCCESS"
    assert stored["result"] == {"url": f"{web.url}/ok", "status": 200, "bytes": 5}
    assert stored["queue"] == QUEUE


def test_fetch_url_retries_a_transient_error_until_it_succeeds(
    web: WebServer, stored_result: StoredResult
) -> None:
    stored = stored_result(fetch_url.delay(f"{web.url}/flaky/2/worker"))
    assert stored["status"] == "SUCCESS"
    assert stored["retries"] == 2
    assert web.hits["/flaky/2/worker"] == 3


def test_fetch_url_does_not_retry_a_client_error(web: WebServer, stored_result: StoredResult) -> None:
    stored = stored_result(fetch_url.delay(f"{web.url}/missing?worker"))
    assert stored["status"] == "FAILURE"
    assert stored["result"]["exc_type"] == "HTTPError"
    assert web.hits["/missing?worker"] == 1


def test_fetch_url_gives_up_on_a_server_that_answers_too_slowly_in_all(
    web: WebServer, stored_result: StoredResult
) -> None:
    """Each byte comes within the read timeout, but the task's soft time limit ends the whole fetch."""
    stored = stored_result(fetch_url.apply_async((f"{web.url}/drip/10",), soft_time_limit=1))
    assert stored["status"] == "FAILURE"
    assert stored["result"]["exc_type"] == "SoftTimeLimitExceeded"
{%- else -%}
"""Integration: tasks go through the real broker to a real worker.

With no result backend there is nothing to read back: the tests count what the worker did, as
`celery inspect stats` does, and what the tasks did to the local web server.
"""

import time
from collections.abc import Callable

from conftest import WebServer

from {{ cookiecutter.project_slug }}.celery import app
from {{ cookiecutter.project_slug }}.tasks.fetch import fetch_url
from {{ cookiecutter.project_slug }}.tasks.primes import count_primes


def wait_until(condition: Callable[[], bool], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"not true within {timeout} s"
        time.sleep(0.1)


def tasks_run(worker: str, name: str) -> int:
    """How many times the worker has run the task `name` (its `inspect stats` total)."""
    stats = (app.control.inspect(destination=[worker], timeout=2).stats() or {}).get(worker)
    return stats["total"].get(name, 0) if stats else 0


def test_count_primes_runs_on_the_worker(worker: str) -> None:
    name = "{{ cookiecutter.project_slug }}.tasks.primes.count_primes"
    before = tasks_run(worker, name)
    count_primes.delay(100_000)
    wait_until(lambda: tasks_run(worker, name) == before + 1)


def test_fetch_url_runs_on_the_worker(worker: str, web: WebServer) -> None:
    fetch_url.delay(f"{web.url}/ok?worker")
    wait_until(lambda: web.hits["/ok?worker"] == 1)


def test_fetch_url_retries_a_transient_error_until_it_succeeds(worker: str, web: WebServer) -> None:
    fetch_url.delay(f"{web.url}/flaky/2/worker")
    wait_until(lambda: web.hits["/flaky/2/worker"] == 3)


def test_fetch_url_does_not_retry_a_client_error(worker: str, web: WebServer) -> None:
    fetch_url.delay(f"{web.url}/missing?worker")
    wait_until(lambda: web.hits["/missing?worker"] == 1)
    time.sleep(3)  # a retry would come within about a second (retry_backoff)
    assert web.hits["/missing?worker"] == 1
{%- endif %}
