"""Benchmark the agent's own cost per step, in-process and through HTTP, and ``memvisor send``.

Prints ONE JSON object on stdout (progress goes to stderr):

* ``overhead_ms``: per step, the wall time of a turn minus the time spent inside
  the LLM client's ``complete``, divided by the turn's steps; p50 and p95 over
  the turns, by transport (``inprocess``: a :class:`ScriptedLLM` answering at
  once; ``http``: :class:`OpenAIClient` against an instant OpenAI-compatible
  server in a thread of this process) and by history (messages already in the
  agent's context when the run starts). ``llm_ms`` gives the time inside
  ``complete`` per step the same way, so both halves of a step are visible.
* ``steps_per_s``: steps per second of those same runs (LLM time included).
* ``steps_per_s_100_agents``: 100 agents stepping concurrently in-process, one
  shared SQLite log, each sending a few messages: total steps / wall time.
* ``cli_send_seconds``: the median wall time of a ``memvisor send`` process (one
  turn: a core-memory edit with a heartbeat, then a reply; no archival memory).

Every turn is two steps: the model edits core memory (``core_memory_replace``,
toggling the human block between two values, with ``request_heartbeat``), then
answers with ``send_message``. The agent's log is SQLite (durability
``"normal"``) in a temporary directory, the context window 1,000,000 tokens so
compaction never runs; the model reports the prompt's tokens (bytes / 4), as
servers do. A history of N messages is N/2 exchanges: a user message
of about 200 characters and a reply of about 200 (``llm_responded``,
``tool_called``, ``assistant_message``, ``tool_returned``).
The ``recall_10000`` run (``recall_2000`` with ``--quick``) starts instead from
10,000 messages of history of which the oldest were compacted out, about 20
left in the context window: it shows the cost follows the window, not recall.

Targets (the agent's issue): p50 overhead < 2 ms in-process and < 5 ms via HTTP
at 600 messages, not growing with history; ``memvisor send`` under 1 s.

Usage::

    .venv/bin/python scripts/bench_agent.py [--quick] [--backend trio|asyncio] [--profile]

``--profile`` prints the top of a cProfile of the in-process run at the largest
history to stderr. Each run is cut in batches of turns, each starting from a
fresh copy of the log with the named history, so the history does not grow
much while it is measured.
"""

from __future__ import annotations

import argparse
import cProfile
import functools
import http.server
import io
import json
import os
import platform
import pstats
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Literal

import anyio
import msgspec

from memvisor.actors import ActorRef, open_runtime
from memvisor.agent import AgentConfig, Deliver, TurnReport, spawn_agent
from memvisor.events import (
    AgentCreated,
    AssistantMessage,
    BlockSpec,
    ContextCompacted,
    Durability,
    Event,
    EventLog,
    LLMResponded,
    TokenUsage,
    ToolCall,
    ToolCalled,
    ToolReturned,
    UserMessage,
    open_sqlite_log,
)
from memvisor.llm import LLMClient, LLMRequest, LLMResponse, ScriptedLLM, reply_with_call

Backend = Literal["trio", "asyncio"]

NAME = "bench"
MODEL = "bench-model"
EPOCH = 1_735_689_600.0
WINDOW = 1_000_000
DURABILITY: Durability = "normal"
TEA, COFFEE = "Likes tea.", "Likes coffee."
_TEXT = (
    "garden weather morning letter station river window kitchen friend music library"
    " winter summer travel coffee bread market bicycle mountain evening story project"
    " meeting holiday birthday sister brother doctor teacher school office city train"
)
WORDS = _TEXT.split()


class Config(msgspec.Struct, frozen=True, kw_only=True):
    """Sizes of one run."""

    backend: Backend
    quick: bool
    histories: tuple[int, ...]
    """Messages of history the agent starts with, one run each per transport."""
    batches: int
    """Each run is this many batches, each from the history on a fresh agent."""
    turns_per_batch: int
    """Turns measured per batch (two steps each)."""
    recall_history: int
    """Messages of history, compacted to about 20 in context: cost against recall size."""
    agents: int
    messages_per_agent: int
    cli_runs: int


def progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# --- the model: edit core memory with a heartbeat, then reply --------------------------


def answer(last_role: str, human_block_has_tea: bool, prompt_tokens: int) -> LLMResponse:
    """The instant model's decision, from the last message's role and the human block.

    It reports the prompt's tokens as a server would (about 4 characters each).
    """
    usage = TokenUsage(
        prompt_tokens=prompt_tokens, completion_tokens=20, total_tokens=prompt_tokens + 20
    )
    if last_role == "tool":
        return reply_with_call("send_message", '{"message": "Noted, thank you."}', usage=usage)
    old, new = (TEA, COFFEE) if human_block_has_tea else (COFFEE, TEA)
    arguments = json.dumps(
        {"name": "human", "old_content": old, "new_content": new, "request_heartbeat": True}
    )
    return reply_with_call("core_memory_replace", arguments, usage=usage)


def scripted_answer(request: LLMRequest) -> LLMResponse:
    system = request.messages[0].content or ""
    human = system[system.find("<human") : system.find("</human>")]
    chars = sum(len(m.content or "") for m in request.messages) + 6000  # the tools
    return answer(request.messages[-1].role, TEA in human, chars // 4)


class TimedLLM:
    """Wraps a client and adds up the time spent inside its ``complete``."""

    def __init__(self, inner: LLMClient) -> None:
        self.inner = inner
        self.seconds = 0.0
        self.calls = 0

    async def complete(self, request: LLMRequest) -> LLMResponse:
        started = time.perf_counter()
        try:
            return await self.inner.complete(request)
        finally:
            self.seconds += time.perf_counter() - started
            self.calls += 1


# --- an instant OpenAI-compatible server ------------------------------------------------

_wire = msgspec.json.Encoder()


def _wire_body(response: LLMResponse) -> bytes:
    calls = [
        {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
        for c in response.tool_calls
    ]
    return _wire.encode(
        {
            "id": "chatcmpl-bench",
            "object": "chat.completion",
            "created": 0,
            "model": MODEL,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": None, "tool_calls": calls},
                    "finish_reason": "tool_calls",
                }
            ],
            "usage": {
                "prompt_tokens": response.usage.prompt_tokens,
                "completion_tokens": response.usage.completion_tokens,
                "total_tokens": response.usage.total_tokens,
            },
        }
    )


def http_answer(body: bytes) -> bytes:
    """The same decisions as :func:`scripted_answer`, read from the raw JSON by byte
    search (no parsing: the server should cost next to nothing)."""
    at = body.rfind(b'"role":"')  # the last message's (the tools hold no "role")
    last_role = body[at + 8 : body.find(b'"', at + 8)].decode()
    start = body.find(b"<human")
    human = body[start : body.find(b"</human>", start)]
    return _wire_body(answer(last_role, TEA.encode() in human, len(body) // 4))


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as a real server
    disable_nagle_algorithm = True  # else headers and body wait out a delayed ACK (40 ms)

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("content-length", 0)))
        data = http_answer(body)
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: object) -> None:
        pass


@contextmanager
def instant_server() -> Iterator[str]:
    """Serve :func:`http_answer` on a free loopback port; yield the base URL (``…/v1``)."""
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/v1"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()


# --- the agent and its history ----------------------------------------------------------


def created(name: str) -> AgentCreated:
    return AgentCreated(
        agent=name,
        seq=1,
        at=EPOCH,
        model=MODEL,
        system="You are a helpful assistant with a long memory.",
        blocks=(
            BlockSpec(label="persona", value="I am a patient, friendly assistant."),
            BlockSpec(label="human", value=TEA),
        ),
        context_window=WINDOW,
    )


def sentence(rng: random.Random, chars: int) -> str:
    words: list[str] = []
    while sum(len(w) + 1 for w in words) < chars:
        words.append(rng.choice(WORDS))
    return " ".join(words).capitalize() + "."


