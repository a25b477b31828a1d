"""Benchmark event sources and simulations: webhooks through the real stack, and populations.

Prints ONE JSON object on stdout (progress goes to stderr):

* ``webhook_events_per_s``: accepted events per wall second, end to end: from the
  first post sent to the moment the last accepted event is in its agent's log.
* ``webhook_p50_ms`` / ``webhook_p99_ms``: for each accepted event, from sending its
  post to its agent logging it (the ``external_event``, found by its inbox id
  through the agent's ``observe`` callback).

  The stack is ``memvisor serve``'s: the webhook app served by hypercorn, the
  :class:`Inbox` (its own SQLite log), one pump per agent, scripted agents (the
  ``echo`` policy: ``send_message`` for every event) writing to a SQLite log,
  both logs fsynced as serve's are. The callers run in a child process (asyncio,
  raw keep-alive HTTP/1.1 over 50 sockets), so on two cores each side has one;
  a 429 is retried after its ``Retry-After``, as a well-behaved client would.
  Send and log times are ``time.monotonic()`` in two processes: one system-wide
  clock on Linux and macOS. One post per agent goes first, untimed (a warm-up).

  The callers post as fast as they are answered, faster than the agents take the
  events, so these latencies are mostly time spent waiting in the inbox (bounded
  by its capacity): what a caller sees from an overloaded server.
* ``webhook_paced_p50_ms`` / ``webhook_paced_p99_ms``: the same latency when a
  quarter as many posts come at ``webhook_paced_rate`` (half of
  ``webhook_events_per_s``), so the agents keep up: the latency of one event.
* ``webhook_server_*``: the same server and callers over :class:`MemoryDeliverer`
  (the seam's fake): posts answered 202 per second and the answer's latency, the
  HTTP layer alone.
* ``sim_steps_per_s`` ``{"1000": .., "10000": ..}``: LLM steps (all agents) per wall
  second, simulating that many scripted agents (``echo``), each told something
  every virtual hour for a virtual day, with :func:`memvisor.sim.run_scenario`.
* ``sim_peak_rss_mb``: the peak resident memory of the process that simulated that
  size (each size runs in a child process of its own: ``VmHWM``).

Usage::

    .venv/bin/python scripts/bench_sources.py [--backend trio|asyncio] [--quick]
        [--posts N] [--agents N] [--sim-sizes 1000,10000] [--sim-duration 1d]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

import anyio
import msgspec

from memvisor.actors import open_runtime
from memvisor.agent import spawn_agent
from memvisor.events import AgentCreated, Event, ExternalEvent, open_sqlite_log
from memvisor.llm import LLMRequest, LLMResponse, ScriptedLLM
from memvisor.sim import (
    AgentGroup,
    Input,
    PolicyContext,
    Scenario,
    policy_named,
    run_scenario,
    with_summaries,
)
from memvisor.sources import (
    MemoryDeliverer,
    WebhookAuth,
    serve_webhooks,
    webhook_app,
    webhook_signature,
)
from memvisor.sources._inbox import Inbox, LogOutbox

Backend = Literal["trio", "asyncio"]

SECRET = b"bench-secret"
CLIENTS = 50
AGENTS = 8
T0 = 1_735_689_600.0
SETTLE_TIMEOUT = 600.0
_SIM_SIZES = {False: "1000,10000", True: "100,1000"}


class Sent(msgspec.Struct, frozen=True, array_like=True):
    """One accepted post, as its caller saw it."""

    agent: str
    id: int
    sent: float
    """``time.monotonic()`` when the accepted attempt was sent."""


class CallerReport(msgspec.Struct, frozen=True, kw_only=True):
    """What the callers saw (printed by the child process as JSON)."""

    statuses: dict[int, int]
    """How many answers of each status (a retried 429 counts once per answer)."""
    started: float
    """``time.monotonic()`` when the first post was sent."""
    elapsed_s: float
    latencies_ms: list[float]
    """Of every answer, in the order answered: sending to reading the answer."""
    accepted: list[Sent]


class ServerFigures(msgspec.Struct, frozen=True, kw_only=True):
    """The HTTP layer alone (over MemoryDeliverer)."""

    webhook_server_accepted_per_s: float
    webhook_server_p50_ms: float
    webhook_server_p99_ms: float
    webhook_server_posts: int


class WebhookFigures(msgspec.Struct, frozen=True, kw_only=True):
    """The real stack, until the agents' logs."""

    webhook_events_per_s: float
    webhook_p50_ms: float
    webhook_p99_ms: float
    webhook_accept_per_s: float
    """Posts answered 202 per second of posting (the callers' side alone)."""
    webhook_paced_rate: float
    """Posts per second offered in the paced run: half of ``webhook_events_per_s``."""
    webhook_paced_p50_ms: float
    """Latency until the agent's log when the posts come at ``webhook_paced_rate``
    (the agents keep up, so no backlog builds: the latency of one event, not of a queue)."""
    webhook_paced_p99_ms: float
    webhook_posts: int
    webhook_accepted: int
    webhook_busy: int
    """Answers 429 (each retried after its Retry-After)."""
    webhook_failed: int
    """Answers other than 202 and 429 (none expected)."""
    webhook_agents: int
    webhook_clients: int


