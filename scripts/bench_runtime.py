"""Benchmark the actor runtime and the SQLite event log against their raw floors.

Prints ONE JSON object on stdout (progress goes to stderr), every figure from
this same process, so the ratios compare like with like:

* ``tell_per_s`` / ``raw_stream_per_s``: one producer task, one consumer, through
  ``ActorRef.tell`` and through a bare anyio memory stream of the same buffer
  size (``tell_vs_raw`` is their ratio).
* ``ask_roundtrips_per_s``: sequential ``ask`` to an actor that replies at once.
* ``append_per_s_full`` / ``append_per_s_normal``: many concurrent agents, each
  appending one small event per call, as fast as they can (group commit at work).
* ``raw_sqlite_per_s``: the same rows, same bytes, same schema, in ONE
  ``executemany`` in one transaction: the floor the log cannot beat.
* ``replay_events_per_s``: reading back and decoding a large log, agent by agent.

Usage::

    .venv/bin/python scripts/bench_runtime.py [--backend trio|asyncio] [--quick]
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import json
import os
import platform
import pstats
import sqlite3
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import anyio
import msgspec

from memvisor.actors import Actor, open_runtime
from memvisor.events import (
    AssistantMessage,
    Durability,
    Event,
    UserMessage,
    encode_event,
    event_type,
    open_sqlite_log,
)
from memvisor.events._sqlite import _SCHEMA  # the raw baseline uses the log's own tables

Backend = Literal["trio", "asyncio"]

_EPOCH = 1_700_000_000.0  # a fixed clock start: the events are the same every run
_TEXT_LEN = 60


class Config(msgspec.Struct, frozen=True, kw_only=True):
    """Sizes of one run."""

    backend: Backend
    quick: bool
    messages: int
    """Hops for the tell and raw-stream benchmarks."""
    mailbox_size: int
    """Mailbox size of the actor, and buffer size of the raw stream."""
    asks: int
    repeat: int
    """Tell, raw stream, ask and raw SQLite run this many times; the best run is reported."""
    append_agents: int
    appends_per_agent: int
    """Single-event appends each agent makes with durability "normal"."""
    appends_per_agent_full: int
    """The same with durability "full" (every commit is fsynced)."""
    replay_agents: int
    replay_events: int
    """Events in the replay log, spread evenly over ``replay_agents``."""
    build_chunk: int
    """Events per append while building the replay log."""
    tmpdir: Path | None
    profile: str | None
    """Run this benchmark under cProfile and print the top entries to stderr."""


def note(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def per_s(count: int, seconds: float) -> int:
    """A rate, rounded to 3 significant figures (finer digits are noise)."""
    rate = count / max(seconds, 1e-9)
    if rate >= 1000:
        digits = len(str(int(rate))) - 3
        return int(round(rate, -digits))
    return round(rate)


class Profiler:
    """cProfile around one named benchmark (``--profile NAME``); a no-op otherwise.

    cProfile sees only the thread it runs in: the event loop's. Work the log does
    in its worker threads shows up as time waiting for them.
    """

    def __init__(self, wanted: str | None) -> None:
        self.wanted = wanted
        self.profile: cProfile.Profile | None = None

    def start(self, name: str) -> None:
        if name == self.wanted:
            self.profile = cProfile.Profile()
            self.profile.enable()

    def stop(self) -> None:
        if self.profile is None:
            return
        self.profile.disable()
        stats = pstats.Stats(self.profile, stream=sys.stderr)
        stats.sort_stats("tottime").print_stats(30)
        stats.sort_stats("cumulative").print_stats(30)
        self.profile = None


# --- actors ------------------------------------------------------------------------


class Counter(Actor[int | None, None]):
    """Counts messages; sets ``done`` when it has seen ``target`` of them. None is a ping."""

    def __init__(self, target: int, done: anyio.Event) -> None:
        self.count = 0
        self.target = target
        self.done = done

    async def receive(self, message: int | None) -> None:
        if message is None:
            return
        self.count += 1
        if self.count == self.target:
            self.done.set()


class Echo(Actor[int, int]):
    """Replies with the message itself, at once."""

    async def receive(self, message: int) -> int:
        return message


async def bench_tell(n: int, mailbox_size: int) -> float:
    """Seconds for ``n`` tells from one producer to be processed by one actor."""
    done = anyio.Event()
    async with open_runtime(mailbox_size=mailbox_size) as runtime:
        ref = runtime.spawn("counter", lambda: Counter(n, done))
        await ref.ask(None)  # the actor is running before the clock starts

        async def produce() -> None:
            tell = ref.tell
            for i in range(n):
                await tell(i)

        async with anyio.create_task_group() as tg:
            start = time.perf_counter()
            tg.start_soon(produce)
            await done.wait()
            elapsed = time.perf_counter() - start
    return elapsed


async def bench_raw_stream(n: int, buffer_size: int) -> float:
    """Seconds for ``n`` items through a bare memory stream, one producer, one consumer."""
    done = anyio.Event()
    send, recv = anyio.create_memory_object_stream[int](buffer_size)

    async def produce() -> None:
        async with send:
            for i in range(n):
                await send.send(i)

    async def consume() -> None:
        count = 0
        async with recv:
            async for _ in recv:
                count += 1
                if count == n:
                    done.set()

    async with anyio.create_task_group() as tg:
        tg.start_soon(consume)
        await anyio.lowlevel.checkpoint()  # the consumer is waiting before the clock starts
        start = time.perf_counter()
        tg.start_soon(produce)
        await done.wait()
        elapsed = time.perf_counter() - start
    return elapsed


async def bench_ask(n: int, mailbox_size: int) -> float:
    """Seconds for ``n`` sequential ask round trips."""
    async with open_runtime(mailbox_size=mailbox_size) as runtime:
        ref = runtime.spawn("echo", Echo)
        await ref.ask(0)
        start = time.perf_counter()
        for i in range(n):
            await ref.ask(i)
        elapsed = time.perf_counter() - start
    return elapsed


# --- the log -----------------------------------------------------------------------


def message_text(agent: int, i: int) -> str:
    return f"agent {agent} says message number {i}: ".ljust(_TEXT_LEN, "x")


def make_events(agents: int, per_agent: int, prefix: str) -> list[list[Event]]:
    """Per agent, its events seq 1..per_agent, alternating user and assistant messages."""
    logs: list[list[Event]] = []
    for a in range(agents):
        name = f"{prefix}-{a:04d}"
        log: list[Event] = []
        for seq in range(1, per_agent + 1):
            at = _EPOCH + seq * 0.001
            text = message_text(a, seq)
            if seq % 2:
                log.append(UserMessage(agent=name, seq=seq, at=at, text=text))
            else:
                log.append(AssistantMessage(agent=name, seq=seq, at=at, text=text, cause=seq - 1))
        logs.append(log)
    return logs


def make_single_messages(agents: int, per_agent: int, prefix: str) -> list[list[Event]]:
    """Per agent, ``per_agent`` UserMessages of ~60 characters, seq 1..per_agent."""
    return [
        [
            UserMessage(
                agent=f"{prefix}-{a:04d}",
                seq=seq,
                at=_EPOCH + seq * 0.001,
                text=message_text(a, seq),
            )
            for seq in range(1, per_agent + 1)
        ]
        for a in range(agents)
    ]


@dataclass(frozen=True, slots=True)
class AppendResult:
    events: int
    seconds: float
    cpu_seconds: float
    """Process CPU time (event loop and worker threads) over the same span."""
    appends: int
    commits: int


async def bench_append(
    path: Path, durability: Durability, logs: list[list[Event]]
) -> AppendResult:
    """Every agent appends its events one per call, concurrently, as fast as it can."""
    async with open_sqlite_log(path, durability=durability) as log:

        async def agent_task(events: list[Event]) -> None:
            append = log.append
            for event in events:
                await append((event,))

        start = time.perf_counter()
        cpu_start = time.process_time()
        async with anyio.create_task_group() as tg:
            for events in logs:
                tg.start_soon(agent_task, events)
        elapsed = time.perf_counter() - start
        cpu = time.process_time() - cpu_start
        stats = log.statistics()
    total = sum(len(events) for events in logs)
    if stats.events != total:
        raise RuntimeError(f"the log counted {stats.events} events, {total} were appended")
    return AppendResult(
        events=total,
        seconds=elapsed,
        cpu_seconds=cpu,
        appends=stats.appends,
        commits=stats.commits,
    )


def bench_raw_sqlite(path: Path, logs: list[list[Event]]) -> float:
    """Seconds to insert the same rows with one ``executemany`` in one transaction."""
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.executescript(f"BEGIN; {_SCHEMA} COMMIT;")
        names = [events[0].agent for events in logs if events]
        conn.executemany("INSERT INTO streams(name) VALUES (?)", [(n,) for n in names])
        ids = dict(conn.execute("SELECT name, id FROM streams").fetchall())
        rows = [
            (ids[e.agent], e.seq, event_type(e), e.at, encode_event(e))
            for events in logs
            for e in events
        ]
        gc.collect()
        start = time.perf_counter()
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany(
            "INSERT INTO events(stream, seq, type, at, body) VALUES (?,?,?,?,?)", rows
        )
        conn.execute("COMMIT")
        return time.perf_counter() - start
    finally:
        conn.close()


async def build_log(path: Path, logs: list[list[Event]], chunk: int) -> None:
    """Write ``logs`` fast: one task per agent, ``chunk`` events per append."""
    async with open_sqlite_log(path, durability="normal") as log:

        async def agent_task(events: list[Event]) -> None:
            for i in range(0, len(events), chunk):
                await log.append(events[i : i + chunk])

        async with anyio.create_task_group() as tg:
            for events in logs:
                tg.start_soon(agent_task, events)


async def bench_replay(path: Path, logs: list[list[Event]]) -> float:
    """Seconds to read back and decode every event, agent by agent."""
    async with open_sqlite_log(path, durability="normal") as log:
        agents = await log.agents()
        expected = {events[0].agent: len(events) for events in logs if events}
        if sorted(expected) != agents:
            raise RuntimeError("the replay log does not hold the agents that were written")
        read = 0
        start = time.perf_counter()
        for agent in agents:
            events = await log.read(agent)
            if len(events) != expected[agent] or events[-1].seq != expected[agent]:
                raise RuntimeError(f"read back {len(events)} events of {agent!r}")
            read += len(events)
        elapsed = time.perf_counter() - start
    if read != sum(expected.values()):
        raise RuntimeError(f"read back {read} events in all")
    return elapsed


# --- the run -----------------------------------------------------------------------

PROFILE_TARGETS = ("tell", "raw_stream", "ask", "append", "raw_sqlite", "replay")


async def run_actor_benches(cfg: Config, results: dict[str, object]) -> None:
    backend = cfg.backend
    prof = Profiler(cfg.profile)

    # Warm-up: first-call costs (imports, caches) stay out of the figures.
    await bench_tell(min(cfg.messages, 2000), cfg.mailbox_size)
    await bench_raw_stream(min(cfg.messages, 2000), cfg.mailbox_size)
    await bench_ask(min(cfg.asks, 200), cfg.mailbox_size)

    tell_times: list[float] = []
    raw_times: list[float] = []
    for r in range(cfg.repeat):  # interleaved, so drift hits both alike
        note(f"[{backend}] tell and raw stream: {cfg.messages} messages (run {r + 1})")
        prof.start("tell")
        tell_times.append(await bench_tell(cfg.messages, cfg.mailbox_size))
        prof.stop()
        prof.start("raw_stream")
        raw_times.append(await bench_raw_stream(cfg.messages, cfg.mailbox_size))
        prof.stop()
    results["tell_per_s"] = per_s(cfg.messages, min(tell_times))
    results["raw_stream_per_s"] = per_s(cfg.messages, min(raw_times))
    results["tell_vs_raw"] = round(min(raw_times) / min(tell_times), 3)

    ask_times: list[float] = []
    for r in range(cfg.repeat):
        note(f"[{backend}] ask: {cfg.asks} round trips (run {r + 1})")
        prof.start("ask")
        ask_times.append(await bench_ask(cfg.asks, cfg.mailbox_size))
        prof.stop()
    results["ask_roundtrips_per_s"] = per_s(cfg.asks, min(ask_times))


async def run_log_benches(cfg: Config, workdir: Path, results: dict[str, object]) -> None:
    backend = cfg.backend
    prof = Profiler(cfg.profile)

    # Appends. The "normal" run's events are also the raw baseline's rows.
    full_logs = make_single_messages(cfg.append_agents, cfg.appends_per_agent_full, "full")
    normal_logs = make_single_messages(cfg.append_agents, cfg.appends_per_agent, "normal")

    note(
        f"[{backend}] append, durability=full: {cfg.append_agents} agents"
        f" x {cfg.appends_per_agent_full} single-event appends"
    )
    full = await bench_append(workdir / "full.db", "full", full_logs)
    note(
        f"[{backend}] append, durability=normal: {cfg.append_agents} agents"
        f" x {cfg.appends_per_agent} single-event appends"
    )
    prof.start("append")
    normal = await bench_append(workdir / "normal.db", "normal", normal_logs)
    prof.stop()
    for label, res in (("full", full), ("normal", normal)):
        results[f"append_per_s_{label}"] = per_s(res.events, res.seconds)
        results[f"append_events_{label}"] = res.events
        results[f"append_commits_{label}"] = res.commits
        results[f"append_mean_batch_{label}"] = round(res.events / max(res.commits, 1), 1)
        # CPU per event is steadier than events/s on a shared machine.
        results[f"append_cpu_us_per_event_{label}"] = round(res.cpu_seconds / res.events * 1e6, 1)

    raw_times: list[float] = []
    for r in range(cfg.repeat):  # a fresh file each time; the best run is kept
        note(f"[{backend}] raw sqlite: {normal.events} rows in one executemany (run {r + 1})")
        prof.start("raw_sqlite")
        raw_times.append(
            await anyio.to_thread.run_sync(bench_raw_sqlite, workdir / f"raw{r}.db", normal_logs)
        )
        prof.stop()
    raw_seconds = min(raw_times)
    results["raw_sqlite_per_s"] = per_s(normal.events, raw_seconds)
    results["append_normal_vs_raw"] = round(raw_seconds / normal.seconds, 3)
    del full_logs, normal_logs

    per_agent = -(-cfg.replay_events // cfg.replay_agents)  # at least replay_events in all
    replay_logs = make_events(cfg.replay_agents, per_agent, "replay")
    total = per_agent * cfg.replay_agents
    note(f"[{backend}] replay: building {total} events over {cfg.replay_agents} agents")
    start = time.perf_counter()
    await build_log(workdir / "replay.db", replay_logs, cfg.build_chunk)
    results["replay_build_per_s"] = per_s(total, time.perf_counter() - start)
    note(f"[{backend}] replay: reading back and decoding {total} events")
    prof.start("replay")
    replay_seconds = await bench_replay(workdir / "replay.db", replay_logs)
    prof.stop()
    results["replay_events"] = total
    results["replay_agents"] = cfg.replay_agents
    results["replay_events_per_s"] = per_s(total, replay_seconds)


def parse_args(argv: Sequence[str] | None) -> Config:
    parser = argparse.ArgumentParser(
        description="Benchmark the actor runtime and the SQLite event log; prints one JSON"
        " object on stdout.",
    )
    parser.add_argument("--backend", choices=("trio", "asyncio"), default="trio")
    parser.add_argument(
        "--quick", action="store_true", help="small sizes, a few seconds (smoke test)"
    )
    parser.add_argument("--messages", type=int, help="tell / raw stream hops (200000)")
    parser.add_argument(
        "--mailbox-size", type=int, default=64, help="actor mailbox = raw stream buffer (64)"
    )
    parser.add_argument("--asks", type=int, help="sequential ask round trips (50000)")
    parser.add_argument(
        "--repeat", type=int, help="runs of tell/raw/ask/raw-sqlite, best kept (3)"
    )
    parser.add_argument("--append-agents", type=int, help="concurrent appending agents (200)")
    parser.add_argument(
        "--appends-per-agent", type=int, help="single-event appends per agent, normal (500)"
    )
    parser.add_argument(
        "--appends-per-agent-full", type=int, help="the same for durability=full (500)"
    )
    parser.add_argument("--replay-agents", type=int, help="agents in the replay log (100)")
    parser.add_argument("--replay-events", type=int, help="events in the replay log (200000)")
    parser.add_argument("--build-chunk", type=int, default=2000, help="events per build append")
    parser.add_argument("--tmpdir", type=Path, help="where the databases go (a fresh temp dir)")
    parser.add_argument(
        "--profile",
        choices=PROFILE_TARGETS,
        help="cProfile one benchmark (event-loop thread only); stats go to stderr",
    )
    ns = parser.parse_args(argv)

    quick: bool = ns.quick
    defaults = {
        "messages": 5_000 if quick else 200_000,
        "asks": 1_000 if quick else 50_000,
        "repeat": 1 if quick else 3,
        "append_agents": 20 if quick else 200,
        "appends_per_agent": 50 if quick else 500,
        "appends_per_agent_full": 20 if quick else 500,
        "replay_agents": 10 if quick else 100,
        "replay_events": 5_000 if quick else 200_000,
    }

    def size(name: str) -> int:
        given: int | None = getattr(ns, name)
        value = defaults[name] if given is None else given
        if value < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
        return value

    backend: Backend = "asyncio" if ns.backend == "asyncio" else "trio"
    mailbox_size: int = ns.mailbox_size
    build_chunk: int = ns.build_chunk
    if mailbox_size < 1 or build_chunk < 1:
        parser.error("--mailbox-size and --build-chunk must be at least 1")
    tmpdir: Path | None = ns.tmpdir
    profile: str | None = ns.profile
    return Config(
        backend=backend,
        quick=quick,
        messages=size("messages"),
        mailbox_size=mailbox_size,
        asks=size("asks"),
        repeat=size("repeat"),
        append_agents=size("append_agents"),
        appends_per_agent=size("appends_per_agent"),
        appends_per_agent_full=size("appends_per_agent_full"),
        replay_agents=size("replay_agents"),
        replay_events=size("replay_events"),
        build_chunk=build_chunk,
        tmpdir=tmpdir,
        profile=profile,
    )


def main(argv: Sequence[str] | None = None) -> int:
    cfg = parse_args(argv)
    results: dict[str, object] = {
        "backend": cfg.backend,
        "quick": cfg.quick,
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "sqlite": sqlite3.sqlite_version,
        "messages": cfg.messages,
        "mailbox_size": cfg.mailbox_size,
        "asks": cfg.asks,
        "repeat": cfg.repeat,
        "append_agents": cfg.append_agents,
    }
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="memvisor-bench-", dir=cfg.tmpdir) as tmp:
        note(f"databases in {tmp}")

        async def run() -> None:
            await run_actor_benches(cfg, results)
            await run_log_benches(cfg, Path(tmp), results)

        anyio.run(run, backend=cfg.backend)
    results["wall_s"] = round(time.perf_counter() - started, 1)
    print(json.dumps(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
