"""An I/O-bound task: fetch a URL, retrying transient failures with backoff."""

import requests
from celery.utils.log import get_task_logger

from ..celery import app

# A task's logger: each line carries the task's name and id (as JSON fields with LOG_FORMAT=json).
logger = get_task_logger(__name__)

# Seconds to open the connection, and to wait for each chunk of the response.
CONNECT_TIMEOUT = 3.05
READ_TIMEOUT = 10.0


class TransientHTTPError(Exception):
    """The server answered with a status worth retrying (429 or 5xx)."""


@app.task(
    autoretry_for=(requests.ConnectionError, requests.Timeout, TransientHTTPError),
    max_retries=5,
    retry_backoff=True,  # 1 s, 2 s, 4 s, ... between tries,
    retry_backoff_max=10,  # never more than 10 s (a countdown counts against the visibility timeout),
    retry_jitter=True,  # each a random part of that, so failed tasks do not retry in lockstep.
)
def fetch_url(url: str) -> dict[str, object]:
    """GET `url`; return its status code and size. 4xx answers fail at once: retrying will not help."""
    response = requests.get(url, timeout=(CONNECT_TIMEOUT, READ_TIMEOUT))
    logger.info("GET %s answered %s", url, response.status_code)
    if response.status_code == 429 or response.status_code >= 500:
        raise TransientHTTPError(f"{url} answered {response.status_code}")
    response.raise_for_status()
    return {"url": url, "status": response.status_code, "bytes": len(response.content)}
