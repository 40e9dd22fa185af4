"""Load test: send N tasks to the running stack, then print throughput{% if cookiecutter.result_backend != "none" %} and latency percentiles{% endif %}.

    python -m {{ cookiecutter.project_slug }}.loadtest -n 1000   # the sleep task, 0 ms: the stack's own cost
    python -m {{ cookiecutter.project_slug }}.loadtest -n 200 --args '[100]'   # sleep 100 ms instead
    python -m {{ cookiecutter.project_slug }}.loadtest -n 100 --task primes --args '[1000000]'
    docker compose exec worker python -m {{ cookiecutter.project_slug }}.loadtest -n 1000  # make loadtest

It uses the project's settings: the broker {% if cookiecutter.result_backend != "none" %}and result backend {% endif %}that CELERY_BROKER_URL
{%- if cookiecutter.result_backend != "none" %} and
CELERY_RESULT_BACKEND name, and the workers consuming the queue there.
{%- else %} names,
and the workers consuming the queue there.
{%- endif %}
{%- if cookiecutter.result_backend != "none" %}

- throughput: N tasks sent at once; tasks per second from the first send until the last result is
  stored (its date_done, by the workers' clock: run it where that clock agrees with this one).
- latency: then --samples tasks one at a time, each sent and waited for (`.get()`) on an otherwise
  idle stack: what a caller waits, the task's own run time included.
{%- else %}

Tasks store no results here, so nothing says when each one finished: the run counts as done when
the queue is empty, while at most (workers x concurrency) tasks are still running, for short tasks
a few milliseconds more. Latency per task cannot be measured without a result backend.
{%- endif %}
"""

import argparse
import json
import sys
import time
{%- if cookiecutter.result_backend != "none" %}
from datetime import UTC, datetime
{%- endif %}
from typing import Any

from celery.exceptions import TimeoutError as ResultTimeoutError
{%- if cookiecutter.result_backend != "none" %}
from celery.result import ResultSet
{%- endif %}
{%- if cookiecutter.result_backend == "none" %}
{%- if cookiecutter.broker == "redis" %}
from kombu.transport.redis import Channel
{%- else %}
from kombu.transport.pyamqp import Channel
{%- endif %}
{%- endif %}

from .celery import app

# --task shortcuts: the task's name, and its arguments unless --args is given.
TASKS: dict[str, tuple[str, list[Any]]] = {
    "sleep": ("{{ cookiecutter.project_slug }}.tasks.sleep.sleep", [0]),
    "primes": ("{{ cookiecutter.project_slug }}.tasks.primes.count_primes", [100_000]),
}


class Progress:
    """One status line on stderr: rewritten in place on a terminal, else printed every few seconds."""

    def __init__(self) -> None:
        self.terminal = sys.stderr.isatty()
        self.shown = 0.0

    def show(self, text: str, final: bool = False) -> None:
        now = time.monotonic()
        if final or now - self.shown >= (0.2 if self.terminal else 5.0):
            self.shown = now
            if self.terminal:
                print(f"\r{text}\033[K", end="\n" if final else "", file=sys.stderr, flush=True)
            else:
                print(text, file=sys.stderr, flush=True)


def percentiles(values: list[float]) -> dict[str, float]:
    """p50, p95, p99 (nearest rank) and the maximum."""
    ordered = sorted(values)
    rank = {"p50": 0.50, "p95": 0.95, "p99": 0.99, "max": 1.0}
    return {name: ordered[round(q * (len(ordered) - 1))] for name, q in rank.items()}


def throughput(name: str, args: list[Any], count: int, timeout: float, progress: Progress) -> dict[str, Any]:
    """Send `count` tasks at once; wait until {% if cookiecutter.result_backend != "none" %}each result is stored{% else %}the queue is empty{% endif %}."""
{%- if cookiecutter.result_backend != "none" %}
    started = datetime.now(UTC)
    results = []
    for sent in range(1, count + 1):
        results.append(app.send_task(name, args))
        progress.show(f"sent {sent}/{count}")
    # Wait for the last task sent, then for the rest: reading results while the workers run would
    # take CPU from them, on one machine, and time the reading rather than the stack.
    progress.show(f"sent {count}, waiting for the last one")
    results[-1].get(timeout=timeout, propagate=False)
    values = ResultSet(results).get(timeout=timeout, propagate=False)
    failed = sum(isinstance(value, BaseException) for value in values)
    # The stack's pace: from the first send until the last result was stored (its date_done, by
    # the workers' clock), not until this process had read them all.
    last = max(as_utc(result.date_done) for result in results)
    seconds = (last - started).total_seconds()
    progress.show(f"sent {count}, done {count}/{count}", final=True)
    return {"tasks": count, "failed": failed, "seconds": seconds, "tasks_per_second": count / seconds}


