"""The built-in functions: names, schemas, happy paths and every refusal, through run_call."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import pytest

from memvisor import UsageError
from memvisor.agent._builtins import (
    BUILTIN_FUNCTIONS,
    MAX_TIMER_SECONDS,
    builtin_registry,
    user_tool,
)
from memvisor.agent._toolkit import ToolContext, ToolError, ToolResult, stamp
from memvisor.agent._tools import ToolLimits, run_call
from memvisor.events import (
    AgentCreated,
    AssistantMessage,
    BlockSpec,
    CoreMemoryEdited,
    Event,
    HeartbeatsPaused,
    MemoryEventLog,
    RecallQuery,
    SourceAttached,
    TimerSet,
    ToolCall,
    ToolCalled,
    ToolReturned,
    UserMessage,
)
from memvisor.llm._functions import CallRejected, FunctionRegistry, ParsedCall, parse_call
from memvisor.memory._archival import open_archival
from memvisor.memory._archival_format import format_archival_page
from memvisor.memory._archival_model import (
    ArchivalPage,
    ArchivalStore,
    Passage,
    PassageHit,
    SearchMode,
)
from memvisor.memory._core import ARCHIVAL_INSERT
from memvisor.memory._messages import format_time
from memvisor.memory._recall import format_recall_page
from memvisor.memory._state import AgentState, fold_all

AGENT = "ada"
T0 = datetime(2025, 1, 1, tzinfo=UTC).timestamp()
DAY = 86_400.0
NOW = T0 + 10 * DAY  # 2025-01-11T00:00:00Z: every call happens then


class FakeArchival:
    """An in-memory ArchivalStore: idempotent by id, full-text by shared words."""

    def __init__(self) -> None:
        self.passages: dict[str, Passage] = {}
        self.searches: list[tuple[str, tuple[str, ...], int, int]] = []

    async def insert(self, passages: Sequence[Passage]) -> int:
        new = [p for p in passages if p.id not in self.passages]
        self.passages.update((p.id, p) for p in new)
        return len(new)

    async def search(
        self,
        query: str,
        *,
        owners: Sequence[str],
        mode: SearchMode = "hybrid",
        tags: Sequence[str] = (),
        start: float | None = None,
        end: float | None = None,
        page: int = 0,
        page_size: int = 5,
    ) -> ArchivalPage:
        self.searches.append((query, tuple(owners), page, page_size))
        words = set(query.lower().split())
        found = [
            p
            for p in self.passages.values()
            if p.owner in owners and words & set(p.text.lower().split())
        ]
        hits = tuple(
            PassageHit(passage=p, score=1.0)
            for p in found[page * page_size : (page + 1) * page_size]
        )
        return ArchivalPage(
            hits=hits, total=len(found), page=page, page_size=page_size, mode="fulltext"
        )

    async def count(self, owners: Sequence[str]) -> int:
        return sum(p.owner in owners for p in self.passages.values())

    async def owners(self) -> list[str]:
        return sorted({p.owner for p in self.passages.values()})

    async def delete_owner(self, owner: str) -> int:
        gone = [i for i, p in self.passages.items() if p.owner == owner]
        for i in gone:
            del self.passages[i]
        return len(gone)


class Agent:
    """Just enough of an agent: logs calls, runs them, logs effects and results."""

    def __init__(self, store: ArchivalStore | None = None) -> None:
        self.events: list[Event] = [
            AgentCreated(
                agent=AGENT,
                seq=1,
                at=T0,
                blocks=(
                    BlockSpec(label="human", value="Bob", limit=30),
                    BlockSpec(label="persona", value="I am Ada.", read_only=True),
                ),
            )
        ]
        self.store: ArchivalStore = FakeArchival() if store is None else store
        self.opened = 0
        self.registry: FunctionRegistry = builtin_registry()
        self.last: tuple[ToolContext, ParsedCall] | None = None

    @property
    def next(self) -> int:
        return len(self.events) + 1

    @property
    def state(self) -> AgentState:
        return fold_all(self.events)

    def user(self, text: str, at: float = T0) -> None:
        self.events.append(UserMessage(agent=AGENT, seq=self.next, at=at, text=text))

    def attach(self, source: str) -> None:
        self.events.append(SourceAttached(agent=AGENT, seq=self.next, at=T0, source=source))

    async def archival(self) -> ArchivalStore:
        self.opened += 1
        return self.store

    async def call(self, function: str, /, **arguments: object) -> ToolResult:
        called = ToolCalled(
            agent=AGENT,
            seq=self.next,
            at=NOW,
            call_id=f"call-{self.next}",
            name=function,
            arguments=json.dumps(arguments),
        )
        self.events.append(called)
        log = MemoryEventLog()
        await log.append(self.events)
        ctx = ToolContext(state=self.state, call=called, log=log, archival=self.archival)
        parsed = self.registry.parse(
            ToolCall(id=called.call_id, name=function, arguments=called.arguments)
        )
        assert isinstance(parsed, ParsedCall), parsed
        self.last = (ctx, parsed)
        return await self._run(ctx, parsed)

    async def rerun(self) -> ToolResult:
        """Run the last call again, as an agent that crashed before logging its result
        would on recovery (the first run's result is not logged twice)."""
        assert self.last is not None
        return await self._run(*self.last, record=False)

    async def _run(
        self, ctx: ToolContext, parsed: ParsedCall, *, record: bool = True
    ) -> ToolResult:
        spec = self.registry.lookup(parsed.function)
        assert not isinstance(spec, CallRejected)
        result = await run_call(spec, parsed, ctx, ToolLimits(timeout=10))
        if not record:
            return result
        for effect in result.effects:
            self.events.append(stamp(effect, seq=self.next, at=NOW, cause=ctx.call.seq))
        self.events.append(
            ToolReturned(
                agent=AGENT,
                seq=self.next,
                at=NOW,
                cause=ctx.call.seq,
                call_id=ctx.call.call_id,
                name=parsed.function,
                status=result.status,
                content=result.content,
            )
        )
        return result


def ok(result: ToolResult) -> str:
    assert result.status == "ok", result.content
    return result.content


def error(result: ToolResult) -> str:
    assert result.status == "error", result.content
    assert result.effects == ()
    return result.content


# --- names and schemas ------------------------------------------------------------------

EXPECTED_PARAMETERS = {
    "send_message": ["message"],
    "pause_heartbeats": ["minutes"],
    "core_memory_append": ["name", "content", "request_heartbeat"],
    "core_memory_replace": ["name", "old_content", "new_content", "request_heartbeat"],
    "conversation_search": ["query", "page", "request_heartbeat"],
    "conversation_search_date": ["start_date", "end_date", "page", "request_heartbeat"],
    "archival_memory_insert": ["content", "request_heartbeat"],
    "archival_memory_search": ["query", "page", "request_heartbeat"],
    "set_timer": ["seconds", "reason"],
    "send_message_to_agent": ["agent", "message", "request_heartbeat"],
    "ask_agent": ["agent", "message", "timeout_seconds"],
    "broadcast": ["tag", "message", "request_heartbeat"],
}


def test_builtins_have_memgpts_names_and_argument_names_exactly() -> None:
    assert [spec.name for spec in BUILTIN_FUNCTIONS] == list(EXPECTED_PARAMETERS)
    for spec in BUILTIN_FUNCTIONS:
        schema = json.loads(bytes(spec.parameters))
        assert list(schema["properties"]) == EXPECTED_PARAMETERS[spec.name], spec.name
        assert schema["additionalProperties"] is False
        assert spec.context_param == "ctx"
        assert spec.heartbeat == ("request_heartbeat" in EXPECTED_PARAMETERS[spec.name])
        assert spec.description, spec.name
        for name, prop in schema["properties"].items():
            assert prop.get("description"), f"{spec.name}.{name} is undocumented"
    assert ARCHIVAL_INSERT in {spec.name for spec in BUILTIN_FUNCTIONS}


def test_required_arguments_and_page_defaults_to_zero() -> None:
    required = {
        spec.name: json.loads(bytes(spec.parameters)).get("required", [])
        for spec in BUILTIN_FUNCTIONS
    }
    assert required["conversation_search"] == ["query", "request_heartbeat"]
    assert required["archival_memory_search"] == ["query", "request_heartbeat"]
    spec = builtin_registry().lookup("conversation_search")
    assert not isinstance(spec, CallRejected)
    parsed = parse_call(spec, '{"query": "tea"}')
    assert isinstance(parsed, ParsedCall)
    assert parsed.kwargs() == {"query": "tea", "page": 0}


def test_registry_puts_user_tools_after_builtins_and_refuses_a_clash() -> None:
    def weather(city: str) -> str:
        """Today's weather.

        Args:
            city: Where.
        """
        return f"sunny in {city}"

    def send_message(message: str) -> str:
        """Shadow the built-in."""
        return message

    registry = builtin_registry([user_tool(weather)], messaging=True)
    assert registry.names == (*EXPECTED_PARAMETERS, "weather")
    messaging = {"send_message_to_agent", "ask_agent", "broadcast"}
    alone = [name for name in EXPECTED_PARAMETERS if name not in messaging]
    assert builtin_registry([user_tool(weather)]).names == (*alone, "weather")
    with pytest.raises(UsageError, match="send_message"):
        builtin_registry([user_tool(send_message)])
    with pytest.raises(UsageError, match="weather"):
        builtin_registry([user_tool(weather), user_tool(weather)])
    renamed = builtin_registry([user_tool(send_message, name="echo")])
    assert "echo" in renamed


def test_user_tool_takes_request_heartbeat_and_may_take_the_context() -> None:
    def whoami(context: ToolContext, shout: bool = False) -> str:
        """Say who is calling.

        Args:
            shout: In capitals.
        """
        return context.agent.upper() if shout else context.agent

    spec = user_tool(whoami)
    assert spec.heartbeat
    assert spec.context_param == "context"
    assert list(json.loads(bytes(spec.parameters))["properties"]) == [
        "shout",
        "request_heartbeat",
    ]


@pytest.mark.anyio
async def test_a_user_tool_gets_the_context() -> None:
    def whoami(context: ToolContext, shout: bool = False) -> str:
        """Say who is calling."""
        return f"{context.agent} at seq {context.call.seq}"

    agent = Agent()
    agent.registry = builtin_registry([user_tool(whoami)])
    assert ok(await agent.call("whoami", request_heartbeat=True)) == "ada at seq 2"


# --- send_message and pause_heartbeats --------------------------------------------------


@pytest.mark.anyio
async def test_send_message_drafts_the_reply() -> None:
    result = await Agent().call("send_message", message="Hi Bob 👋")
    assert ok(result) == "Sent."
    assert result.effects == (AssistantMessage(agent=AGENT, seq=0, at=0.0, text="Hi Bob 👋"),)


@pytest.mark.anyio
@pytest.mark.parametrize("message", ["", "   \n\t"])
async def test_send_message_refuses_an_empty_message(message: str) -> None:
    assert "empty" in error(await Agent().call("send_message", message=message))


@pytest.mark.anyio
async def test_pause_heartbeats_until_minutes_from_the_call() -> None:
    agent = Agent()
    result = await agent.call("pause_heartbeats", minutes=90)
    until = NOW + 90 * 60
    assert result.effects == (HeartbeatsPaused(agent=AGENT, seq=0, at=0.0, until=until),)
    assert format_time(until) in ok(result)
    assert agent.state.paused_until == until


@pytest.mark.anyio
@pytest.mark.parametrize("minutes", [0, -5, 361])
async def test_pause_heartbeats_refuses_out_of_range(minutes: int) -> None:
    assert "1 to 360" in error(await Agent().call("pause_heartbeats", minutes=minutes))


# --- core memory ------------------------------------------------------------------------


@pytest.mark.anyio
async def test_core_memory_append_edits_and_says_how_full_the_block_is() -> None:
    agent = Agent()
    result = await agent.call(
        "core_memory_append", name="human", content="likes tea", request_heartbeat=True
    )
    assert result.effects == (
        CoreMemoryEdited(
            agent=AGENT, seq=0, at=0.0, block="human", op="append", value="Bob\nlikes tea"
        ),
    )
    assert ok(result) == "Appended to block 'human': it now holds 13 of 30 characters."
    block = agent.state.memory.get("human")
    assert block is not None
    assert block.value == "Bob\nlikes tea"


@pytest.mark.anyio
async def test_core_memory_replace_edits_one_passage() -> None:
    agent = Agent()
    await agent.call(
        "core_memory_append", name="human", content="likes tea", request_heartbeat=False
    )
    result = await agent.call(
        "core_memory_replace",
        name="human",
        old_content="tea",
        new_content="green tea",
        request_heartbeat=False,
    )
    assert "it now holds 19 of 30 characters" in ok(result)
    edited = result.effects[0]
    assert isinstance(edited, CoreMemoryEdited)
    assert (edited.op, edited.value) == ("replace", "Bob\nlikes green tea")
    block = agent.state.memory.get("human")
    assert block is not None
    assert block.value == "Bob\nlikes green tea"


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("name", "arguments", "expected"),
    [
        ("core_memory_append", {"name": "pets", "content": "x"}, "no core memory block"),
        ("core_memory_append", {"name": "persona", "content": "x"}, "read-only"),
        ("core_memory_append", {"name": "human", "content": "x" * 30}, "over its limit"),
        ("core_memory_append", {"name": "human", "content": ""}, "content is empty"),
        (
            "core_memory_replace",
            {"name": "human", "old_content": "Alice", "new_content": "x"},
            "does not occur",
        ),
        (
            "core_memory_replace",
            {"name": "human", "old_content": "", "new_content": "x"},
            "old_content is empty",
        ),
        (
            "core_memory_replace",
            {"name": "human", "old_content": "Bob", "new_content": "x" * 40},
            "over its limit",
        ),
    ],
)
async def test_core_memory_refusals_come_back_as_errors(
    name: str, arguments: dict[str, str], expected: str
) -> None:
    agent = Agent()
    assert expected in error(await agent.call(name, **arguments, request_heartbeat=True))
    block = agent.state.memory.get("human")
    assert block is not None
    assert block.value == "Bob"


