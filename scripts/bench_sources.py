"""Benchmark event sources: the webhook server under 50 concurrent signed callers.

Prints ONE JSON object on stdout (progress goes to stderr):

* ``webhook_events_per_s``: events accepted (answered 202) per wall second, from the
  first request sent to the last answer received.
* ``webhook_p50_ms`` / ``webhook_p99_ms``: latency of one post, from sending it to
  reading its answer (an accepted event is durable by then: that is what 202 means).

The server (hypercorn + the webhook app, on trio by default) runs in this process
with the deliverer given to :func:`bench_webhooks`; the callers run in a child
process (``--callers-for URL``, asyncio, raw keep-alive HTTP/1.1 over 50 sockets), so
on two cores each side has its own. Each post is signed (HMAC-SHA256) and carries an
idempotency key of its own.

Usage::

    .venv/bin/python scripts/bench_sources.py [--backend trio|asyncio] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import sys
import time
from collections import Counter
from collections.abc import Mapping
from typing import Literal
from urllib.parse import urlsplit

import anyio
import msgspec

from memvisor.sources import (
    Deliverer,
    MemoryDeliverer,
    Outbox,
    WebhookAuth,
    serve_webhooks,
    webhook_app,
    webhook_signature,
)

Backend = Literal["trio", "asyncio"]

AGENT = "bench"
SECRET = b"bench-secret"
CLIENTS = 50


class CallerReport(msgspec.Struct, frozen=True, kw_only=True):
    """What the callers saw (printed by the child process as JSON)."""

    statuses: dict[int, int]
    """How many answers of each status."""
    elapsed_s: float
    latencies_ms: list[float]
    """Of every post, in the order answered."""


class WebhookFigures(msgspec.Struct, frozen=True, kw_only=True):
    """The webhook part of the report."""

    webhook_events_per_s: float
    webhook_p50_ms: float
    webhook_p99_ms: float
    webhook_posts: int
    webhook_accepted: int
    webhook_clients: int


async def bench_webhooks(
    deliverer: Deliverer,
    outbox: Outbox,
    auth: Mapping[str, WebhookAuth],
    *,
    agent: str,
    secret: bytes,
    posts: int,
    clients: int = CLIENTS,
) -> WebhookFigures:
    """Serve the webhook app over ``deliverer`` on a free loopback port and run
    ``posts`` signed posts to ``agent`` from ``clients`` concurrent callers."""
    app = webhook_app(deliverer, outbox, auth)
    async with anyio.create_task_group() as tg:
        url: str = await tg.start(serve_webhooks, app, "127.0.0.1", 0)
        done = await anyio.run_process(
            [
                sys.executable,
                __file__,
                "--callers-for",
                url,
                "--agent",
                agent,
                "--secret-hex",
                secret.hex(),
                "--posts",
                str(posts),
                "--clients",
                str(clients),
            ],
            check=False,
        )
        tg.cancel_scope.cancel()
    if done.returncode != 0:
        sys.exit(f"the callers failed:\n{done.stderr.decode()}")
    report = msgspec.json.decode(done.stdout, type=CallerReport)
    accepted = report.statuses.get(202, 0)
    latencies = sorted(report.latencies_ms)
    return WebhookFigures(
        webhook_events_per_s=round(accepted / report.elapsed_s, 1),
        webhook_p50_ms=round(_percentile(latencies, 0.50), 3),
        webhook_p99_ms=round(_percentile(latencies, 0.99), 3),
        webhook_posts=posts,
        webhook_accepted=accepted,
        webhook_clients=clients,
    )


def _percentile(ordered: list[float], fraction: float) -> float:
    if not ordered:
        return 0.0
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


async def memory_webhooks(posts: int) -> WebhookFigures:
    """The benchmark over :class:`MemoryDeliverer` (the seam's fake): the server alone."""
    deliverer = MemoryDeliverer({AGENT}, capacity=posts + 1)
    figures = await bench_webhooks(
        deliverer,
        deliverer,
        {AGENT: WebhookAuth(secret=SECRET)},
        agent=AGENT,
        secret=SECRET,
        posts=posts,
    )
    if len(deliverer.accepted[AGENT]) != figures.webhook_accepted:
        sys.exit(
            f"{figures.webhook_accepted} answered 202 but "
            f"{len(deliverer.accepted[AGENT])} delivered"
        )
    return figures


# --- the callers (child process) ----------------------------------------------------------


async def _callers(url: str, agent: str, secret: bytes, posts: int, clients: int) -> CallerReport:
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    statuses: Counter[int] = Counter()
    latencies: list[float] = []

    def request(i: int) -> bytes:
        body = b'{"text":"event %d","source":"bench"}' % i
        return (
            b"POST /agents/%s/events HTTP/1.1\r\nhost: bench\r\n"
            b"content-type: application/json\r\ncontent-length: %d\r\n"
            b"idempotency-key: bench-%d\r\nx-memvisor-signature: %s\r\n\r\n%s"
            % (agent.encode(), len(body), i, webhook_signature(secret, body).encode(), body)
        )

    async def caller(first: int) -> None:
        reader, writer = await asyncio.open_connection(host, port)
        for i in range(first, posts, clients):
            data = request(i)
            start = time.perf_counter()
            writer.write(data)
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.lower().split(b"\r\n")
            length = next(int(h[15:]) for h in lines if h.startswith(b"content-length:"))
            await reader.readexactly(length)
            latencies.append((time.perf_counter() - start) * 1000)
            statuses[int(lines[0].split()[1])] += 1
            if b"connection: close" in lines:  # the server's keep-alive limit
                writer.close()
                reader, writer = await asyncio.open_connection(host, port)
        writer.close()
        await writer.wait_closed()

    start = time.perf_counter()
    await asyncio.gather(*(caller(c) for c in range(clients)))
    elapsed = time.perf_counter() - start
    return CallerReport(statuses=dict(statuses), elapsed_s=elapsed, latencies_ms=latencies)


# --- main ---------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--backend", choices=["trio", "asyncio"], default="trio")
    parser.add_argument("--quick", action="store_true", help="small sizes (a smoke run)")
    parser.add_argument("--posts", type=int, help="posts to send (default 20000; quick: 1000)")
    parser.add_argument("--callers-for", metavar="URL", help=argparse.SUPPRESS)
    parser.add_argument("--agent", default=AGENT, help=argparse.SUPPRESS)
    parser.add_argument("--secret-hex", default=SECRET.hex(), help=argparse.SUPPRESS)
    parser.add_argument("--clients", type=int, default=CLIENTS, help=argparse.SUPPRESS)
    args = parser.parse_args()
    posts: int = args.posts or (1000 if args.quick else 20_000)
    if args.callers_for:
        callers = asyncio.run(
            _callers(
                args.callers_for, args.agent, bytes.fromhex(args.secret_hex), posts, args.clients
            )
        )
        sys.stdout.buffer.write(msgspec.json.encode(callers))
        return
    backend: Backend = args.backend
    print(f"webhooks: {posts} signed posts, {CLIENTS} callers, {backend}", file=sys.stderr)
    figures = anyio.run(memory_webhooks, posts, backend=backend)
    report = {
        **msgspec.structs.asdict(figures),
        "backend": backend,
        "deliverer": "MemoryDeliverer",
        "quick": args.quick,
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
    }
    print(json.dumps(report))


if __name__ == "__main__":
    main()
