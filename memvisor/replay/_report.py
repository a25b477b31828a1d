"""The HTML report of one agent's log (``memvisor report``): one self-contained page. Pure.

```
events ──► one fold (state before and after each event) ──► ReportData
             ├─ turns and pages      a turn opens at each input (user message, external
             │                       event, agent message, timer fired); pages group turns
             ├─ fill points          one per llm_responded: the server's prompt_tokens,
             │                       and the local estimate of the prompt it was given
             ├─ compaction / pressure marks (context_compacted, memory_pressure)
             ├─ block changes        core memory, only where a block changes
             └─ the events themselves
ReportData ──► JSON, every "<" written \\u003c ──► <script type="application/json">
page.html + style.css + app.js (package data, read once) ──► one HTML text
```

Invariants:

* Pure: the same events and configuration give the same page, byte for byte (no
  clock, no I/O but reading the template shipped with memvisor).
* Self-contained: the page loads nothing. Its CSS and JS are inline, it names no
  font, image or URL, and its Content-Security-Policy (``default-src 'none'``)
  makes the browser refuse any load, so it opens offline and from an e-mail
  attachment alike.
* Log text never becomes markup. It travels as JSON inside a
  ``<script type="application/json">`` element, where no ``<`` can close the
  element, and the page's script puts it in the DOM with ``textContent`` only.
* Bounded work at any size: the fold is one pass; the local estimate (the costly
  part: compiling the prompt) runs on every ``estimate_stride``-th step, and on
  every ``estimate_stride``-th of the steps without reported usage, so at most
  about twice :data:`MAX_ESTIMATES` times (on every step of a log of up to
  :data:`MAX_ESTIMATES` steps). The page renders one page of the timeline at a
  time (:data:`PAGE_EVENTS`, :data:`PAGE_TURNS`).
"""

import functools
import html
import math
import re
from collections.abc import Sequence
from importlib import resources
from typing import Literal, assert_never

import msgspec

from .._exceptions import UsageError
from ..events import (
    AgentCreated,
    AgentMessage,
    AssistantMessage,
    ContextCompacted,
    ContextRewound,
    CoreMemoryEdited,
    ErrorEvent,
    Event,
    ExternalEvent,
    HeartbeatsPaused,
    LLMResponded,
    MemoryPressure,
    SourceAttached,
    StepLimited,
    TimerCancelled,
    TimerFired,
    TimerSet,
    ToolCalled,
    ToolReturned,
    UserMessage,
)
from ..memory import AgentState, Block, CompactionConfig, compile_context, fold

__all__ = [
    "CATEGORIES",
    "MAX_ESTIMATES",
    "PAGE_EVENTS",
    "PAGE_TURNS",
    "BlockChange",
    "Category",
    "CompactionMark",
    "FillPoint",
    "PressureMark",
    "ReportData",
    "TimelinePage",
    "TurnSpan",
    "render_report",
    "report_data",
]

MAX_ESTIMATES = 2000
"""Up to this many steps, every step gets the local estimate; past it, evenly spaced
ones do (a chart a few thousand pixels wide shows no more)."""
PAGE_TURNS = 20
"""Turns on one page of the timeline, at most."""
PAGE_EVENTS = 300
"""Events on one page of the timeline, at most (a longer turn spans several pages)."""

Category = Literal[
    "setup",
    "user",
    "external",
    "agent",
    "timer",
    "thought",
    "call",
    "result",
    "reply",
    "memory",
    "context",
    "error",
]
"""What an event is, for its colour and the timeline's filters."""

CATEGORIES: dict[str, Category] = {
    "agent_created": "setup",
    "user_message": "user",
    "external_event": "external",
    "agent_message": "agent",
    "timer_set": "timer",
    "timer_cancelled": "timer",
    "timer_fired": "timer",
    "heartbeats_paused": "timer",
    "llm_responded": "thought",
    "tool_called": "call",
    "tool_returned": "result",
    "assistant_message": "reply",
    "core_memory_edited": "memory",
    "source_attached": "memory",
    "memory_pressure": "context",
    "context_compacted": "context",
    "context_rewound": "context",
    "step_limited": "error",
    "error": "error",
}
"""The category of every event type (a test checks that none is missing)."""

_DEFAULT_COMPACTION = CompactionConfig()
"""What agents run with (``TurnConfig().compaction``)."""

_OPENERS = (UserMessage, ExternalEvent, AgentMessage, TimerFired)
"""The inputs that make an agent step: each opens a turn."""


class TurnSpan(msgspec.Struct, frozen=True, kw_only=True):
    """The events from one input to the next (turn 0: what came before the first input)."""

    first_seq: int
    last_seq: int
    """Inclusive."""


class TimelinePage(msgspec.Struct, frozen=True, kw_only=True):
    """One page of the timeline: whole turns, or part of one very long turn."""

    first_seq: int
    last_seq: int
    """Inclusive."""
    first_turn: int
    last_turn: int
    """Inclusive; indexes into :attr:`ReportData.turns`."""


