"""Recall: which events are messages, and the search contract, run against every store.

The contract tests get ``open_log``: a factory of fresh, empty logs of one
backend (memory, SQLite in worker threads, SQLite on the event loop's thread).
The memory log must answer exactly as the SQLite log does: the property tests
at the end compare the two on random logs and queries.
"""

from __future__ import annotations

import importlib.util
import itertools
import math
import sqlite3
import string
import sys
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import (
    AbstractAsyncContextManager,
    AsyncExitStack,
    asynccontextmanager,
    suppress,
)
from pathlib import Path
from typing import cast

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from memvisor._exceptions import ConflictError, UsageError
from memvisor.events import (
    MAX_PAGE_SIZE,
    RECALL_ROLES,
    AgentCreated,
    AgentMessage,
    AssistantMessage,
    ContextCompacted,
    ContextRewound,
    CoreMemoryEdited,
    ErrorEvent,
    Event,
    EventLog,
    ExternalEvent,
    HeartbeatsPaused,
    LLMResponded,
    MemoryEventLog,
    MemoryPressure,
    RecallEntry,
    RecallPage,
    RecallQuery,
    SourceAttached,
    StepLimited,
    TimerCancelled,
    TimerFired,
    TimerSet,
    ToolCalled,
    ToolReturned,
    UserMessage,
    event_type,
    message_of,
    open_sqlite_log,
)
from memvisor.events._fts import MAX_QUERY_TERMS, STOP_WORDS, query_terms, stem, tokenize
from memvisor.events._recall import event_types_of

from .strategies import EVENT_CLASSES, any_event

LogFactory = Callable[[], AbstractAsyncContextManager[EventLog]]

_SETTINGS = settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@pytest.fixture(params=["memory", "sqlite", "sqlite-no-threads"])
def open_log(request: pytest.FixtureRequest, tmp_path: Path) -> LogFactory:
    """Opens a fresh, empty log of one backend per call."""
    if request.param == "memory":

        @asynccontextmanager
        async def open_memory() -> AsyncIterator[EventLog]:
            yield MemoryEventLog()

        return open_memory
    counter = itertools.count()

    def open_sqlite() -> AbstractAsyncContextManager[EventLog]:
        path = tmp_path / f"events-{next(counter)}.sqlite3"
        return open_sqlite_log(path, durability="normal", threads=request.param == "sqlite")

    return open_sqlite


T0 = 1_700_000_000.0


def user(seq: int, text: str, *, agent: str = "ada", at: float | None = None) -> UserMessage:
    return UserMessage(agent=agent, seq=seq, at=T0 + seq if at is None else at, text=text)


def said(seq: int, text: str, *, agent: str = "ada") -> AssistantMessage:
    return AssistantMessage(agent=agent, seq=seq, at=T0 + seq, text=text)


async def search(log: EventLog, agent: str = "ada", /, **query: object) -> RecallPage:
    return await log.search_recall(agent, msgspec.convert(query, RecallQuery))


async def every_hit(log: EventLog, agent: str = "ada", /, **query: object) -> list[int]:
    """The seqs of every hit, over all pages of the largest size."""
    page = await search(log, agent, page_size=MAX_PAGE_SIZE, **query)
    assert page.total <= MAX_PAGE_SIZE, "test log too big for one page"
    return [hit.seq for hit in page.hits]


# --- which events are messages ---------------------------------------------------------

_ROLE_OF: dict[type[Event], str | None] = {
    UserMessage: "user",
    AssistantMessage: "assistant",
    LLMResponded: "thought",
    AgentMessage: "agent",
    ExternalEvent: "event",
    TimerFired: "event",
    ToolReturned: "tool",
    AgentCreated: None,
    TimerSet: None,
    TimerCancelled: None,
    ToolCalled: None,
    StepLimited: None,
    ErrorEvent: None,
    CoreMemoryEdited: None,
    MemoryPressure: None,
    ContextCompacted: None,
    SourceAttached: None,
    HeartbeatsPaused: None,
    ContextRewound: None,
}


