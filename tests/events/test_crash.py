"""A real crash: SIGKILL a process mid-append, many times, and check the log.

Write ahead (DESIGN.md §3.2) promises that a crash at any point loses nothing
that was acknowledged. ``crash_child.py`` appends to one SQLite file from several
concurrent agent tasks and prints an acknowledgement after every append returns.
This test kills it at random moments (before it opened the log, mid-stream,
after hundreds of appends), round after round on the same file, alternating
durability, then reopens the log and checks, for every agent:

* its seqs are exactly 1..last, no gaps;
* ``last`` is at least the highest seq ever acknowledged;
* ``last`` ends one of the child's appends (no append was half-written);
* every event is byte for byte the one the child wrote.
"""

from __future__ import annotations

import os
import random
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import anyio

from memvisor.events import Durability, Event, encode_event, open_sqlite_log

from .crash_child import agent_names, batch_size, expected_event

CHILD = Path(__file__).with_name("crash_child.py")
ROOT = Path(__file__).resolve().parents[2]
AGENTS = 8
ROUNDS = 24
ACK_TIMEOUT = 20.0  # seconds a child may take to acknowledge what a round waits for


class Child:
    """One run of ``crash_child.py``, its acknowledgements read as they come."""

    def __init__(self, path: Path, durability: Durability, backend: str, stderr: Path) -> None:
        pythonpath = [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(pythonpath))
        self._stderr_path = stderr
        with stderr.open("wb") as err:
            self.proc = subprocess.Popen(
                [sys.executable, str(CHILD), str(path), durability, backend, str(AGENTS)],
                stdout=subprocess.PIPE,
                stderr=err,
                env=env,
            )
        assert self.proc.stdout is not None
        self._out = self.proc.stdout.fileno()
        self._buffer = b""
        self.acked: dict[str, int] = {}
        self.acks = 0

    def read_until(self, deadline: float, *, acks: int | None = None) -> None:
        """Read acknowledgements until ``deadline`` (or until ``acks`` have come)."""
        while acks is None or self.acks < acks:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            ready, _, _ = select.select([self._out], [], [], left)
            if ready and not self._take(os.read(self._out, 65536)):
                break  # EOF: the child is gone

    def kill(self) -> None:
        """SIGKILL it, then take every acknowledgement that reached the pipe."""
        self.proc.send_signal(signal.SIGKILL)  # no-op if it already ended
        while self._take(os.read(self._out, 65536)):
            pass
        self.proc.wait()
        assert self.proc.stdout is not None
        self.proc.stdout.close()

    def stderr(self) -> str:
        return self._stderr_path.read_text(errors="replace")

    def _take(self, data: bytes) -> bool:
        self._buffer += data
        *lines, self._buffer = self._buffer.split(b"\n")  # a cut-off line is no ack
        for line in lines:
            agent, seq = line.decode().split()
            assert int(seq) > self.acked.get(agent, 0), f"acks out of order: {line!r}"
            self.acked[agent] = int(seq)
            self.acks += 1
        return bool(data)


def _batch_ends(up_to: int) -> set[int]:
    """Every seq at which one of the child's appends ends, up to ``up_to``."""
    ends, seq = {0}, 1
    while seq <= up_to:
        seq += batch_size(seq)
        ends.add(seq - 1)
    return ends


async def _read_all(path: Path, durability: Durability) -> dict[str, list[Event]]:
    async with open_sqlite_log(path, durability=durability) as log:
        agents = await log.agents()
        assert set(agents) <= set(agent_names(AGENTS))
        logs = {agent: await log.read(agent) for agent in agent_names(AGENTS)}
        for agent, events in logs.items():
            assert await log.last_seq(agent) == len(events)
        return logs


def _check(logs: dict[str, list[Event]], acked: dict[str, int]) -> dict[str, int]:
    """Check every agent's log against the acknowledgements; return where each ends."""
    last: dict[str, int] = {}
    for agent, events in logs.items():
        n = len(events)
        assert [e.seq for e in events] == list(range(1, n + 1)), f"{agent}: gap"
        assert n >= acked.get(agent, 0), f"{agent}: acked {acked[agent]}, log ends at {n}"
        assert n in _batch_ends(n), f"{agent}: log ends at {n}, inside an append"
        for event in events:
            want = expected_event(agent, event.seq)
            assert encode_event(event) == encode_event(want), f"{agent}#{event.seq}"
            assert event == want
        last[agent] = n
    return last


def test_sigkill_at_random_moments_never_loses_an_acknowledged_event(
    tmp_path: Path, rng: random.Random
) -> None:
    path = tmp_path / "events.sqlite3"
    acked: dict[str, int] = {}  # highest seq ever acknowledged, over all rounds
    last: dict[str, int] = {}
    kills = {"early": 0, "after-acks": 0, "after-time": 0}
    for round_no in range(ROUNDS):
        durability: Durability = "full" if round_no % 2 == 0 else "normal"
        backend = rng.choice(["trio", "asyncio"])
        child = Child(path, durability, backend, tmp_path / f"child-{round_no}.stderr")
        how = rng.choice(list(kills))
        wanted = rng.choice([1, rng.randint(2, 50), rng.randint(50, 2000)])
        start = time.monotonic()
        try:
            if how == "early":  # starting up, opening the log, or in the first appends
                child.read_until(start + rng.uniform(0.0, 0.4))
            elif how == "after-acks":
                child.read_until(start + ACK_TIMEOUT, acks=wanted)
            else:
                child.read_until(start + 0.5, acks=1)
                child.read_until(time.monotonic() + rng.uniform(0.0, 0.3))
        finally:
            child.kill()
        kills[how] += 1
        assert child.proc.returncode == -signal.SIGKILL, f"child died:\n{child.stderr()}"
        if how == "after-acks":
            assert child.acks >= wanted, f"child stalled:\n{child.stderr()}"

        for agent, seq in child.acked.items():
            acked[agent] = max(acked.get(agent, 0), seq)
        previous = last
        last = _check(anyio.run(_read_all, path, durability, backend=backend), acked)
        for agent, n in previous.items():
            assert last[agent] >= n, f"{agent}: shrank from {n} to {last[agent]}"
        print(f"round {round_no}: {durability}/{backend} killed {how} after {child.acks} acks")

    print(f"kills: {kills}; events per agent: {last}")
    assert sum(last.values()) > 0
