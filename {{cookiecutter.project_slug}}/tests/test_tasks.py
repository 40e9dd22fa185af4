"""Unit tests: each task's own logic, called in this process (no broker, no worker)."""

import pytest
import requests
from conftest import WebServer

from {{ cookiecutter.project_slug }}.tasks import fetch, primes


@pytest.mark.parametrize(("limit", "expected"), [(0, 0), (2, 0), (3, 1), (100, 25), (1_000_000, 78_498)])
def test_count_primes_counts_the_primes_below_the_limit(limit: int, expected: int) -> None:
    assert primes.count_primes(limit) == expected


@pytest.mark.parametrize("limit", [-1, primes.MAX_LIMIT + 1])
def test_count_primes_refuses_a_limit_outside_its_memory_bound(limit: int) -> None:
    with pytest.raises(ValueError, match="limit must be between"):
        primes.count_primes(limit)


def test_fetch_url_returns_status_and_size(web: WebServer) -> None:
    assert fetch.fetch_url(f"{web.url}/ok") == {"url": f"{web.url}/ok", "status": 200, "bytes": 5}


def test_fetch_url_fails_on_a_client_error(web: WebServer) -> None:
    with pytest.raises(requests.HTTPError, match="404"):
        fetch.fetch_url(f"{web.url}/missing")


def test_fetch_url_treats_a_server_error_as_transient(web: WebServer) -> None:
    with pytest.raises(fetch.TransientHTTPError, match="503"):
        fetch.fetch_url(f"{web.url}/flaky/1/unit")


def test_fetch_url_gives_up_when_the_server_is_too_slow(
    web: WebServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(fetch, "READ_TIMEOUT", 0.2)
    with pytest.raises(requests.ReadTimeout):
        fetch.fetch_url(f"{web.url}/slow/2")


def test_fetch_url_raises_connection_error_when_nothing_listens() -> None:
    with pytest.raises(requests.ConnectionError):
        fetch.fetch_url("http://127.0.0.1:9/")


def test_fetch_url_refuses_a_response_larger_than_its_cap(
    web: WebServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(fetch, "MAX_BYTES", 1000)
    assert fetch.fetch_url(f"{web.url}/big/1000")["bytes"] == 1000
    with pytest.raises(fetch.ResponseTooLargeError, match="more than 1000 bytes"):
        fetch.fetch_url(f"{web.url}/big/1001")
