"""What ``agents show`` and ``replay`` report of an agent: its folded state as data
(the ``--json`` objects) and as lines of text. Pure: no log, no I/O.
"""

import msgspec

from .events import AgentCreated, Event, LLMResponded
from .memory import AgentState, compile_context
from .memory._messages import format_time

__all__ = [
    "AgentListing",
    "AgentReport",
    "BlockReport",
    "TimerReport",
    "TokenReport",
    "agent_report",
    "format_report",
]


# --- what list and show report (their --json objects) -------------------------------


class AgentListing(msgspec.Struct, frozen=True, kw_only=True):
    """One line of ``agents list``."""

    name: str
    model: str | None
    """The model the agent was created with (``None``: chosen when it runs)."""
    events: int
    messages: int
    """Messages in recall."""
    last_activity: float
    """When its last event was logged, seconds since the epoch."""


class BlockReport(msgspec.Struct, frozen=True, kw_only=True):
    """A core memory block."""

    label: str
    chars: int
    limit: int
    read_only: bool
    shared: str | None
    value: str


class TokenReport(msgspec.Struct, frozen=True, kw_only=True):
    """Token figures of an agent."""

    estimated_prompt: int
    """Estimated prompt tokens of the context compiled now (messages, no function schemas)."""
    context_window: int
    last_prompt: int | None
    """Prompt tokens the server reported for the last response (``None``: none since the
    context last changed shape)."""
    used: int
    """Tokens used over every LLM call in the log (prompt and completion)."""
    llm_calls: int


class TimerReport(msgspec.Struct, frozen=True, kw_only=True):
    """An armed timer."""

    timer_id: str
    due: float
    every: float | None
    text: str


class AgentReport(msgspec.Struct, frozen=True, kw_only=True):
    """What ``agents show`` tells about one agent."""

    name: str
    model: str | None
    events: int
    created_at: float | None
    last_activity: float | None
    blocks: tuple[BlockReport, ...]
    messages_in_context: int
    messages_in_recall: int
    archival_passages: int
    tokens: TokenReport
    summary: str | None
    timers: tuple[TimerReport, ...]
    sources: tuple[str, ...]
    compactions: int


def agent_report(name: str, events: list[Event], state: AgentState) -> AgentReport:
    """What ``agents show`` prints, from the agent's events and their fold (pure)."""
    responses = [e for e in events if isinstance(e, LLMResponded)]
    used = sum(
        r.usage.total_tokens or r.usage.prompt_tokens + r.usage.completion_tokens
        for r in responses
    )
    context = compile_context(state, archival_count=state.archival_count)
    return AgentReport(
        name=name,
        model=state.model,
        events=state.last_seq,
        created_at=next((e.at for e in events if isinstance(e, AgentCreated)), None),
        last_activity=events[-1].at if events else None,
        blocks=tuple(
            BlockReport(
                label=b.label,
                chars=len(b.value),
                limit=b.limit,
                read_only=b.read_only,
                shared=b.shared,
                value=b.value,
            )
            for b in state.memory.blocks
        ),
        messages_in_context=len(state.queue),
        messages_in_recall=state.recall_count,
        archival_passages=state.archival_count,
        tokens=TokenReport(
            estimated_prompt=context.estimated_tokens,
            context_window=state.context_window,
            last_prompt=state.last_prompt_tokens,
            used=used,
            llm_calls=len(responses),
        ),
        summary=state.summary,
        timers=tuple(
            TimerReport(timer_id=t.timer_id, due=t.due, every=t.every, text=t.text)
            for t in state.timers
        ),
        sources=state.sources,
        compactions=state.compactions,
    )


# --- the commands ----------------------------------------------------------------------


def format_report(report: AgentReport) -> list[str]:
    """``agents show`` as lines of text."""
    tokens = report.tokens
    percent = 100 * tokens.estimated_prompt / max(tokens.context_window, 1)
    last = "none yet" if tokens.last_prompt is None else f"{tokens.last_prompt:,}"
    lines = [
        f"agent {report.name}",
        f"  model        {report.model or 'not set (chosen with --model or MEMVISOR_MODEL)'}",
        f"  events       {report.events:,}"
        + (f", created {format_time(report.created_at)}" if report.created_at else "")
        + (f", last {format_time(report.last_activity)}" if report.last_activity else ""),
        "core memory",
    ]
    for block in report.blocks:
        rules = "".join(
            [
                ", read-only" if block.read_only else "",
                f", shared as {block.shared!r}" if block.shared else "",
            ]
        )
        lines.append(f"  {block.label}  {block.chars}/{block.limit} chars{rules}")
        lines += [f"    {line}" for line in block.value.splitlines()] or ["    (empty)"]
    lines += [
        "messages",
        f"  in context window  {report.messages_in_context:,}",
        f"  in recall          {report.messages_in_recall:,}",
        f"  archival passages  {report.archival_passages:,}",
        "tokens",
        f"  prompt now (est.)  {tokens.estimated_prompt:,} of {tokens.context_window:,}"
        f" in the context window ({percent:.0f}%)",
        f"  last reported      {last}",
        f"  used in all        {tokens.used:,} over {tokens.llm_calls:,} LLM calls",
        "summary",
        *(f"  {line}" for line in (report.summary or "(none)").splitlines()),
        "timers",
    ]
    if not report.timers:
        lines.append("  (none)")
    for timer in report.timers:
        every = f", every {timer.every:g}s" if timer.every is not None else ""
        lines.append(f"  {timer.timer_id}  due {format_time(timer.due)}{every}  {timer.text}")
    lines += [
        f"sources      {', '.join(report.sources) or '(none)'}",
        f"compactions  {report.compactions:,}",
    ]
    return lines
