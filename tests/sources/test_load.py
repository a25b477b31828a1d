"""The real webhook path under load, and the inbox's appends to a SQLite log.

```
50 httpx clients ──► hypercorn + webhook_app ──► Inbox (tmp/inbox.sqlite3, small capacity)
   5,000 signed posts, some badly signed,            │ 202 id / 200 duplicate / 429 busy
   some sharing an idempotency key                   ▼
                                       pumps ──► scripted agents ──► tmp/events.sqlite3
                                                 (echo: send_message for every event)
```

The load test checks correctness under load, not speed: every 202 is exactly
one event in its agent's log (by inbox id, in order), every duplicate points at
the first, everything else is refused, the inbox log holds exactly what was
accepted, and the process's memory and the inbox backlog stay bounded.
"""

from __future__ import annotations

import json
import os
import random
import resource
import sys
from collections import defaultdict
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import anyio
import httpx2 as httpx
import pytest

from memvisor import LogError
from memvisor.actors import open_runtime
from memvisor.agent import spawn_agent
from memvisor.events import (
    AgentCreated,
    Event,
    EventLog,
    ExternalEvent,
    MemoryEventLog,
    open_sqlite_log,
)
from memvisor.llm import LLMRequest, LLMResponse, ScriptedLLM
from memvisor.sim import PolicyContext, policy_named, with_summaries
from memvisor.sources import Accepted, WebhookAuth, serve_webhooks, webhook_app, webhook_signature
from memvisor.sources._inbox import Inbox, LogOutbox

pytestmark = pytest.mark.anyio

T0 = 1_735_689_600.0
SECRET = b"load-s3cret"
AGENTS = ("desk-0", "desk-1", "desk-2", "desk-3")
CLIENTS = 50
POSTS = 5000
CAPACITY = 20
"""Per agent: small, so that the 50 clients fill it and some posts get 429."""
RSS_GROWTH_MAX = 200 * 2**20


def external(text: str, key: str | None = None) -> ExternalEvent:
    return ExternalEvent(agent="", seq=0, at=0.0, source="webhook", text=text, key=key)


# --- the real stack, in this process --------------------------------------------------------


@dataclass
class Stack:
    url: str
    inbox: Inbox
    agent_log: EventLog
    inbox_log: EventLog


@asynccontextmanager
async def real_stack(tmp_path: Path, *, capacity: int) -> AsyncIterator[Stack]:
    """SQLite logs, scripted agents, the inbox and its pumps, and the webhook server."""
    async with (
        open_sqlite_log(tmp_path / "events.sqlite3") as agent_log,
        open_sqlite_log(tmp_path / "inbox.sqlite3") as inbox_log,
        open_runtime() as runtime,
    ):
        for name in AGENTS:
            await agent_log.append([AgentCreated(agent=name, seq=1, at=T0, model="scripted")])
        outbox = LogOutbox(agent_log, AGENTS)
        refs = {
            name: spawn_agent(
                runtime,
                name,
                log=agent_log,
                llm=ScriptedLLM(with_summaries(echo_policy(name)), record=False),
                observe=outbox.said,
            )
            for name in AGENTS
        }
        inbox = await Inbox.open(inbox_log, AGENTS, now=runtime.clock.now, capacity=capacity)
        app = webhook_app(inbox, outbox, dict.fromkeys(AGENTS, WebhookAuth(secret=SECRET)))
        async with anyio.create_task_group() as tg:
            for name, ref in refs.items():
                await tg.start(inbox.pump, name, ref, agent_log)
            url = await tg.start(serve_webhooks, app, "127.0.0.1", 0)
            yield Stack(url=url, inbox=inbox, agent_log=agent_log, inbox_log=inbox_log)
            tg.cancel_scope.cancel()


def echo_policy(name: str) -> Callable[[LLMRequest], LLMResponse]:
    context = PolicyContext(agent=name, params={}, peers=(), seed=0)
    return policy_named("echo")(context)


# --- memory ------------------------------------------------------------------------------------


def rss_bytes() -> int:
    """This process's resident memory now (Linux), else its peak so far."""
    try:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return peak if sys.platform == "darwin" else peak * 1024


@dataclass
class Watermarks:
    """The highest resident memory and inbox backlogs seen while sampling."""

    rss: int = 0
    backlog: dict[str, int] = field(default_factory=dict)

    async def sample(self, inbox: Inbox) -> None:
        while True:
            self.rss = max(self.rss, rss_bytes())
            for name in AGENTS:
                self.backlog[name] = max(self.backlog.get(name, 0), inbox.backlog(name))
            await anyio.sleep(0.02)