@pytest.mark.anyio
async def test_core_memory_replace_refuses_an_ambiguous_match() -> None:
    agent = Agent()
    await agent.call("core_memory_append", name="human", content="Bob", request_heartbeat=False)
    content = error(
        await agent.call(
            "core_memory_replace",
            name="human",
            old_content="Bob",
            new_content="Rob",
            request_heartbeat=False,
        )
    )
    assert "occurs 2 times" in content


# --- recall -----------------------------------------------------------------------------


def chatty() -> Agent:
    agent = Agent()
    agent.user("Can we move the budget meeting to Friday?", at=T0 + DAY)
    agent.user("I like green tea.", at=T0 + 2 * DAY)
    agent.user("The budget is due soon.", at=T0 + 2 * DAY + 3600)
    agent.user("Lunch at noon?", at=T0 + 4 * DAY)
    return agent


@pytest.mark.anyio
async def test_conversation_search_returns_a_formatted_page_of_recall() -> None:
    agent = chatty()
    result = await agent.call("conversation_search", query="budget", request_heartbeat=False)
    assert ok(result).startswith("Showing 2 of 2 results (page 1/1):")
    assert "Can we move the budget meeting to Friday?" in result.content
    log = MemoryEventLog()
    await log.append(agent.events[:-1])  # as the call saw it: up to and including the call
    page = await log.search_recall(AGENT, RecallQuery(text="budget", page_size=5))
    assert result.content == format_recall_page(page)