class FillPoint(msgspec.Struct, frozen=True, kw_only=True):
    """How full the context window was for one LLM call (an ``llm_responded``)."""

    seq: int
    at: float
    reported: int | None
    """Prompt tokens the server reported (``None``: it reported none)."""
    estimated: int | None
    """The local estimate of the prompt the call was given (``None``: not sampled, on
    a log of more than :data:`MAX_ESTIMATES` steps)."""


class CompactionMark(msgspec.Struct, frozen=True, kw_only=True):
    """A ``context_compacted``: where the fill dropped."""

    seq: int
    through_seq: int
    evicted: int
    tokens_before: int
    tokens_after: int


class PressureMark(msgspec.Struct, frozen=True, kw_only=True):
    """A ``memory_pressure`` alert: the prompt passed the warning line."""

    seq: int
    prompt_tokens: int


class BlockChange(msgspec.Struct, frozen=True, kw_only=True):
    """A core memory block as it is from ``seq`` on (``None``: it is gone)."""

    seq: int
    label: str
    block: Block | None


class ReportData(msgspec.Struct, frozen=True, kw_only=True):
    """Everything the page shows, as it is embedded in it (JSON)."""

    agent: str
    model: str | None
    context_window: int
    """Of the agent's last setup (``agent_created``)."""
    warning_fraction: float
    flush_fraction: float
    estimate_stride: int
    """The estimate is made on every this-many-th step, and on every this-many-th step
    without reported usage; 1 (every step) on logs of up to :data:`MAX_ESTIMATES` steps."""
    categories: dict[str, Category]
    turns: tuple[TurnSpan, ...]
    pages: tuple[TimelinePage, ...]
    points: tuple[FillPoint, ...]
    compactions: tuple[CompactionMark, ...]
    pressures: tuple[PressureMark, ...]
    memory: tuple[BlockChange, ...]
    """Block changes in log order; the memory at seq ``s`` is, per label, its last
    change at or before ``s``."""
    events: tuple[Event, ...]


class _Builder:
    """Accumulates the report during the fold (a local of :func:`report_data`)."""

    def __init__(self, estimate_stride: int) -> None:
        self.stride = estimate_stride
        self.steps = 0
        self.unreported = 0
        self.turns: list[TurnSpan] = []
        self.points: list[FillPoint] = []
        self.compactions: list[CompactionMark] = []
        self.pressures: list[PressureMark] = []
        self.memory: list[BlockChange] = []

    def add(self, event: Event, before: AgentState, after: AgentState) -> None:
        self._add_to_turn(event)
        match event:
            case LLMResponded():
                self.points.append(self._fill_point(event, before))
            case ContextCompacted():
                self.compactions.append(_compaction_mark(event))
            case MemoryPressure():
                self.pressures.append(
                    PressureMark(seq=event.seq, prompt_tokens=event.prompt_tokens)
                )
            case AgentCreated() | CoreMemoryEdited():
                self.memory += _block_changes(event.seq, before, after)
            case (
                UserMessage()
                | ExternalEvent()
                | AgentMessage()
                | TimerSet()
                | TimerCancelled()
                | TimerFired()
                | ToolCalled()
                | ToolReturned()
                | AssistantMessage()
                | StepLimited()
                | ErrorEvent()
                | SourceAttached()
                | HeartbeatsPaused()
                | ContextRewound()
            ):
                pass  # in the timeline only
            case _:
                assert_never(event)

    def _add_to_turn(self, event: Event) -> None:
        if not self.turns or isinstance(event, _OPENERS):
            self.turns.append(TurnSpan(first_seq=event.seq, last_seq=event.seq))
        else:
            self.turns[-1] = msgspec.structs.replace(self.turns[-1], last_seq=event.seq)

    def _fill_point(self, event: LLMResponded, before: AgentState) -> FillPoint:
        reported = event.usage.prompt_tokens or None
        sampled = self.steps % self.stride == 0
        if reported is None:
            # Steps without a report get the estimate instead, sampled apart so
            # that they too cost at most MAX_ESTIMATES compilations.
            sampled = self.unreported % self.stride == 0
            self.unreported += 1
        self.steps += 1
        estimated = None
        if sampled:
            # The state before the response is the one its prompt was compiled from.
            context = compile_context(before, archival_count=before.archival_count)
            estimated = context.estimated_tokens
        return FillPoint(seq=event.seq, at=event.at, reported=reported, estimated=estimated)


def _compaction_mark(event: ContextCompacted) -> CompactionMark:
    return CompactionMark(
        seq=event.seq,
        through_seq=event.through_seq,
        evicted=event.evicted,
        tokens_before=event.tokens_before,
        tokens_after=event.tokens_after,
    )


def _block_changes(seq: int, before: AgentState, after: AgentState) -> list[BlockChange]:
    """The blocks ``seq`` changed, created or removed (a second setup can remove some)."""
    old = {block.label: block for block in before.memory.blocks}
    changes = [
        BlockChange(seq=seq, label=block.label, block=block)
        for block in after.memory.blocks
        if old.get(block.label) != block
    ]
    kept = {block.label for block in after.memory.blocks}
    changes += (
        BlockChange(seq=seq, label=label, block=None) for label in old if label not in kept
    )
    return changes


