"""Benchmark the replay tools on a long recorded run: fold, ``--check``, the HTML report.

Prints ONE JSON object on stdout (progress goes to stderr):

* ``turns``, ``events``, ``steps``: the size of the recorded log.
* ``fold_events_per_s``: events folded per second (``fold_all`` over the whole log).
* ``check_steps_per_s`` and ``check_seconds``: :func:`memvisor.replay.check_replay`
  over the whole log, in-process (LLM steps checked per second, and the total).
* ``cli_check_seconds``: ``memvisor replay NAME --check`` as a process: reading
  the log from SQLite, the prompt store, the check, and the report printed.
* ``report_seconds``: :func:`memvisor.replay.render_report` over the whole log;
  ``report_bytes`` its size.
* ``prompt_store_bytes_per_step``: the prompt store's file size per LLM step (every
  prompt the run sent is kept, for the diffs of ``--check``).
* ``record_steps_per_s``: the recording run itself (the agent with a scripted
  model, SQLite log and prompt store), for scale.

The log is recorded by the real agent (:func:`memvisor.agent.spawn_agent`) with a
scripted model that answers at once and reports the prompt's tokens (bytes / 4)
as servers do, in an 8,192-token window: every turn a user message of about 200
characters and a reply; every fifth turn a core-memory edit (the latest liking) with a
heartbeat first; every 50th a recall search first. The window fills, so the run has
memory-pressure alerts and compactions (each with a summary call), like a long
real conversation. The check must find no divergence (the script fails if it does).

Target (the replay issue): ``--check`` of 10,000 turns under 10 s on 2 cores.

Usage::

    .venv/bin/python scripts/bench_replay.py [--turns N] [--quick] [--tmpdir DIR]
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import trio

from memvisor.actors import open_runtime
from memvisor.agent import AgentConfig, Deliver, new_agent, spawn_agent
from memvisor.events import (
    Event,
    LLMResponded,
    TokenUsage,
    UserMessage,
    open_prompt_store,
    open_sqlite_log,
)
from memvisor.llm import LLMRequest, LLMResponse, ScriptedLLM, reply_with_call, reply_with_text
from memvisor.memory import fold_all
from memvisor.replay import check_replay, render_report

NAME = "bench"
WINDOW = 8192
_TOPICS = ("trains", "tea", "Lisbon", "the garden", "a new job", "chess", "the weather")


def _said(request: LLMRequest) -> str:
    last = request.messages[-1]
    return last.content or ""


def _policy(request: LLMRequest) -> LLMResponse:
    usage = TokenUsage(prompt_tokens=sum(len(m.content or "") for m in request.messages) // 4)
    if not request.tools:
        return reply_with_text("Earlier: talk of trains, tea and Lisbon.", usage=usage)
    said = _said(request)
    if '"type":"user_message"' in said or '"type": "user_message"' in said:
        turn = int(said.split("turn ")[1].split(":")[0])
        if turn % 50 == 0:
            arguments = {"query": "Lisbon", "request_heartbeat": True}
            return reply_with_call("conversation_search", json.dumps(arguments), usage=usage)
        if turn % 5 == 0:  # core memory keeps the latest liking: append once, then replace
            liking = f"Likes {_TOPICS[turn % len(_TOPICS)]}."
            if turn == 5:
                arguments = {"name": "human", "content": liking, "request_heartbeat": True}
                return reply_with_call("core_memory_append", json.dumps(arguments), usage=usage)
            arguments = {
                "name": "human",
                "old_content": f"Likes {_TOPICS[(turn - 5) % len(_TOPICS)]}.",
                "new_content": liking,
                "request_heartbeat": True,
            }
            return reply_with_call("core_memory_replace", json.dumps(arguments), usage=usage)
    reply = {"message": "Noted, and thank you for telling me about it in such detail."}
    return reply_with_call("send_message", json.dumps(reply), usage=usage)


async def record(home: Path, turns: int) -> float:
    """Run the agent for ``turns`` turns; return the seconds it took."""
    async with (
        open_sqlite_log(home / "events.sqlite3", durability="normal") as log,
        open_prompt_store(home / "prompts.sqlite3") as prompts,
    ):
        await log.append([new_agent(NAME, at=time.time(), context_window=WINDOW)])
        started = time.perf_counter()
        async with open_runtime() as runtime:
            agent = spawn_agent(
                runtime,
                NAME,
                log=log,
                llm=ScriptedLLM(_policy),
                config=AgentConfig(model="scripted"),
                prompts=prompts,
            )
            for turn in range(1, turns + 1):
                topic = _TOPICS[turn % len(_TOPICS)]
                text = f"turn {turn}: " + f"Let me tell you more about {topic}. " * 5
                await agent.ask(
                    Deliver(event=UserMessage(agent=NAME, seq=0, at=0.0, text=text)), timeout=None
                )
                if turn % 1000 == 0:
                    print(f"recorded {turn:,} turns", file=sys.stderr)
        return time.perf_counter() - started


async def read(home: Path) -> list[Event]:
    async with open_sqlite_log(home / "events.sqlite3") as log:
        return await log.read(NAME)


def timed_cli_check(home: Path) -> float:
    command = [str(Path(sys.executable).parent / "memvisor"), "replay", NAME, "--check"]
    env = {**os.environ, "MEMVISOR_HOME": str(home)}
    started = time.perf_counter()
    result = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(f"memvisor replay --check failed:\n{result.stdout}{result.stderr}")
    return seconds


def run(turns: int, tmpdir: Path) -> dict[str, object]:
    home = tmpdir / "home"
    home.mkdir(parents=True, exist_ok=True)
    record_seconds = trio.run(record, home, turns)
    events = trio.run(read, home)
    steps = sum(isinstance(e, LLMResponded) for e in events)
    print(f"recorded {len(events):,} events, {steps:,} steps", file=sys.stderr)

    started = time.perf_counter()
    fold_all(events)
    fold_seconds = time.perf_counter() - started

    started = time.perf_counter()
    report = trio.run(functools.partial(check_replay, events))
    check_seconds = time.perf_counter() - started
    if report.divergence is not None:
        raise SystemExit(f"the recorded run does not replay the same: {report.divergence}")
    print(f"checked in {check_seconds:.2f} s", file=sys.stderr)

    cli_seconds = timed_cli_check(home)

    started = time.perf_counter()
    html = render_report(NAME, events)
    report_seconds = time.perf_counter() - started

    return {
        "turns": turns,
        "events": len(events),
        "steps": steps,
        "fold_events_per_s": round(len(events) / fold_seconds, 1),
        "check_steps_per_s": round(report.steps / check_seconds, 1),
        "check_seconds": round(check_seconds, 3),
        "cli_check_seconds": round(cli_seconds, 3),
        "report_seconds": round(report_seconds, 3),
        "report_bytes": len(html.encode()),
        "prompt_store_bytes_per_step": round(
            (home / "prompts.sqlite3").stat().st_size / max(steps, 1), 1
        ),
        "record_steps_per_s": round(steps / record_seconds, 1),
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--turns", type=int, help="turns to record (10,000; --quick 300)")
    parser.add_argument("--quick", action="store_true", help="a small log: seconds, not minutes")
    parser.add_argument("--tmpdir", type=Path, help="where the log goes (a fresh temp dir)")
    args = parser.parse_args(argv)
    turns = args.turns or (300 if args.quick else 10_000)
    if args.tmpdir is not None:
        print(json.dumps(run(turns, args.tmpdir)))
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        print(json.dumps(run(turns, Path(tmp))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