def as_utc(moment: datetime | None) -> datetime:
    """A result's date_done as an aware datetime (the database backend stores it naive, in UTC)."""
    if moment is None:
        raise RuntimeError("a finished task has no date_done")
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
{%- else %}
    start = time.perf_counter()
    for sent in range(1, count + 1):
        app.send_task(name, args)
        progress.show(f"sent {sent}/{count}")
    deadline = time.monotonic() + timeout
    with app.connection_for_write() as connection:
        while waiting := queued(connection.default_channel):
            progress.show(f"sent {count}, waiting in the queue {waiting}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"{waiting} tasks still queued after {timeout:.0f} s")
            time.sleep(0.01)
    seconds = time.perf_counter() - start
    progress.show(f"sent {count}, the queue is empty", final=True)
    return {"tasks": count, "seconds": seconds, "tasks_per_second": count / seconds}
{%- endif %}
{%- if cookiecutter.result_backend == "none" %}


def queued(channel: object) -> int:
    """How many tasks wait in the queue (not counting those the workers hold)."""
    if not isinstance(channel, Channel):
        raise TypeError(f"not a {Channel.__module__} channel: {channel!r}")
{%- if cookiecutter.broker == "redis" %}
    # Not passive: Redis drops an empty list, so a passive declare of an empty queue fails.
    return channel.queue_declare(queue=app.conf.task_default_queue).message_count
{%- else %}
    declared = channel.queue_declare(queue=app.conf.task_default_queue, passive=True)
    if declared is None:  # only with nowait=True
        raise RuntimeError("RabbitMQ did not answer queue.declare")
    _, messages, _ = declared
    return messages
{%- endif %}
{%- else %}


def latency(name: str, args: list[Any], samples: int, timeout: float, progress: Progress) -> dict[str, float]:
    """Send one task at a time and wait for its result: milliseconds per round trip."""
    waits = []
    for sample in range(1, samples + 1):
        start = time.perf_counter()
        app.send_task(name, args).get(timeout=timeout, propagate=False)
        waits.append((time.perf_counter() - start) * 1000)
        progress.show(f"one at a time {sample}/{samples}")
    progress.show(f"one at a time {samples}/{samples}", final=True)
    return percentiles(waits)
{%- endif %}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=f"python -m {__package__}.loadtest", description=__doc__)
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument("-n", "--tasks", type=int, default=1000, help="tasks sent at once (1000)")
    parser.add_argument("--task", default="sleep", help="sleep, primes or a task's full name (sleep)")
    parser.add_argument("--args", type=json.loads, help="its arguments as a JSON list; sleep: [milliseconds]")
{%- if cookiecutter.result_backend != "none" %}
    parser.add_argument("--samples", type=int, default=100, help="tasks sent one by one, for latency (100)")
{%- endif %}
    parser.add_argument("--timeout", type=float, default=600, help="seconds to wait for the tasks (600)")
    parser.add_argument("--json", action="store_true", help="also print the figures as one JSON line")
    options = parser.parse_args(argv)
    name, default_args = TASKS.get(options.task, (options.task, []))
    args = default_args if options.args is None else options.args
    if options.tasks < 1 or not isinstance(args, list):
        parser.error("-n must be at least 1, and --args a JSON list such as '[100]'")

    progress = Progress()
{%- if cookiecutter.result_backend != "none" %}
    app.backend.get_task_meta("load-test-warm-up")  # connects to the result backend before the clock starts
{%- endif %}
    try:
        figures: dict[str, Any] = {"task": name, "args": args}
        figures["throughput"] = throughput(name, args, options.tasks, options.timeout, progress)
{%- if cookiecutter.result_backend != "none" %}
        if options.samples > 0:
            figures["latency_ms"] = latency(name, args, options.samples, options.timeout, progress)
{%- endif %}
    except (TimeoutError, ResultTimeoutError) as exc:
        print(f"\nNot done within {options.timeout:.0f} s: {exc}", file=sys.stderr)
        print("Is a worker running, consuming this broker's queue?", file=sys.stderr)
        return 1

    done = figures["throughput"]
    rate = done["tasks_per_second"]
    print(f"{name}{tuple(args)}: {done['tasks']} tasks in {done['seconds']:.2f} s = {rate:.0f} tasks/s")
{%- if cookiecutter.result_backend != "none" %}
    if done["failed"]:
        print(f"  {done['failed']} of them did not succeed: see the worker's log")
    if "latency_ms" in figures:
        shown = "  ".join(f"{key} {value:.1f} ms" for key, value in figures["latency_ms"].items())
        print(f"one at a time, send to result ({options.samples}): {shown}")
{%- else %}
    print("  (no result backend: counted until the queue was empty; latency needs stored results)")
{%- endif %}
    if options.json:
        print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