def test_every_event_type_is_either_a_message_of_one_role_or_explicitly_not() -> None:
    # A new event type fails here until someone decides what it is in recall.
    assert set(_ROLE_OF) == set(EVENT_CLASSES)
    assert {role for role in _ROLE_OF.values() if role} == set(RECALL_ROLES)


@settings(max_examples=300)
@given(any_event())
def test_message_of_gives_the_role_of_its_type_and_only_known_roles(event: Event) -> None:
    entry = message_of(event)
    expected = _ROLE_OF[type(event)]
    if isinstance(event, LLMResponded) and not event.content:
        expected = None
    if expected is None:
        assert entry is None
    else:
        assert entry is not None
        assert entry.role == expected
        assert event_type(event) in event_types_of([entry.role])
        assert message_of(event) == entry  # pure


@pytest.mark.parametrize(
    ("event", "expected"),
    [
        (UserMessage(agent="a", seq=1, at=0, text="hi"), RecallEntry(role="user", text="hi")),
        (
            AssistantMessage(agent="a", seq=1, at=0, text="hello", to="bob"),
            RecallEntry(role="assistant", text="hello"),
        ),
        (
            LLMResponded(agent="a", seq=1, at=0, model="m", content="I should greet"),
            RecallEntry(role="thought", text="I should greet"),
        ),
        (LLMResponded(agent="a", seq=1, at=0, model="m", content=""), None),
        (LLMResponded(agent="a", seq=1, at=0, model="m"), None),
        (
            AgentMessage(agent="a", seq=1, at=0, sender="grace", text="ping"),
            RecallEntry(role="agent", text="grace: ping"),
        ),
        (
            ExternalEvent(agent="a", seq=1, at=0, source="hook", text="deploy done", payload=[1]),
            RecallEntry(role="event", text="deploy done"),
        ),
        (
            ExternalEvent(agent="a", seq=1, at=0, source="hook", payload={"b": [1, 2.5, None]}),
            RecallEntry(role="event", text='{"b":[1,2.5,null]}'),
        ),
        (
            ExternalEvent(agent="a", seq=1, at=0, source="watch:inbox"),
            RecallEntry(role="event", text="(from watch:inbox)"),
        ),
        (
            TimerFired(agent="a", seq=1, at=0, timer_id="t-1", text="stand up"),
            RecallEntry(role="event", text="stand up"),
        ),
        (
            TimerFired(agent="a", seq=1, at=0, timer_id="t-1"),
            RecallEntry(role="event", text="timer t-1 fired"),
        ),
        (
            ToolReturned(agent="a", seq=1, at=0, call_id="c", name="f", status="ok", content="42"),
            RecallEntry(role="tool", text="42"),
        ),
        (ToolCalled(agent="a", seq=1, at=0, call_id="c", name="f", arguments="{}"), None),
        (ErrorEvent(agent="a", seq=1, at=0, kind="llm", message="down"), None),
    ],
)
def test_message_of_reads_each_kind_of_message(event: Event, expected: RecallEntry | None) -> None:
    assert message_of(event) == expected


def test_payload_that_json_cannot_hold_is_shown_as_python_would() -> None:
    payload = msgspec.msgpack.Ext(1, b"\x00")
    event = ExternalEvent(agent="a", seq=1, at=0, source="hook", payload=payload)
    assert message_of(event) == RecallEntry(role="event", text=repr(payload))


def test_event_types_of_roles() -> None:
    assert event_types_of(["event"]) == ("external_event", "timer_fired")
    assert event_types_of(["tool", "user"]) == ("tool_returned", "user_message")
    assert event_types_of([]) == ()


# --- tokens and query terms, as FTS5 sees them -------------------------------------


