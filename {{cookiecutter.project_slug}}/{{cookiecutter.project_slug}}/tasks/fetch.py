"""An I/O-bound task: fetch a URL, retrying transient failures with backoff.

Fetching URLs that callers choose lets anyone who can send a task make the worker request any
address it can reach: internal services, cloud metadata endpoints. In production, check `url`
against an allow-list of hosts before fetching.
"""

import requests

from ..celery import app

# Seconds to open the connection, and to wait for each chunk of the response.
CONNECT_TIMEOUT = 3.05
READ_TIMEOUT = 10.0
# The most of a response that is read: a larger one fails instead of filling the worker's memory.
MAX_BYTES = 10 * 1024 * 1024


class TransientHTTPError(Exception):
    """The server answered with a status worth retrying (429 or 5xx)."""


class ResponseTooLargeError(Exception):
    """The response is larger than MAX_BYTES."""


@app.task(
    autoretry_for=(requests.ConnectionError, requests.Timeout, TransientHTTPError),
    max_retries=5,
    retry_backoff=True,  # 1 s, 2 s, 4 s, ... between tries,
    retry_backoff_max=60,  # never more than a minute,
    retry_jitter=True,  # each a random part of that, so failed tasks do not retry in lockstep.
    # However slowly a server sends, the task ends after 30 s: SoftTimeLimitExceeded, then the kill.
    soft_time_limit=30,
    time_limit=35,
)
def fetch_url(url: str) -> dict[str, object]:
    """GET `url`; return its status code and size. 4xx answers fail at once: retrying will not help."""
    with requests.get(url, timeout=(CONNECT_TIMEOUT, READ_TIMEOUT), stream=True) as response:
        if response.status_code == 429 or response.status_code >= 500:
            raise TransientHTTPError(f"{url} answered {response.status_code}")
        response.raise_for_status()
        size = 0
        for chunk in response.iter_content(chunk_size=64 * 1024):
            size += len(chunk)
            if size > MAX_BYTES:
                raise ResponseTooLargeError(f"{url} sent more than {MAX_BYTES} bytes")
    return {"url": url, "status": response.status_code, "bytes": size}