# --- the load test ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Post:
    agent: str
    text: str
    key: str | None
    signed_right: bool


@dataclass(frozen=True)
class Answer:
    status: int
    id: int | None


def plan(rng: random.Random) -> list[Post]:
    posts = []
    for j in range(POSTS):
        agent = AGENTS[j % len(AGENTS)]  # j and j + 4500 go to the same agent
        key = None if j % 10 == 3 else f"key-{j % 4500}"  # keys 0..499 come twice
        posts.append(Post(agent, f"post {j}", key, signed_right=j % 20 != 7))
    rng.shuffle(posts)
    return posts


async def send_all(url: str, posts: Sequence[Post]) -> dict[str, Answer]:
    answers: dict[str, Answer] = {}

    async def caller(share: Sequence[Post]) -> None:
        async with httpx.AsyncClient(base_url=url, timeout=60) as client:
            for post in share:
                body = json.dumps({"text": post.text}).encode()
                signature = webhook_signature(SECRET, body if post.signed_right else body + b" ")
                headers = {"content-type": "application/json", "x-memvisor-signature": signature}
                if post.key is not None:
                    headers["idempotency-key"] = post.key
                response = await client.post(
                    f"/agents/{post.agent}/events", content=body, headers=headers
                )
                found = response.json().get("id") if response.status_code < 300 else None
                answers[post.text] = Answer(response.status_code, found)

    async with anyio.create_task_group() as tg:
        for c in range(CLIENTS):
            tg.start_soon(caller, posts[c::CLIENTS])
    return answers


def inbox_ids(events: Sequence[Event]) -> list[int]:
    return [e.inbox for e in events if isinstance(e, ExternalEvent) and e.inbox is not None]


async def wait_logged(log: EventLog, accepted: dict[str, dict[int, Post]]) -> None:
    """Until every accepted id is in its agent's log (polled; bounded)."""
    with anyio.fail_after(180):
        for agent, ids in accepted.items():
            # Polled on purpose: what counts is what the log holds, not what was observed.
            while not set(ids) <= set(inbox_ids(await log.read(agent))):  # noqa: ASYNC110
                await anyio.sleep(0.1)


@pytest.mark.slow
async def test_5000_signed_posts_through_the_real_stack_reach_the_agents_exactly_once(
    tmp_path: Path, rng: random.Random
) -> None:
    posts = plan(rng)
    watermarks = Watermarks()
    baseline = rss_bytes()
    async with real_stack(tmp_path, capacity=CAPACITY) as stack:
        async with anyio.create_task_group() as sampling:
            sampling.start_soon(watermarks.sample, stack.inbox)
            answers = await send_all(stack.url, posts)
            accepted: dict[str, dict[int, Post]] = defaultdict(dict)
            for post in posts:
                answer = answers[post.text]
                if answer.status == 202:
                    assert answer.id is not None
                    assert answer.id not in accepted[post.agent], "one id, two 202s"
                    accepted[post.agent][answer.id] = post
            await wait_logged(stack.agent_log, accepted)
            sampling.cancel_scope.cancel()
        agent_events = {name: await stack.agent_log.read(name) for name in AGENTS}
        inbox_events = {name: await stack.inbox_log.read(name) for name in AGENTS}

    assert len(answers) == POSTS  # every post was answered
    statuses = {answer.status for answer in answers.values()}
    assert statuses <= {202, 200, 401, 429}, statuses  # no 500: nothing failed inside
    counts = {s: sum(a.status == s for a in answers.values()) for s in statuses}
    assert counts.get(429, 0) > 0, counts  # the small inbox pushed back
    assert counts.get(200, 0) > 0, counts  # duplicates were recognised
    print(f"answers by status: {counts}")
    first_by_key: dict[tuple[str, str], int] = {}
    for post in posts:
        answer = answers[post.text]
        if answer.status == 202 and post.key is not None:
            assert (post.agent, post.key) not in first_by_key, f"{post.key} accepted twice"
            assert answer.id is not None
            first_by_key[post.agent, post.key] = answer.id
    for post in posts:
        answer = answers[post.text]
        if not post.signed_right:
            assert answer.status == 401, post
        elif answer.status == 200:  # a duplicate names the event accepted with its key
            assert post.key is not None
            assert answer.id is not None
            assert answer.id == first_by_key[post.agent, post.key], post
            assert accepted[post.agent][answer.id].text != post.text
    for agent in AGENTS:
        ids = sorted(accepted[agent])
        assert ids == list(range(1, len(ids) + 1))  # consecutive: nothing lost in between
        # In the agent's log: each accepted event once, in order, as posted.
        logged = [e for e in agent_events[agent] if isinstance(e, ExternalEvent)]
        assert [e.inbox for e in logged] == ids
        assert [e.text for e in logged] == [accepted[agent][i].text for i in ids]
        # The inbox log holds exactly the accepted events.
        assert [(e.seq, getattr(e, "text", None)) for e in inbox_events[agent]] == [
            (i, accepted[agent][i].text) for i in ids
        ]
        keys = [e.key for e in inbox_events[agent] if isinstance(e, ExternalEvent)]
        assert keys == [accepted[agent][i].key for i in ids]
        assert watermarks.backlog[agent] <= CAPACITY  # never an unbounded queue
    growth = watermarks.rss - baseline
    print(f"resident memory: {baseline / 2**20:.0f} MB, then at most +{growth / 2**20:.0f} MB")
    assert growth < RSS_GROWTH_MAX, f"resident memory grew by {growth / 2**20:.0f} MB"