@pytest.mark.anyio
async def test_conversation_search_pages_and_accepts_a_null_page() -> None:
    def teas() -> Agent:  # fresh each time: a search's own result is in recall next time
        agent = Agent()
        for i in range(7):
            agent.user(f"note number {i} about tea", at=T0 + i)
        return agent

    first = ok(await teas().call("conversation_search", query="tea", page=None))
    assert first.startswith("Showing 5 of 7 results (page 1/2):")
    assert first.endswith("More results: call again with page=1.")
    second = ok(await teas().call("conversation_search", query="tea", page=1))
    assert second.startswith("Showing 2 of 7 results (page 2/2):")


@pytest.mark.anyio
async def test_conversation_search_with_nothing_found() -> None:
    result = await chatty().call("conversation_search", query="zebra", request_heartbeat=False)
    assert ok(result) == "No results found."


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("arguments", "expected"),
    [({"query": "  "}, "query is empty"), ({"query": "tea", "page": -1}, "page must be 0")],
)
async def test_conversation_search_refuses_bad_arguments(
    arguments: dict[str, object], expected: str
) -> None:
    assert expected in error(await chatty().call("conversation_search", **arguments))


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("start", "end"),
    [
        ("2025-01-03", "2025-01-03"),
        ("2025-01-03T08:00:00Z", "2025-01-03T23:59:00+00:00"),
        (" 2025-01-03 ", "2025-01-03 12:00"),
    ],
)
async def test_conversation_search_date_lists_the_days_messages(start: str, end: str) -> None:
    result = await chatty().call(
        "conversation_search_date", start_date=start, end_date=end, request_heartbeat=False
    )
    assert ok(result).splitlines() == [
        "Showing 2 of 2 results (page 1/1):",
        "[2025-01-03T01:00:00Z] user: The budget is due soon.",
        "[2025-01-03T00:00:00Z] user: I like green tea.",
    ]