def _percentile(ordered: Sequence[float], fraction: float) -> float:
    if not ordered:
        return 0.0
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


async def _call(
    url: str, agents: Sequence[str], posts: int, clients: int, *, rate: float | None = None
) -> CallerReport:
    """Run the callers in a child process against ``url`` (``rate``: posts per second
    in all, each sent at its time; default: each caller as fast as it is answered)."""
    command = [sys.executable, __file__, "--callers-for", url, "--agent-names", ",".join(agents)]
    command += ["--posts", str(posts), "--clients", str(clients)]
    if rate is not None:
        command += ["--rate", str(rate)]
    done = await anyio.run_process(command, check=False)
    if done.returncode != 0:
        sys.exit(f"the callers failed:\n{done.stderr.decode()}")
    return msgspec.json.decode(done.stdout, type=CallerReport)


# --- the HTTP layer alone -----------------------------------------------------------------------


async def memory_webhooks(posts: int) -> ServerFigures:
    """The server over :class:`MemoryDeliverer`: 202 per second, answer latency."""
    deliverer = MemoryDeliverer({"bench"}, capacity=posts + 1)
    app = webhook_app(deliverer, deliverer, {"bench": WebhookAuth(secret=SECRET)})
    async with anyio.create_task_group() as tg:
        url = await tg.start(serve_webhooks, app, "127.0.0.1", 0)
        report = await _call(url, ["bench"], posts, CLIENTS)
        tg.cancel_scope.cancel()
    accepted = report.statuses.get(202, 0)
    if len(deliverer.accepted["bench"]) != accepted:
        sys.exit(f"{accepted} answered 202 but {len(deliverer.accepted['bench'])} delivered")
    latencies = sorted(report.latencies_ms)
    return ServerFigures(
        webhook_server_accepted_per_s=round(accepted / report.elapsed_s, 1),
        webhook_server_p50_ms=round(_percentile(latencies, 0.50), 3),
        webhook_server_p99_ms=round(_percentile(latencies, 0.99), 3),
        webhook_server_posts=posts,
    )


# --- the real stack -----------------------------------------------------------------------------


def _echo(name: str) -> Callable[[LLMRequest], LLMResponse]:
    context = PolicyContext(agent=name, params={}, peers=(), seed=0)
    return with_summaries(policy_named("echo")(context))


