"""The process that ``test_crash.py`` kills: appends to an SQLite log as fast as it can.

Usage::

    python crash_child.py PATH DURABILITY BACKEND AGENTS

Each of ``AGENTS`` tasks appends its agent's events, resuming after the agent's
``last_seq``, and after every append returns prints ``agent seq`` (the last seq
of the append) and flushes: that line is the acknowledgement the parent holds
the log to. It never stops on its own; the parent ends it with SIGKILL.

Everything is a pure function of ``(agent, seq)`` (the events and where each
append starts and ends), so the parent can check the log byte for byte.
It owns no files: the log lives where the parent says.
"""

from __future__ import annotations

import sys

import anyio

from memvisor.events import (
    AssistantMessage,
    Event,
    ExternalEvent,
    LLMResponded,
    TokenUsage,
    ToolCall,
    UserMessage,
    open_sqlite_log,
)

__all__ = ["agent_names", "batch_size", "expected_event"]


def agent_names(count: int) -> list[str]:
    return [f"agent-{i}" for i in range(count)]


def batch_size(first_seq: int) -> int:
    """How many events the append starting at ``first_seq`` holds (1 to 4).

    Appends always start where the previous one ended, so after a crash an agent's
    last seq must be the end of one of these batches; anything else would mean
    an append was half-written.
    """
    return 1 + (first_seq * 7919) % 4


def expected_event(agent: str, seq: int) -> Event:
    """The event at ``seq`` in ``agent``'s log (sizes vary from tens of bytes to ~2 kB)."""
    at = 1_700_000_000.0 + seq / 1024
    match seq % 4:
        case 0:
            return UserMessage(agent=agent, seq=seq, at=at, text=f"{agent} #{seq} " * (seq % 64))
        case 1:
            return ExternalEvent(
                agent=agent,
                seq=seq,
                at=at,
                source="crash-test",
                payload={"agent": agent, "seq": seq, "items": list(range(seq % 50))},
                key=f"{agent}:{seq}",
            )
        case 2:
            return AssistantMessage(agent=agent, seq=seq, at=at, cause=seq - 1, text=f"ok {seq}")
        case _:
            return LLMResponded(
                agent=agent,
                seq=seq,
                at=at,
                cause=seq - 2,
                model="scripted",
                content="thinking " * (seq % 17),
                tool_calls=(ToolCall(id=f"call-{seq}", name="send_message", arguments="{}"),),
                usage=TokenUsage(prompt_tokens=seq, completion_tokens=7, total_tokens=seq + 7),
            )


async def _write(path: str, durability: str, count: int) -> None:
    assert durability in ("full", "normal")
    async with open_sqlite_log(path, durability=durability) as log:  # type: ignore[arg-type]

        async def agent_task(agent: str) -> None:
            seq = await log.last_seq(agent) + 1
            while True:
                batch = [expected_event(agent, s) for s in range(seq, seq + batch_size(seq))]
                await log.append(batch)
                seq += len(batch)
                sys.stdout.write(f"{agent} {seq - 1}\n")
                sys.stdout.flush()

        async with anyio.create_task_group() as tg:
            for agent in agent_names(count):
                tg.start_soon(agent_task, agent)


def main(argv: list[str]) -> None:
    path, durability, backend, count = argv
    anyio.run(_write, path, durability, int(count), backend=backend)


if __name__ == "__main__":
    main(sys.argv[1:])