@pytest.mark.anyio
async def test_conversation_search_date_takes_a_range_in_either_order() -> None:
    agent = chatty()
    forward = ok(
        await agent.call(
            "conversation_search_date", start_date="2025-01-02", end_date="2025-01-04"
        )
    )
    backward = ok(
        await agent.call(
            "conversation_search_date", start_date="2025-01-04", end_date="2025-01-02"
        )
    )
    assert forward == backward
    assert forward.startswith("Showing 3 of 3 results")


@pytest.mark.anyio
@pytest.mark.parametrize("bad", ["yesterday", "2025-02-30", "01/03/2025", "2025-1-3", ""])
async def test_conversation_search_date_explains_the_date_format(bad: str) -> None:
    content = error(
        await chatty().call("conversation_search_date", start_date=bad, end_date="2025-01-03")
    )
    assert content == (
        f"start_date must be a date written YYYY-MM-DD, for example 2025-01-31; got {bad!r}."
    )
    content = error(
        await chatty().call("conversation_search_date", start_date="2025-01-03", end_date=bad)
    )
    assert content.startswith("end_date must be a date written YYYY-MM-DD")


# --- archival memory --------------------------------------------------------------------


@pytest.mark.anyio
async def test_archival_insert_stores_a_passage_keyed_by_the_call() -> None:
    agent = Agent()
    store = agent.store
    assert isinstance(store, FakeArchival)
    result = await agent.call(ARCHIVAL_INSERT, content="Bob's sister is Ann.")
    assert ok(result) == "Saved to archival memory."
    assert result.effects == ()
    assert list(store.passages.values()) == [
        Passage(id="ada:2", owner=AGENT, text="Bob's sister is Ann.", at=NOW)
    ]
    assert agent.state.archival_count == 1


