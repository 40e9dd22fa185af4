"""Integration: tasks go through the real broker to a real worker, results land in PostgreSQL."""

from collections.abc import Callable
from typing import Any

import pytest
from celery.result import AsyncResult

from {{ cookiecutter.project_slug }}.tasks.fetch import fetch_url
from {{ cookiecutter.project_slug }}.tasks.primes import MAX_LIMIT, count_primes

pytestmark = pytest.mark.usefixtures("worker")

QUEUE = "{{ cookiecutter.queue_name }}"
ResultRow = Callable[[AsyncResult], dict[str, Any]]


def test_count_primes_runs_on_the_worker_and_stores_its_result(result_row: ResultRow) -> None:
    row = result_row(count_primes.delay(100_000))
    assert row["status"] == "SUCCESS"
    assert row["result"] == 9592
    assert row["name"] == "{{ cookiecutter.project_slug }}.tasks.primes.count_primes"
    assert row["queue"] == QUEUE


def test_count_primes_is_stopped_by_its_soft_time_limit(result_row: ResultRow) -> None:
    row = result_row(count_primes.apply_async((MAX_LIMIT,), soft_time_limit=1))
    assert row["status"] == "FAILURE"
    assert row["result"]["exc_type"] == "SoftTimeLimitExceeded"


def test_fetch_url_runs_on_the_worker_and_stores_its_result(web, result_row: ResultRow) -> None:
    row = result_row(fetch_url.delay(f"{web.url}/ok"))
    assert row["status"] == "SUCCESS"
    assert row["result"] == {"url": f"{web.url}/ok", "status": 200, "bytes": 5}
    assert row["queue"] == QUEUE


def test_fetch_url_retries_a_transient_error_until_it_succeeds(web, result_row: ResultRow) -> None:
    row = result_row(fetch_url.delay(f"{web.url}/flaky/2/worker"))
    assert row["status"] == "SUCCESS"
    assert row["retries"] == 2
    assert web.hits["/flaky/2/worker"] == 3


def test_fetch_url_does_not_retry_a_client_error(web, result_row: ResultRow) -> None:
    row = result_row(fetch_url.delay(f"{web.url}/missing?worker"))
    assert row["status"] == "FAILURE"
    assert row["result"]["exc_type"] == "HTTPError"
    assert web.hits["/missing?worker"] == 1