def _fts5_tokens(conn: sqlite3.Connection, text: str) -> list[str]:
    conn.execute("DELETE FROM t")
    conn.execute("INSERT INTO t(rowid, x) VALUES (1, ?)", (text,))
    return [term for (term,) in conn.execute("SELECT term FROM v ORDER BY offset")]


@pytest.fixture(scope="module")
def fts5() -> sqlite3.Connection:
    conn = sqlite3.connect(":memory:")
    conn.execute(
        "CREATE VIRTUAL TABLE t USING fts5(x, tokenize='porter unicode61 remove_diacritics 1')"
    )
    conn.execute("CREATE VIRTUAL TABLE v USING fts5vocab(t, 'instance')")
    return conn


_LATIN = "".join(map(chr, range(0x20, 0x180))) + string.ascii_letters * 4 + " " * 20


@settings(max_examples=400, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.one_of(st.text(string.printable), st.text(_LATIN), st.text(max_size=10)))
def test_stems_are_those_of_sqlite_fts5_for_latin_text(
    fts5: sqlite3.Connection, text: str
) -> None:
    ours = [stem(token) for token in tokenize(text)]
    if all(ord(c) < 0x180 for c in text):
        assert ours == _fts5_tokens(fts5, text)


@pytest.mark.parametrize(
    ("word", "expected"),
    [
        ("caresses", "caress"),
        ("caress", "caress"),
        ("ponies", "poni"),
        ("ties", "ti"),
        ("cats", "cat"),
        ("conflated", "conflat"),
        ("troubled", "troubl"),
        ("sized", "size"),
        ("filing", "file"),
        ("feed", "feed"),
        ("fixing", "fix"),
        ("hoping", "hope"),
        ("meetings", "meet"),
        ("running", "run"),
        ("hopping", "hop"),
        ("agreed", "agre"),
        ("happy", "happi"),
        ("relational", "relat"),
        ("generalizations", "gener"),
        ("controll", "control"),
        ("sky", "sky"),
        ("go", "go"),  # too short to stem
        ("x" * 65 + "ing", "x" * 65 + "ing"),  # too long to stem
    ],
)
def test_porter_stems(word: str, expected: str) -> None:
    assert stem(word) == expected


def test_tokens_fold_case_and_latin_accents_and_split_on_everything_else() -> None:
    assert tokenize('Café "NAÏVE"-déjà_vu (3.14) ΣΟΦΟΣ ß') == [
        "cafe",
        "naive",
        "deja",
        "vu",
        "3",
        "14",
        "σοφοσ",
        "ß",
    ]


def test_query_terms_drop_stop_words_and_repeated_stems() -> None:
    assert query_terms("What did we say about the budget meetings? Meeting, BUDGET!") == (
        "say",
        "budget",
        "meetings",
    )
    assert "the" in STOP_WORDS


def test_query_of_only_stop_words_keeps_them_and_one_without_words_has_no_terms() -> None:
    assert query_terms("To be, or not to be") == ("to", "be", "or", "not")
    assert query_terms(' "*" () :- ^ ') == ()
    assert query_terms("") == ()


def test_query_terms_are_capped() -> None:
    text = " ".join(f"word{i}" for i in range(100))
    assert query_terms(text) == tuple(f"word{i}" for i in range(MAX_QUERY_TERMS))


# --- the search contract, on every store ------------------------------------------

pytestmark = pytest.mark.anyio

CHAT = [
    "The weather is lovely today, let's walk in the park",
    "Can we move the quarterly budget meeting to Friday?",
    "I had pizza for lunch",
    "Budget cuts are coming next year",
    "Reminder: the dentist appointment is on Tuesday",
    "Meetings all day, I'm exhausted",
    "Our cat knocked the coffee over the laptop",
]


async def _chat(log: EventLog) -> None:
    await log.append([user(seq, text) for seq, text in enumerate(CHAT, start=1)])