def history(
    name: str, messages: int, rng: random.Random, *, in_context: int | None = None
) -> list[Event]:
    """``agent_created`` and ``messages // 2`` exchanges, each a user message and a reply.

    With ``in_context``, a ``context_compacted`` at the end leaves only about that
    many messages in the context window: the rest is in recall alone.
    """
    events: list[Event] = [created(name)]
    seq = 2
    for i in range(messages // 2):
        at = EPOCH + 60.0 * i
        reply = sentence(rng, 200)
        arguments = json.dumps({"message": reply})
        call_id = f"history-{i}"
        events += [
            UserMessage(agent=name, seq=seq, at=at, text=sentence(rng, 200)),
            LLMResponded(
                agent=name,
                seq=seq + 1,
                at=at + 1,
                cause=seq,
                model=MODEL,
                content=sentence(rng, 60),
                tool_calls=(ToolCall(id=call_id, name="send_message", arguments=arguments),),
                finish_reason="tool_calls",
                usage=TokenUsage(prompt_tokens=0, completion_tokens=60, total_tokens=60),
            ),
            ToolCalled(
                agent=name,
                seq=seq + 2,
                at=at + 1,
                cause=seq + 1,
                call_id=call_id,
                name="send_message",
                arguments=arguments,
            ),
            AssistantMessage(agent=name, seq=seq + 3, at=at + 1, cause=seq + 2, text=reply),
            ToolReturned(
                agent=name,
                seq=seq + 4,
                at=at + 1,
                cause=seq + 2,
                call_id=call_id,
                name="send_message",
                status="ok",
                content="Sent.",
            ),
        ]
        seq += 5
    if in_context is not None:
        kept = -(-in_context // 3)  # exchanges; each leaves 3 messages in the queue
        through = events[-5 * kept - 1].seq
        events.append(
            ContextCompacted(
                agent=name,
                seq=seq,
                at=EPOCH + 60.0 * messages,
                through_seq=through,
                evicted=3 * (messages // 2 - kept),
                summary=sentence(rng, 400),
            )
        )
    return events


def user(text: str) -> Deliver:
    return Deliver(event=UserMessage(agent="", seq=0, at=0.0, text=text))


@asynccontextmanager
async def agents(
    log: EventLog, llm: LLMClient, names: Sequence[str]
) -> AsyncIterator[list[ActorRef[Deliver, TurnReport]]]:
    async with open_runtime() as runtime:
        yield [
            spawn_agent(runtime, name, log=log, llm=llm, config=AgentConfig(model=MODEL))
            for name in names
        ]


def percentiles(values: Sequence[float]) -> dict[str, float]:
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return {"p50": round(statistics.median(ordered), 3), "p95": round(p95, 3)}


class RunResult(msgspec.Struct, frozen=True, kw_only=True):
    overhead_ms: dict[str, float]
    llm_ms: dict[str, float]
    steps_per_s: float
    steps: int


async def build_history(
    path: Path, names: Sequence[str], messages: int, *, in_context: int | None = None
) -> None:
    async with open_sqlite_log(path, durability=DURABILITY) as log:
        for i, name in enumerate(names):
            await log.append(history(name, messages, random.Random(i), in_context=in_context))


def copy_log(source: Path, target: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        if Path(f"{source}{suffix}").exists():
            shutil.copyfile(f"{source}{suffix}", f"{target}{suffix}")


async def measure(
    cfg: Config,
    directory: Path,
    messages: int,
    inner: LLMClient,
    *,
    profile: cProfile.Profile | None = None,
    in_context: int | None = None,
) -> RunResult:
    """Steps of one agent with ``messages`` of history; the agent's cost per step.

    ``in_context``: the history was compacted to about that many messages (see
    :func:`history`), the rest lives in recall only.

    The turns run in batches, each on a fresh copy of the log with that history
    (and a fresh agent, after one unmeasured turn), so the history measured is
    the one named, give or take a batch's turns.
    """
    llm = TimedLLM(inner)
    pristine = directory / f"history-{messages}-{in_context}.sqlite3"
    if not pristine.exists():
        await build_history(pristine, [NAME], messages, in_context=in_context)
    rng = random.Random(1)
    overheads, llm_times = [], []
    steps = 0
    wall = 0.0
    for batch in range(cfg.batches):
        path = directory / f"run-{messages}-{in_context}-{batch}.sqlite3"
        copy_log(pristine, path)
        async with (
            open_sqlite_log(path, durability=DURABILITY) as log,
            agents(log, llm, [NAME]) as (agent,),
        ):
            await agent.ask(user(sentence(rng, 200)))  # warm: the first step encodes all
            if profile is not None:
                profile.enable()
            for _ in range(cfg.turns_per_batch):
                llm.seconds, llm.calls = 0.0, 0
                started = time.perf_counter()
                await agent.ask(user(sentence(rng, 200)))
                elapsed = time.perf_counter() - started
                wall += elapsed
                steps += llm.calls
                overheads.append((elapsed - llm.seconds) / llm.calls * 1000)
                llm_times.append(llm.seconds / llm.calls * 1000)
                if isinstance(inner, ScriptedLLM):
                    inner.requests.clear()  # it keeps every request: memory, not speed
            if profile is not None:
                profile.disable()
    return RunResult(
        overhead_ms=percentiles(overheads),
        llm_ms=percentiles(llm_times),
        steps_per_s=round(steps / wall, 1),
        steps=steps,
    )


async def many_agents(cfg: Config, directory: Path) -> float:
    """Steps per second of ``cfg.agents`` agents stepping at once (in-process model)."""
    names = [f"agent-{i:03d}" for i in range(cfg.agents)]
    llm = ScriptedLLM(scripted_answer)
    steps = 0
    path = directory / "many.sqlite3"
    await build_history(path, names, 20)
    async with (
        open_sqlite_log(path, durability=DURABILITY) as log,
        agents(log, llm, names) as refs,
    ):

        async def talk(agent: ActorRef[Deliver, TurnReport], seed: int) -> None:
            nonlocal steps
            rng = random.Random(seed)
            for _ in range(cfg.messages_per_agent):
                report = await agent.ask(user(sentence(rng, 200)))
                steps += sum(isinstance(e, LLMResponded) for e in report.events)
                llm.requests.clear()

        started = time.perf_counter()
        async with anyio.create_task_group() as tg:
            for seed, agent in enumerate(refs):
                tg.start_soon(talk, agent, seed)
        wall = time.perf_counter() - started
    return round(steps / wall, 1)


# --- memvisor send ----------------------------------------------------------------------


def memvisor_command() -> list[str]:
    script = Path(sys.executable).parent / "memvisor"
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "from memvisor.cli import main; main()"]


def cli_send_seconds(cfg: Config, directory: Path, base_url: str) -> float:
    """Median wall time of ``memvisor send`` (a fresh process each run)."""
    home = directory / "cli-home"

    async def create() -> None:
        async with open_sqlite_log(home / "events.sqlite3") as log:
            await log.append(history(NAME, 20, random.Random(0)))

    anyio.run(create)
    env = {k: v for k, v in os.environ.items() if k not in {"OPENAI_API_KEY", "MEMVISOR_MODEL"}}
    env |= {"MEMVISOR_HOME": str(home), "OPENAI_BASE_URL": base_url}
    times = []
    for i in range(cfg.cli_runs):
        started = time.perf_counter()
        result = subprocess.run(
            [*memvisor_command(), "send", NAME, f"Hello number {i}"],
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        times.append(time.perf_counter() - started)
        if result.returncode != 0 or "Noted" not in result.stdout:
            raise RuntimeError(f"memvisor send failed ({result.returncode}): {result.stderr}")
    return round(statistics.median(times), 3)


# --- the run ------------------------------------------------------------------------------


async def run(cfg: Config, directory: Path, *, profile: bool) -> dict[str, object]:
    from memvisor.llm import OpenAIClient
    from memvisor.llm._client import RetryPolicy

    results: dict[str, dict[str, RunResult]] = {"inprocess": {}, "http": {}}
    profiler = cProfile.Profile() if profile else None
    for messages in cfg.histories:
        progress(f"in-process, {messages} messages of history ...")
        results["inprocess"][str(messages)] = await measure(
            cfg,
            directory,
            messages,
            ScriptedLLM(scripted_answer),
            profile=profiler if messages == max(cfg.histories) else None,
        )
    recall = cfg.recall_history
    progress(f"in-process, {recall} messages of history, about 20 of them in context ...")
    results["inprocess"][f"recall_{recall}"] = await measure(
        cfg, directory, recall, ScriptedLLM(scripted_answer), in_context=20
    )
    with instant_server() as base_url:
        for messages in cfg.histories:
            progress(f"http, {messages} messages of history ...")
            async with OpenAIClient(
                base_url=base_url, api_key="none", retry=RetryPolicy(tries=1)
            ) as client:
                results["http"][str(messages)] = await measure(cfg, directory, messages, client)
        progress(f"{cfg.agents} agents at once ...")
        concurrent = await many_agents(cfg, directory)
        progress("memvisor send ...")
        cli = await anyio.to_thread.run_sync(cli_send_seconds, cfg, directory, base_url)
    if profiler is not None:
        out = io.StringIO()
        stats = pstats.Stats(profiler, stream=out)
        stats.sort_stats("cumulative").print_stats(45)
        stats.sort_stats("tottime").print_stats(30)
        progress(out.getvalue())

    def table(field: str) -> dict[str, dict[str, object]]:
        return {
            transport: {size: getattr(r, field) for size, r in runs.items()}
            for transport, runs in results.items()
        }

    return {
        "overhead_ms": table("overhead_ms"),
        "llm_ms": table("llm_ms"),
        "steps_per_s": table("steps_per_s"),
        "steps_per_s_100_agents": concurrent,
        "cli_send_seconds": cli,
        "steps_measured": {
            transport: {size: r.steps for size, r in runs.items()}
            for transport, runs in results.items()
        },
        "turns_per_batch": cfg.turns_per_batch,
        "agents": cfg.agents,
        "messages_per_agent": cfg.messages_per_agent,
        "durability": DURABILITY,
        "context_window": WINDOW,
        "backend": cfg.backend,
        "quick": cfg.quick,
        "python": platform.python_version(),
    }


def parse_args(argv: Sequence[str] | None) -> tuple[Config, bool, Path | None]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes: seconds, not minutes")
    parser.add_argument("--backend", choices=("trio", "asyncio"), default="trio")
    parser.add_argument("--batches", type=int, help="batches of turns per run (10; --quick 2)")
    parser.add_argument("--profile", action="store_true", help="cProfile to stderr")
    parser.add_argument("--tmpdir", type=Path, help="where the logs go (a fresh temp dir)")
    args = parser.parse_args(argv)
    quick = bool(args.quick)
    backend: Backend = "asyncio" if args.backend == "asyncio" else "trio"
    cfg = Config(
        backend=backend,
        quick=quick,
        histories=(20, 600),
        batches=args.batches or (2 if quick else 10),
        turns_per_batch=5 if quick else 10,
        recall_history=2_000 if quick else 10_000,
        agents=100,
        messages_per_agent=2 if quick else 10,
        cli_runs=1 if quick else 3,
    )
    return cfg, bool(args.profile), args.tmpdir


def main(argv: Sequence[str] | None = None) -> int:
    cfg, profile, tmpdir = parse_args(argv)
    with tempfile.TemporaryDirectory(dir=tmpdir) as directory:
        report = anyio.run(
            functools.partial(run, cfg, Path(directory), profile=profile), backend=cfg.backend
        )
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