@pytest.mark.anyio
async def test_archival_insert_run_again_stores_nothing_new() -> None:
    agent = Agent()
    store = agent.store
    assert isinstance(store, FakeArchival)
    await agent.call(ARCHIVAL_INSERT, content="once")
    assert ok(await agent.rerun()) == "Saved to archival memory."
    assert list(store.passages) == ["ada:2"]
    await agent.call(ARCHIVAL_INSERT, content="once")  # a new call is a new passage
    assert list(store.passages) == ["ada:2", "ada:4"]


@pytest.mark.anyio
async def test_archival_insert_refuses_empty_content_without_opening_the_store() -> None:
    agent = Agent()
    assert "content is empty" in error(await agent.call(ARCHIVAL_INSERT, content=" \n"))
    assert agent.opened == 0


@pytest.mark.anyio
async def test_archival_search_covers_the_agent_and_its_sources() -> None:
    agent = Agent()
    store = agent.store
    assert isinstance(store, FakeArchival)
    agent.attach("handbook")
    await store.insert(
        [
            Passage(id="ada:1", owner=AGENT, text="Ann lives in Lyon", at=T0),
            Passage(
                id="s:1", owner="source:handbook", text="Lyon trains", at=T0, origin="trains.md"
            ),
            Passage(id="bo:1", owner="bo", text="Lyon is not mine to see", at=T0),
        ]
    )
    result = await agent.call("archival_memory_search", query="lyon", request_heartbeat=True)
    assert store.searches == [("lyon", (AGENT, "source:handbook"), 0, 5)]
    assert ok(result).splitlines() == [
        "Showing 2 of 2 results (page 1/1):",
        "[2025-01-01T00:00:00Z] Ann lives in Lyon",
        "[2025-01-01T00:00:00Z] (from trains.md) Lyon trains",
    ]