async def test_empty_log_has_empty_recall(open_log: LogFactory) -> None:
    async with open_log() as log:
        assert await log.count_recall("ada") == 0
        page = await search(log, text="anything")
        assert page == RecallPage(hits=(), total=0, page=0, page_size=5)
        assert page.pages == 0
        assert (await search(log)).total == 0


async def test_text_search_ranks_the_obviously_relevant_message_first(
    open_log: LogFactory,
) -> None:
    async with open_log() as log:
        await _chat(log)
        page = await search(log, text="budget meeting on Friday")
        assert page.hits[0].seq == 2
        # Every message with a term; 4 and 6 tie (one term as rare, as long): newest first.
        assert [hit.seq for hit in page.hits] == [2, 6, 4]
        assert page.total == 3
        scores = [hit.score for hit in page.hits]
        assert scores == sorted(scores, reverse=True)
        assert all(score > 0 for score in scores)
        first = page.hits[0]
        assert (first.at, first.role, first.text) == (T0 + 2, "user", CHAT[1])


async def test_text_search_matches_other_forms_of_a_word_and_ignores_case(
    open_log: LogFactory,
) -> None:
    async with open_log() as log:
        await _chat(log)
        assert await every_hit(log, text="MEETINGS") == [6, 2]  # the shorter message first
        assert set(await every_hit(log, text="appointments dentists")) == {5}
        assert await every_hit(log, text="knocking") == [7]


async def test_stop_words_do_not_match_but_a_query_of_only_stop_words_does(
    open_log: LogFactory,
) -> None:
    async with open_log() as log:
        await _chat(log)
        assert await every_hit(log, text="the lunch") == [3]
        assert set(await every_hit(log, text="the")) == {1, 2, 5, 7}


async def test_no_text_lists_messages_newest_first(open_log: LogFactory) -> None:
    async with open_log() as log:
        await _chat(log)
        for text in (None, "", "?!", ' "" '):
            page = await search(log, text=text)
            assert [hit.seq for hit in page.hits] == [7, 6, 5, 4, 3], text
            assert page.total == 7
            assert all(hit.score == 0.0 for hit in page.hits)


async def test_search_sees_only_the_agents_own_messages(open_log: LogFactory) -> None:
    async with open_log() as log:
        await _chat(log)
        await log.append([user(1, "my budget is secret", agent="bob")])
        assert await every_hit(log, "bob", text="budget") == [1]
        assert 1 not in await every_hit(log, "ada", text="secret")
        assert await log.count_recall("bob") == 1
        assert await log.count_recall("ada") == len(CHAT)
        assert (await search(log, "carl", text="budget")).total == 0


async def test_role_filter(open_log: LogFactory) -> None:
    async with open_log() as log:
        await log.append(
            [
                user(1, "what time is the meeting"),
                LLMResponded(agent="ada", seq=2, at=T0 + 2, model="m", content="check calendar"),
                ToolReturned(
                    agent="ada",
                    seq=3,
                    at=T0 + 3,
                    call_id="c",
                    name="cal",
                    status="ok",
                    content="meeting at 10",
                ),
                said(4, "the meeting is at 10"),
                TimerFired(agent="ada", seq=5, at=T0 + 5, timer_id="t", text="meeting now"),
                ExternalEvent(agent="ada", seq=6, at=T0 + 6, source="cal", text="meeting moved"),
                AgentMessage(agent="ada", seq=7, at=T0 + 7, sender="bob", text="meeting?"),
                ToolCalled(agent="ada", seq=8, at=T0 + 8, call_id="c", name="f", arguments=""),
            ]
        )
        assert await log.count_recall("ada") == 7
        roles = {hit.seq: hit.role for hit in (await search(log, page_size=10)).hits}
        assert roles == {
            1: "user", 2: "thought", 3: "tool", 4: "assistant", 5: "event", 6: "event", 7: "agent"
        }  # fmt: skip
        for text in (None, "meeting"):
            assert await every_hit(log, text=text, roles=("user",)) == [1]
            assert sorted(await every_hit(log, text=text, roles=("event",))) == [5, 6]
            assert sorted(await every_hit(log, text=text, roles=("tool", "agent"))) == [3, 7]
            everyone = [1, 2, 3, 4, 5, 6, 7] if text is None else [1, 3, 4, 5, 6, 7]
            assert sorted(await every_hit(log, text=text, roles=RECALL_ROLES)) == everyone
        assert await every_hit(log, text="calendar", roles=("thought",)) == [2]
        assert await every_hit(log, text="calendar", roles=("user",)) == []