def report_data(
    name: str, events: Sequence[Event], *, compaction: CompactionConfig = _DEFAULT_COMPACTION
) -> ReportData:
    """Fold ``events`` (one agent's whole log, or its first part) once into what the page shows.

    Args:
        name: The agent's name, for the title.
        events: Its events from seq 1, in order.
        compaction: The thresholds the agent ran with (the warning and flush lines).

    Raises:
        UsageError: no events, or they are not one agent's log from seq 1 without gaps.
    """
    if not events:
        raise UsageError(f"agent {name!r} has no events to report")
    steps = sum(isinstance(event, LLMResponded) for event in events)
    builder = _Builder(estimate_stride=max(1, math.ceil(steps / MAX_ESTIMATES)))
    state = AgentState()
    for event in events:
        before, state = state, fold(state, event)
        builder.add(event, before, state)
    return ReportData(
        agent=name,
        model=state.model,
        context_window=state.context_window,
        warning_fraction=compaction.warning_fraction,
        flush_fraction=compaction.flush_fraction,
        estimate_stride=builder.stride,
        categories=CATEGORIES,
        turns=tuple(builder.turns),
        pages=_pages(builder.turns),
        points=tuple(builder.points),
        compactions=tuple(builder.compactions),
        pressures=tuple(builder.pressures),
        memory=tuple(builder.memory),
        events=tuple(events),
    )


def _pages(turns: Sequence[TurnSpan]) -> tuple[TimelinePage, ...]:
    """Whole turns per page, up to :data:`PAGE_TURNS` turns and :data:`PAGE_EVENTS` events;
    a turn longer than that alone is cut into pages of :data:`PAGE_EVENTS`."""
    pages: list[TimelinePage] = []
    start = 0  # the first turn of the page being filled
    for i, turn in enumerate(turns):
        size = turn.last_seq - turns[start].first_seq + 1
        if i > start and (i - start >= PAGE_TURNS or size > PAGE_EVENTS):
            pages.append(_page(turns, start, i - 1))
            start = i
        if turn.last_seq - turn.first_seq + 1 > PAGE_EVENTS:
            pages += _split_turn(turn, i)
            start = i + 1
    if start < len(turns):
        pages.append(_page(turns, start, len(turns) - 1))
    return tuple(pages)


def _page(turns: Sequence[TurnSpan], first: int, last: int) -> TimelinePage:
    return TimelinePage(
        first_seq=turns[first].first_seq,
        last_seq=turns[last].last_seq,
        first_turn=first,
        last_turn=last,
    )


def _split_turn(turn: TurnSpan, index: int) -> list[TimelinePage]:
    return [
        TimelinePage(
            first_seq=seq,
            last_seq=min(seq + PAGE_EVENTS - 1, turn.last_seq),
            first_turn=index,
            last_turn=index,
        )
        for seq in range(turn.first_seq, turn.last_seq + 1, PAGE_EVENTS)
    ]


def render_report(
    name: str, events: Sequence[Event], *, compaction: CompactionConfig = _DEFAULT_COMPACTION
) -> str:
    """The report of agent ``name``'s log as one self-contained HTML page.

    It shows the turns as a timeline, a chart of the context window's fill with
    the warning and flush lines and the compactions, and core memory as it was
    at the event selected in either.

    Args:
        name: The agent's name, for the title.
        events: Its events from seq 1, in order.
        compaction: The thresholds the agent ran with (the warning and flush lines).

    Raises:
        UsageError: no events, or they are not one agent's log from seq 1 without gaps.
    """
    data = report_data(name, events, compaction=compaction)
    return _fill_template(title=f"{name} · memvisor report", data=_embed_json(data))


def _embed_json(data: ReportData) -> str:
    """``data`` as JSON that can sit inside a ``<script>`` element: every ``<`` (which can
    only occur inside a JSON string) is written ``\\u003c``, so no ``</script>`` or
    ``<!--`` in the log can end or change the element."""
    return _encoder.encode(data).replace(b"<", b"\\u003c").decode()


_encoder = msgspec.json.Encoder()
_PLACEHOLDER = re.compile(r"\{\{(title|style|script|data)\}\}")


def _fill_template(*, title: str, data: str) -> str:
    """The page with its title (escaped), style, script and ``data`` (already embeddable).

    One pass over the template: text put in is never scanned for placeholders.
    """
    page, style, script = _template()
    parts = {
        "title": html.escape(title),
        "style": style,
        "script": script,
        "data": data,
    }
    return _PLACEHOLDER.sub(lambda match: parts[match[1]], page)


@functools.cache
def _template() -> tuple[str, str, str]:
    """The page, its style and its script, as shipped in ``_report_template/``."""
    folder = resources.files(__package__).joinpath("_report_template")
    page, style, script = (
        folder.joinpath(name).read_text(encoding="utf-8")
        for name in ("page.html", "style.css", "app.js")
    )
    return page, style, script