@pytest.mark.anyio
async def test_archival_search_pages() -> None:
    agent = Agent()
    for i in range(6):
        await agent.call(ARCHIVAL_INSERT, content=f"tea fact {i}")
    first = ok(await agent.call("archival_memory_search", query="tea"))
    assert first.startswith("Showing 5 of 6 results (page 1/2):")
    assert first.endswith("More results: call again with page=1.")
    second = ok(await agent.call("archival_memory_search", query="tea", page=1))
    assert second.splitlines() == [
        "Showing 1 of 6 results (page 2/2):",
        "[2025-01-11T00:00:00Z] tea fact 5",
    ]
    assert ok(await agent.call("archival_memory_search", query="coffee")) == "No results found."


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("arguments", "expected"),
    [({"query": ""}, "query is empty"), ({"query": "tea", "page": -2}, "page must be 0")],
)
async def test_archival_search_refuses_bad_arguments(
    arguments: dict[str, object], expected: str
) -> None:
    agent = Agent()
    assert expected in error(await agent.call("archival_memory_search", **arguments))
    assert agent.opened == 0


@pytest.mark.anyio
async def test_archival_functions_on_the_real_store(tmp_path: Path) -> None:
    async with open_archival(tmp_path, embedder=None, threads=False) as store:
        agent = Agent(store)
        await agent.call(ARCHIVAL_INSERT, content="Bob's sister Ann lives in Lyon.")
        await agent.rerun()
        assert await store.count([AGENT]) == 1
        result = await agent.call("archival_memory_search", query="Where does Ann live?")
        page = await store.search("Where does Ann live?", owners=[AGENT])
    assert ok(result) == format_archival_page(page)
    assert "[2025-01-11T00:00:00Z] Bob's sister Ann lives in Lyon." in result.content
    assert result.content.endswith("Note: full-text search only: no embedder is configured")


# --- timers -----------------------------------------------------------------------------


@pytest.mark.anyio
async def test_set_timer_drafts_a_timer_due_from_the_call() -> None:
    agent = Agent()
    result = await agent.call("set_timer", seconds=5400, reason="Ask Bob about the budget.")
    assert result.effects == (
        TimerSet(
            agent=AGENT,
            seq=0,
            at=0.0,
            timer_id="timer-2",
            due=NOW + 5400,
            text="Ask Bob about the budget.",
        ),
    )
    assert (
        ok(result)
        == "Timer timer-2 set: you will be woken at 2025-01-11T01:30:00Z (in 1.5 hours)."
    )
    assert [t.timer_id for t in agent.state.timers] == ["timer-2"]


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("seconds", "when"),
    [(0.5, "0.5 seconds"), (1, "1 second"), (60, "1 minute"), (MAX_TIMER_SECONDS, "366 days")],
)
async def test_set_timer_limits_and_durations(seconds: float, when: str) -> None:
    assert ok(await Agent().call("set_timer", seconds=seconds, reason="r")).endswith(
        f"(in {when})."
    )


@pytest.mark.anyio
@pytest.mark.parametrize("seconds", [0, -1, MAX_TIMER_SECONDS + 1, 1e300])
async def test_set_timer_refuses_out_of_range(seconds: float) -> None:
    assert "at most 31622400 (366 days)" in error(
        await Agent().call("set_timer", seconds=seconds, reason="r")
    )


def test_a_builtin_raises_tool_error_when_called_directly() -> None:
    from memvisor.agent._builtins import set_timer

    state = AgentState(agent=AGENT, last_seq=1)
    called = ToolCalled(agent=AGENT, seq=1, at=NOW, call_id="c", name="set_timer", arguments="{}")

    async def no_archival() -> ArchivalStore:
        raise AssertionError("not needed")

    ctx = ToolContext(state=state, call=called, log=MemoryEventLog(), archival=no_archival)
    with pytest.raises(ToolError):
        set_timer(ctx, seconds=-1, reason="never")
    assert set_timer(ctx, seconds=1, reason="soon").content.startswith("Timer timer-1 set")