async def test_date_filter_is_inclusive_at_both_ends(open_log: LogFactory) -> None:
    async with open_log() as log:
        await log.append([user(seq, f"note {seq}", at=100.0 * seq) for seq in range(1, 11)])
        for text in (None, "note"):
            # With text, every note scores the same: ties go newest first too.
            assert await every_hit(log, text=text, start=300.0, end=500.0) == [5, 4, 3]
            assert sorted(await every_hit(log, text=text, start=950.0)) == [10]
            assert sorted(await every_hit(log, text=text, end=150.0)) == [1]
            assert await every_hit(log, text=text, start=1001.0) == []
            assert len(await every_hit(log, text=text, start=-math.inf, end=math.inf)) == 10


async def test_a_page_past_the_end_is_empty_but_still_counts(open_log: LogFactory) -> None:
    async with open_log() as log:
        await _chat(log)
        for text in (None, "budget meeting"):
            page = await search(log, text=text, page=10, page_size=2)
            assert page.hits == ()
            assert page.total == (7 if text is None else 3)
            assert page.pages == (4 if text is None else 2)
        page = await search(log, text="budget meeting", start=T0, end=T0 + 3, page=5)
        assert (page.hits, page.total) == ((), 1)
        for text in (None, "budget"):
            page = await search(log, text=text, page=10**30, page_size=MAX_PAGE_SIZE)
            assert (page.hits, page.total, page.page) == ((), 7 if text is None else 2, 10**30)


@pytest.mark.parametrize(
    "query",
    [
        {"page": -1},
        {"page_size": 0},
        {"page_size": -5},
        {"page_size": MAX_PAGE_SIZE + 1},
        {"roles": ("user", "system")},
        {"start": 10.0, "end": 5.0},
        {"start": math.nan},
        {"end": math.nan},
    ],
)
async def test_malformed_query_is_a_usage_error(
    open_log: LogFactory, query: dict[str, object]
) -> None:
    async with open_log() as log:
        await _chat(log)
        with pytest.raises(UsageError):
            await search(log, **query)
        with pytest.raises(UsageError):
            await search(log, "nobody", text="x", **query)


@_SETTINGS
@given(
    texts=st.lists(st.sampled_from(CHAT), min_size=0, max_size=30),
    page_size=st.integers(min_value=1, max_value=7),
    text=st.sampled_from([None, "budget meeting", "the", "cat coffee weather pizza"]),
)
async def test_pages_cover_every_hit_exactly_once_in_order(
    open_log: LogFactory, texts: list[str], page_size: int, text: str | None
) -> None:
    async with open_log() as log:
        if texts:
            await log.append([user(seq, t) for seq, t in enumerate(texts, start=1)])
        everything = await search(log, text=text, page_size=MAX_PAGE_SIZE)
        seen: list[int] = []
        for number in itertools.count():
            page = await search(log, text=text, page=number, page_size=page_size)
            assert page.total == everything.total
            assert page.pages == math.ceil(everything.total / page_size)
            if not page.hits:
                assert number == page.pages
                break
            assert len(page.hits) == min(page_size, everything.total - number * page_size)
            seen += [hit.seq for hit in page.hits]
        assert seen == [hit.seq for hit in everything.hits]
        assert len(set(seen)) == len(seen) == everything.total