# --- the inbox's appends (regressions found by the load test) ------------------------------------


async def test_a_fresh_sqlite_inbox_accepts_posts_that_arrive_while_its_next_seq_is_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The inbox claims ids 1, 2, 3 in order; the SQLite log must take them in order too.

    The log does not know a fresh stream's next seq: the first append of a stream
    reads it from disk (a thread). Appends that arrive meanwhile must wait behind
    that read, and the ones that arrive after it must wait behind them: here id 3
    arrives once id 1 is committed while id 2 still waits for its read, and was
    refused (ConflictError: "append starts at seq 3 but the log's next seq is 2"),
    after which every later post to that agent was refused too (a 500 each).
    """
    async with open_sqlite_log(tmp_path / "inbox.sqlite3") as log:
        inbox = await Inbox.open(log, ["desk"], now=lambda: T0)
        gates: list[anyio.Event] = []
        gating = [True]
        read_last_seq = log.last_seq

        async def slow_last_seq(agent: str) -> int:  # the disk takes its time
            if gating[0]:
                gate = anyio.Event()
                gates.append(gate)
                await gate.wait()
            return await read_last_seq(agent)

        monkeypatch.setattr(log, "last_seq", slow_last_seq)
        outcomes: dict[int, object] = {}
        done = {i: anyio.Event() for i in (1, 2, 3)}

        async def deliver(i: int) -> None:
            try:
                outcomes[i] = await inbox.deliver("desk", external(f"e{i}"))
            except Exception as exc:
                outcomes[i] = exc
            done[i].set()

        with anyio.fail_after(10):
            async with anyio.create_task_group() as tg:
                tg.start_soon(deliver, 1)
                await anyio.wait_all_tasks_blocked()
                tg.start_soon(deliver, 2)
                await anyio.wait_all_tasks_blocked()
                if gates:
                    gates[0].set()  # id 1 learns the next seq, id 2 still waits
                await done[1].wait()
                tg.start_soon(deliver, 3)
                await anyio.wait_all_tasks_blocked()
                gating[0] = False
                for gate in gates:
                    gate.set()
        assert outcomes == {1: Accepted(id=1), 2: Accepted(id=2), 3: Accepted(id=3)}
        monkeypatch.undo()
        assert [getattr(e, "text", None) for e in await log.read("desk")] == ["e1", "e2", "e3"]


class FlakyLog(MemoryEventLog):
    """A log whose next ``failures`` appends fail, as a full disk would."""

    failures = 0

    async def append(self, events: Sequence[Event]) -> None:
        if self.failures:
            self.failures -= 1
            raise LogError("disk full (scripted)", actor_id=events[0].agent)
        await super().append(events)


async def test_a_failed_append_does_not_wedge_the_inbox() -> None:
    """One failed append (a 500 to its caller) must not refuse every later post:
    the inbox had claimed the failed id for good, so the log refused each next id
    as a gap (ConflictError) until the host restarted."""
    log = FlakyLog()
    inbox = await Inbox.open(log, ["desk"], now=lambda: T0)
    log.failures = 1
    with pytest.raises(LogError):
        await inbox.deliver("desk", external("lost", key="k1"))
    assert isinstance(await inbox.deliver("desk", external("retried", key="k1")), Accepted)
    assert isinstance(await inbox.deliver("desk", external("next")), Accepted)
    stored = await log.read("desk")
    assert [(e.seq, getattr(e, "text", None)) for e in stored] == [(1, "retried"), (2, "next")]