async def real_webhooks(posts: int, agents: int, workdir: Path) -> WebhookFigures:
    """``posts`` signed posts over ``agents`` scripted agents, each followed until the
    event is in its agent's log."""
    names = [f"bench-{i}" for i in range(agents)]
    logbook = Logbook()

    async with (
        open_sqlite_log(workdir / "events.sqlite3") as log,
        open_sqlite_log(workdir / "inbox.sqlite3") as inbox_log,
        open_runtime() as runtime,
    ):
        for name in names:
            await log.append([AgentCreated(agent=name, seq=1, at=T0, model="scripted")])
        outbox = LogOutbox(log, names)

        def observe(event: Event) -> None:
            outbox.said(event)
            logbook.saw(event)

        refs = {
            name: spawn_agent(
                runtime,
                name,
                log=log,
                llm=ScriptedLLM(_echo(name), record=False),
                observe=observe,
            )
            for name in names
        }
        inbox = await Inbox.open(inbox_log, names, now=runtime.clock.now)
        app = webhook_app(inbox, outbox, dict.fromkeys(names, WebhookAuth(secret=SECRET)))
        async with anyio.create_task_group() as tg:
            for name, ref in refs.items():
                await tg.start(inbox.pump, name, ref, log)
            url = await tg.start(serve_webhooks, app, "127.0.0.1", 0)
            await _call(url, names, agents, 1)  # warm-up: one post per agent
            flat_out = await _call(url, names, posts, CLIENTS)
            await logbook.wait_for(flat_out)
            rate = round(logbook.events_per_s(flat_out) / 2, 1)
            paced = await _call(url, names, max(posts // 4, 1), CLIENTS, rate=rate)
            await logbook.wait_for(paced)
            tg.cancel_scope.cancel()
    latencies = logbook.latencies(flat_out)
    paced_latencies = logbook.latencies(paced)
    return WebhookFigures(
        webhook_events_per_s=logbook.events_per_s(flat_out),
        webhook_p50_ms=round(_percentile(latencies, 0.50), 3),
        webhook_p99_ms=round(_percentile(latencies, 0.99), 3),
        webhook_accept_per_s=round(len(flat_out.accepted) / flat_out.elapsed_s, 1),
        webhook_paced_rate=rate,
        webhook_paced_p50_ms=round(_percentile(paced_latencies, 0.50), 3),
        webhook_paced_p99_ms=round(_percentile(paced_latencies, 0.99), 3),
        webhook_posts=posts,
        webhook_accepted=len(flat_out.accepted),
        webhook_busy=flat_out.statuses.get(429, 0),
        webhook_failed=sum(n for s, n in flat_out.statuses.items() if s not in (202, 429)),
        webhook_agents=agents,
        webhook_clients=CLIENTS,
    )


class Logbook:
    """When each accepted event reached its agent's log (told by the agents' observers)."""

    def __init__(self) -> None:
        self.logged: dict[tuple[str, int], float] = {}
        self._news = anyio.Event()

    def saw(self, event: Event) -> None:
        """Observe an agent's logged event."""
        if isinstance(event, ExternalEvent) and event.inbox is not None:
            self.logged[event.agent, event.inbox] = time.monotonic()
            self._news.set()
            self._news = anyio.Event()

    async def wait_for(self, report: CallerReport) -> None:
        """Until every event accepted in ``report`` is in its agent's log."""
        wanted = {(sent.agent, sent.id) for sent in report.accepted}
        with anyio.fail_after(SETTLE_TIMEOUT):
            while not wanted <= self.logged.keys():
                await self._news.wait()

    def latencies(self, report: CallerReport) -> list[float]:
        """Milliseconds from sending each accepted post to its event being logged, sorted."""
        return sorted((self.logged[s.agent, s.id] - s.sent) * 1000 for s in report.accepted)

    def events_per_s(self, report: CallerReport) -> float:
        """Accepted events per second, from the first post to the last event logged."""
        if not report.accepted:
            return 0.0
        last = max(self.logged[s.agent, s.id] for s in report.accepted)
        return round(len(report.accepted) / (last - report.started), 1)


# --- the callers (child process) ----------------------------------------------------------------


async def _callers(
    url: str, agents: Sequence[str], posts: int, clients: int, rate: float | None
) -> CallerReport:
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    statuses: Counter[int] = Counter()
    latencies: list[float] = []
    accepted: list[Sent] = []
    run = os.getpid()  # idempotency keys of their own, warm-up included

    def request(i: int) -> tuple[str, bytes]:
        agent = agents[i % len(agents)]
        body = b'{"text":"event %d","source":"bench"}' % i
        return agent, (
            b"POST /agents/%s/events HTTP/1.1\r\nhost: bench\r\n"
            b"content-type: application/json\r\ncontent-length: %d\r\n"
            b"idempotency-key: bench-%d-%d\r\nx-memvisor-signature: %s\r\n\r\n%s"
            % (agent.encode(), len(body), run, i, webhook_signature(SECRET, body).encode(), body)
        )

    started = time.monotonic()

    async def caller(first: int) -> None:
        reader, writer = await asyncio.open_connection(host, port)
        for i in range(first, posts, clients):
            agent, data = request(i)
            if rate is not None:  # post i is due i / rate seconds after the start
                await asyncio.sleep(max(0.0, started + i / rate - time.monotonic()))
            while True:
                sent = time.monotonic()
                writer.write(data)
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.lower().split(b"\r\n")
                length = next(int(h[15:]) for h in lines if h.startswith(b"content-length:"))
                body = await reader.readexactly(length)
                latencies.append((time.monotonic() - sent) * 1000)
                status = int(lines[0].split()[1])
                statuses[status] += 1
                if b"connection: close" in lines:  # the server's keep-alive limit
                    writer.close()
                    reader, writer = await asyncio.open_connection(host, port)
                if status != 429:
                    break
                retry = next((h[12:] for h in lines if h.startswith(b"retry-after:")), b"1")
                await asyncio.sleep(float(retry))
            if status == 202:
                accepted.append(Sent(agent, json.loads(body)["id"], sent))
        writer.close()
        await writer.wait_closed()

    await asyncio.gather(*(caller(c) for c in range(clients)))
    elapsed = time.monotonic() - started
    return CallerReport(
        statuses=dict(statuses),
        started=started,
        elapsed_s=elapsed,
        latencies_ms=latencies,
        accepted=accepted,
    )


# --- simulations (one child process per size) ---------------------------------------------------


class SimFigures(msgspec.Struct, frozen=True, kw_only=True):
    """One size, as its child process measured it."""

    agents: int
    llm_calls: int
    events: int
    wall_seconds: float
    steps_per_s: float
    peak_rss_mb: float


def scenario_of(agents: int, duration: str) -> Scenario:
    """``agents`` echo agents; each is told something every virtual hour (their first
    times spread evenly over the first hour, so the clock never jumps to a crowd)."""
    inputs = tuple(
        Input(agent=f"agent-{i}", at=f"{i * 3600 / agents:.3f}s", every="1h", message=f"ping {i}")
        for i in range(agents)
    )
    return Scenario(
        name=f"bench-{agents}",
        duration=duration,
        seed=1,
        agents=(AgentGroup(name="agent", count=agents, policy="echo"),),
        inputs=inputs,
    )


def peak_rss_mb() -> float:
    """This process's peak resident memory so far, in MB."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KB on Linux, bytes on macOS
    return round(peak / (2**20 if sys.platform == "darwin" else 1024), 1)


def simulate(agents: int, duration: str, out: Path) -> SimFigures:
    """Run one size here (in the child)."""
    summary = run_scenario(scenario_of(agents, duration), out)
    return SimFigures(
        agents=agents,
        llm_calls=summary.llm_calls,
        events=summary.events,
        wall_seconds=summary.wall_seconds,
        steps_per_s=summary.steps_per_s,
        peak_rss_mb=peak_rss_mb(),
    )


def simulate_in_child(agents: int, duration: str, timeout: float) -> SimFigures | None:
    """Run one size in a child process of its own (None: it took longer than ``timeout``)."""
    with tempfile.TemporaryDirectory(prefix="bench-sim-") as tmp:
        command = [sys.executable, __file__, "--sim-child", str(agents), "--sim-duration"]
        command += [duration, "--sim-out", tmp]
        try:
            done = subprocess.run(command, capture_output=True, timeout=timeout, check=False)
        except subprocess.TimeoutExpired:
            return None
    if done.returncode != 0:
        sys.exit(f"the simulation of {agents} agents failed:\n{done.stderr.decode()}")
    return msgspec.json.decode(done.stdout, type=SimFigures)


# --- main ---------------------------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n", 1)[0])
    parser.add_argument("--backend", choices=["trio", "asyncio"], default="trio")
    parser.add_argument("--quick", action="store_true", help="small sizes (a smoke run)")
    parser.add_argument("--posts", type=int, help="posts to send (default 20000; quick: 1000)")
    parser.add_argument("--agents", type=int, default=AGENTS, help="agents taking the posts")
    parser.add_argument("--sim-sizes", help="agents per simulation (default 1000,10000)")
    parser.add_argument("--sim-duration", help="virtual time simulated (default 1d; quick: 6h)")
    parser.add_argument("--sim-timeout", type=float, default=1800.0, help="seconds per size")
    parser.add_argument("--callers-for", metavar="URL", help=argparse.SUPPRESS)
    parser.add_argument("--agent-names", help=argparse.SUPPRESS)
    parser.add_argument("--clients", type=int, default=CLIENTS, help=argparse.SUPPRESS)
    parser.add_argument("--rate", type=float, help=argparse.SUPPRESS)
    parser.add_argument("--sim-child", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--sim-out", help=argparse.SUPPRESS)
    return parser


def say(line: str) -> None:
    print(line, file=sys.stderr)


def main() -> None:
    args = _parser().parse_args()
    posts: int = args.posts or (1000 if args.quick else 20_000)
    duration: str = args.sim_duration or ("6h" if args.quick else "1d")
    if args.callers_for:  # a child: the callers
        callers = asyncio.run(
            _callers(args.callers_for, args.agent_names.split(","), posts, args.clients, args.rate)
        )
        sys.stdout.buffer.write(msgspec.json.encode(callers))
        return
    if args.sim_child:  # a child: one simulation
        figures = simulate(args.sim_child, duration, Path(args.sim_out))
        sys.stdout.buffer.write(msgspec.json.encode(figures))
        return
    backend: Backend = args.backend
    say(f"webhooks, HTTP layer alone: {posts} signed posts, {CLIENTS} callers, {backend}")
    server = anyio.run(memory_webhooks, posts, backend=backend)
    say(f"webhooks, real stack: {posts} posts to {args.agents} scripted agents")
    with tempfile.TemporaryDirectory(prefix="bench-webhooks-") as tmp:
        real = anyio.run(real_webhooks, posts, args.agents, Path(tmp), backend=backend)
    sizes = [int(n) for n in (args.sim_sizes or _SIM_SIZES[args.quick]).split(",")]
    steps: dict[str, float | None] = {}
    rss: dict[str, float | None] = {}
    for size in sizes:
        say(f"simulation: {size} agents, {duration} of virtual time")
        sim = simulate_in_child(size, duration, args.sim_timeout)
        steps[str(size)] = None if sim is None else sim.steps_per_s
        rss[str(size)] = None if sim is None else sim.peak_rss_mb
        say(f"  {sim}")
    report = {
        **msgspec.structs.asdict(real),
        **msgspec.structs.asdict(server),
        "sim_steps_per_s": steps,
        "sim_peak_rss_mb": rss,
        "sim_duration": duration,
        "backend": backend,
        "quick": args.quick,
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
    }
    print(json.dumps(report))


if __name__ == "__main__":
    main()