_FRAGMENTS = [
    *"\"'()*:-+^{}[],.!?\\/~&|;=<>$@#%",
    *["NEAR", "AND", "OR", "NOT", "NEAR/2", " ", "\t", "\n", "\x00", "budget", "meeting"],
]
_HOSTILE = st.lists(st.one_of(st.sampled_from(_FRAGMENTS), st.characters()), max_size=20).map(
    "".join
)


@_SETTINGS
@given(text=_HOSTILE, roles=st.lists(st.sampled_from(RECALL_ROLES), unique=True))
async def test_no_query_text_ever_raises(
    open_log: LogFactory, text: str, roles: list[str]
) -> None:
    async with open_log() as log:
        await _chat(log)
        page = await search(log, text=text, roles=tuple(roles))
        assert page.total >= len(page.hits)
        assert all(hit.seq in range(1, len(CHAT) + 1) for hit in page.hits)


# --- recall stays in step with the log ------------------------------------------------


@st.composite
def _appends(draw: st.DrawFn) -> list[list[Event]]:
    """Appends of random events for two agents, some claiming a wrong (stale) seq."""
    next_seq = {"ada": 1, "bob": 1}
    plan: list[list[Event]] = []
    for _ in range(draw(st.integers(min_value=0, max_value=10))):
        agent = draw(st.sampled_from(sorted(next_seq)))
        stale = draw(st.booleans()) and next_seq[agent] > 1
        first = draw(st.integers(1, next_seq[agent] - 1)) if stale else next_seq[agent]
        batch: list[Event] = []
        for i, event in enumerate(draw(st.lists(any_event(), min_size=1, max_size=4))):
            batch.append(msgspec.structs.replace(event, agent=agent, seq=first + i))
        if not stale:
            next_seq[agent] += len(batch)
        plan.append(batch)
    return plan


@_SETTINGS
@given(plan=_appends())
async def test_recall_holds_exactly_the_messages_of_the_log_even_after_conflicts(
    open_log: LogFactory, plan: list[list[Event]]
) -> None:
    async with open_log() as log:
        for batch in plan:
            with suppress(ConflictError):
                await log.append(batch)
        for agent in ("ada", "bob"):
            messages = [e for e in await log.read(agent) if message_of(e) is not None]
            assert await log.count_recall(agent) == len(messages)
            page = await search(log, agent, page_size=MAX_PAGE_SIZE)
            assert [hit.seq for hit in page.hits] == [e.seq for e in reversed(messages)]
            for hit, event in zip(page.hits, reversed(messages), strict=True):
                entry = message_of(event)
                assert entry is not None
                assert (hit.at, hit.role, hit.text) == (event.at, entry.role, entry.text)


# --- the memory log answers as the SQLite log does --------------------------------

_WORDS = [
    "budget", "meeting", "meetings", "friday", "coffee", "cat", "cats", "running", "run",
    "happy", "happily", "connection", "connected", "the", "a", "zebra", "quantum", "pizza",
]  # fmt: skip


_MAKERS: dict[str, Callable[[str, int, float, str], Event]] = {
    "user": lambda a, s, t, x: UserMessage(agent=a, seq=s, at=t, text=x),
    "assistant": lambda a, s, t, x: AssistantMessage(agent=a, seq=s, at=t, text=x),
    "thought": lambda a, s, t, x: LLMResponded(agent=a, seq=s, at=t, model="m", content=x or None),
    "agent": lambda a, s, t, x: AgentMessage(agent=a, seq=s, at=t, sender="eve", text=x),
    "external": lambda a, s, t, x: ExternalEvent(agent=a, seq=s, at=t, source="hook", text=x),
    "timer": lambda a, s, t, x: TimerFired(agent=a, seq=s, at=t, timer_id="t", text=x),
    "tool": lambda a, s, t, x: ToolReturned(
        agent=a, seq=s, at=t, call_id="c", name="f", status="ok", content=x
    ),
    "other": lambda a, s, t, x: StepLimited(agent=a, seq=s, at=t, steps=3),
}


@st.composite
def _logs(draw: st.DrawFn) -> list[Event]:
    events: list[Event] = []
    seqs = {"ada": 0, "bob": 0}
    for _ in range(draw(st.integers(0, 25))):
        agent = draw(st.sampled_from(["ada", "bob"]))
        seqs[agent] += 1
        text = " ".join(draw(st.lists(st.sampled_from(_WORDS), max_size=8)))
        at = float(draw(st.integers(0, 20)))  # few distinct times: ties and bounds get hit
        events.append(
            _MAKERS[draw(st.sampled_from(sorted(_MAKERS)))](agent, seqs[agent], at, text)
        )
    return events


_queries = st.builds(
    RecallQuery,
    text=st.one_of(st.none(), st.lists(st.sampled_from(_WORDS), max_size=4).map(" ".join)),
    roles=st.lists(st.sampled_from(RECALL_ROLES), unique=True, max_size=3).map(tuple),
    start=st.one_of(st.none(), st.integers(0, 20).map(float)),
    end=st.one_of(st.none(), st.integers(0, 20).map(float)),
    page=st.integers(0, 3),
    page_size=st.integers(1, 6),
).filter(lambda q: q.start is None or q.end is None or q.start <= q.end)


@asynccontextmanager
async def _both(tmp_path: Path, events: Sequence[Event]) -> AsyncIterator[tuple[EventLog, ...]]:
    async with AsyncExitStack() as stack:
        sqlite = await stack.enter_async_context(
            open_sqlite_log(tmp_path / f"both-{next(_counter)}.sqlite3", durability="normal")
        )
        logs = (MemoryEventLog(), sqlite)
        for log in logs:
            for event in events:  # one append per event: as an agent writes
                await log.append([event])
        yield logs


_counter = itertools.count()


@_SETTINGS
@given(events=_logs(), queries=st.lists(_queries, min_size=1, max_size=6))
async def test_memory_and_sqlite_logs_give_the_same_pages(
    tmp_path: Path, events: list[Event], queries: list[RecallQuery]
) -> None:
    async with _both(tmp_path, events) as (memory, sqlite):
        for agent in ("ada", "bob"):
            assert await memory.count_recall(agent) == await sqlite.count_recall(agent)
            for query in queries:
                ours = await memory.search_recall(agent, query)
                theirs = await sqlite.search_recall(agent, query)
                assert (ours.total, ours.page, ours.page_size) == (
                    theirs.total,
                    theirs.page,
                    theirs.page_size,
                )
                assert [(h.seq, h.at, h.role, h.text) for h in ours.hits] == [
                    (h.seq, h.at, h.role, h.text) for h in theirs.hits
                ], query
                assert [h.score for h in ours.hits] == pytest.approx(
                    [h.score for h in theirs.hits], rel=1e-12, abs=1e-15
                )


@_SETTINGS
@given(events=_logs(), query=_queries.map(lambda q: msgspec.structs.replace(q, text=None)))
async def test_memory_and_sqlite_agree_on_the_set_of_hits_for_role_and_date_queries(
    tmp_path: Path, events: list[Event], query: RecallQuery
) -> None:
    async with _both(tmp_path, events) as logs:
        everything = msgspec.structs.replace(query, page=0, page_size=MAX_PAGE_SIZE)
        for agent in ("ada", "bob"):
            found = [
                {hit.seq for hit in (await log.search_recall(agent, everything)).hits}
                for log in logs
            ]
            assert found[0] == found[1]


# --- the benchmark script -------------------------------------------------------------


def test_bench_recall_measures_a_small_log() -> None:
    path = Path(__file__).resolve().parents[2] / "scripts" / "_bench_recall.py"
    spec = importlib.util.spec_from_file_location("_bench_recall", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    try:
        spec.loader.exec_module(module)
        measure = cast("Callable[..., float]", module.recall_search_p50_ms)
        assert measure(300, searches=5) > 0
    finally:
        del sys.modules[spec.name]
