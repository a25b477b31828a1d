"""The functions every agent has: MemGPT's set, ``set_timer``, messaging; and user tools.

```
function                   reads                      answers with (effects are drafts)
send_message               -                          "Sent."            + AssistantMessage
pause_heartbeats           ctx.now                    when they resume   + HeartbeatsPaused
core_memory_append         ctx.state.memory           chars used/limit   + CoreMemoryEdited
core_memory_replace        ctx.state.memory           chars used/limit   + CoreMemoryEdited
conversation_search        ctx.log (recall)           a page of messages
conversation_search_date   ctx.log (recall)           a page of messages
archival_memory_insert     ctx.archival()  (writes)   "Saved ..."
archival_memory_search     ctx.archival(), sources    a page of passages
set_timer                  ctx.now                    when it will fire  + TimerSet
send_message_to_agent      ctx.directory              "Sent to X."       + AssistantMessage(to)
ask_agent                  ctx.directory, ctx.now     the request id     + AssistantMessage(to,
                                                                           request_id) + TimerSet
broadcast                  ctx.directory              who it reached     + AssistantMessage(to)
                                                                           per agent with the tag
```

Messaging: a message to another agent is an ``assistant_message`` with ``to``
in the sender's log; once it is durable the agent delivers it, and the
recipient logs it as an ``agent_message`` (``_turn.outgoing`` says how). An ask
gets the id ``ask-<seq of the call>`` and a timer of the same name that wakes
the asker when no answer comes in time; the answer is what the asked agent
says to the asker in the turn the ask started (``send_message`` goes to it
then), and it cancels that timer. Unknown names and tags are refused with the
list of agents that exist.

Invariants:

* The names and argument names are MemGPT's, exactly (models are trained on
  them); every function but ``send_message``, ``pause_heartbeats``,
  ``set_timer`` and ``ask_agent`` (whose turn ends: it waits for the answer)
  also takes ``request_heartbeat``.
* A function changes nothing itself: what it changes is an effect the agent
  logs, except archival inserts, which are idempotent: the passage id is the
  call's ``f"{agent}:{seq}"``, so running a logged call again stores nothing new.
* Ids come from the call's ``seq`` (``timer-{seq}``, ``ask-{seq}``, ``{agent}:{seq}``) and
  times from the call's ``at``, never from a clock: replaying a call gives the
  same result.
* Bad arguments the schema cannot catch (an empty message, a date in the wrong
  format, a timer too far away) raise :class:`ToolError` with a message that
  says how to call again.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from datetime import date
from typing import ParamSpec, TypeVar

from .._exceptions import UsageError
from ..events import AssistantMessage, HeartbeatsPaused, RecallQuery, TimerSet
from ..llm._functions import FunctionRegistry, FunctionSpec, function_spec
from ..memory._archival_format import format_archival_page
from ..memory._archival_model import Passage
from ..memory._core import (
    ARCHIVAL_INSERT,
    CORE_APPEND,
    CORE_REPLACE,
    EditOutcome,
    EditRejected,
    core_append,
    core_replace,
)
from ..memory._messages import format_time
from ..memory._recall import day_bounds, format_recall_page
from ._toolkit import Directory, ToolContext, ToolError, ToolResult
from ._tools import on_loop

__all__ = [
    "BUILTIN_FUNCTIONS",
    "MAX_LISTED_AGENTS",
    "MAX_PAUSE_MINUTES",
    "MAX_TIMER_SECONDS",
    "PAGE_SIZE",
    "archival_memory_insert",
    "archival_memory_search",
    "ask_agent",
    "broadcast",
    "builtin_registry",
    "conversation_search",
    "conversation_search_date",
    "core_memory_append",
    "core_memory_replace",
    "pause_heartbeats",
    "send_message",
    "send_message_to_agent",
    "set_timer",
    "user_tool",
]

P = ParamSpec("P")
R = TypeVar("R")

PAGE_SIZE = 5
"""Hits per page of every search function."""
MAX_TIMER_SECONDS = 366 * 86_400
"""The furthest a timer may be set: a year, leap day included."""
MAX_PAUSE_MINUTES = 360
"""The longest ``pause_heartbeats`` may pause: six hours."""
MAX_LISTED_AGENTS = 50
"""Agents named, at most, when a refusal lists who exists (a population may be large)."""

_DATE_RE = re.compile(r"(\d{4}-\d{2}-\d{2})(?:[T ].*)?", re.ASCII | re.DOTALL)


# --- talking and pausing ----------------------------------------------------------------


@on_loop
def send_message(ctx: ToolContext, message: str) -> ToolResult:
    """Send a message to the user. This is the only way the user sees what you write:
    everything else you produce is private thinking. When another agent asked you
    something (an agent_message with a request_id), your message goes to that agent
    instead, as your answer.

    Args:
        message: The text the user will read. Any Unicode, emoji included.
    """
    if not message.strip():
        raise ToolError("The message is empty: write the text the user should read.")
    ask = ctx.reply_to
    if ask is not None:
        effect = AssistantMessage(agent=ctx.agent, seq=0, at=0.0, text=message, to=ask.sender)
        return ToolResult(
            content=f"Sent to {ask.sender}, as your answer to their request {ask.request_id}.",
            effects=(effect,),
        )
    effect = AssistantMessage(agent=ctx.agent, seq=0, at=0.0, text=message)
    return ToolResult(content="Sent.", effects=(effect,))


@on_loop
def pause_heartbeats(ctx: ToolContext, minutes: int) -> ToolResult:
    """Stop timed heartbeats from waking you for a while. Timers that go off during
    the pause are recorded but do not wake you; messages from the user and other
    events still do.

    Args:
        minutes: How long to pause, from 1 to 360 minutes.
    """
    if not 1 <= minutes <= MAX_PAUSE_MINUTES:
        raise ToolError(
            f"minutes must be from 1 to {MAX_PAUSE_MINUTES} (six hours), not {minutes}."
        )
    until = ctx.now + minutes * 60
    effect = HeartbeatsPaused(agent=ctx.agent, seq=0, at=0.0, until=until)
    return ToolResult(
        content=f"Heartbeats paused for {minutes} minutes, until {format_time(until)}.",
        effects=(effect,),
    )


# --- core memory ------------------------------------------------------------------------


@on_loop
def core_memory_append(ctx: ToolContext, name: str, content: str) -> ToolResult:
    """Add text to the end of one of your core memory blocks, on a new line. Core
    memory is always in front of you, so keep in it what you need in every
    conversation; each block has a character limit.

    Args:
        name: The label of the block, exactly as shown in your core memory
            (for example "human" or "persona").
        content: The text to add.
    """
    return _edit_result(ctx, core_append(ctx.state.memory, name, content), "Appended to")


@on_loop
def core_memory_replace(
    ctx: ToolContext, name: str, old_content: str, new_content: str
) -> ToolResult:
    """Replace one passage of a core memory block with new text. old_content must
    appear exactly once in the block, character for character; include more of
    the surrounding text if it appears more than once.

    Args:
        name: The label of the block, exactly as shown in your core memory
            (for example "human" or "persona").
        old_content: The exact text to replace, copied from the block.
        new_content: The text to put in its place. Leave it empty to delete
            old_content.
    """
    outcome = core_replace(ctx.state.memory, name, old_content, new_content)
    return _edit_result(ctx, outcome, "Replaced a passage in")


def _edit_result(ctx: ToolContext, outcome: EditOutcome, done: str) -> ToolResult:
    if isinstance(outcome, EditRejected):
        raise ToolError(outcome.message)
    block = outcome.block
    effect = outcome.event(agent=ctx.agent, seq=0, at=0.0)
    return ToolResult(
        content=(
            f"{done} block '{block.label}': it now holds {len(block.value):,}"
            f" of {block.limit:,} characters."
        ),
        effects=(effect,),
    )


# --- recall -----------------------------------------------------------------------------


async def conversation_search(ctx: ToolContext, query: str, page: int | None = 0) -> str:
    """Search everything said in your conversations, including messages no longer
    in your context, for words. The best matches come first, five per page.

    Args:
        query: The words to look for.
        page: Which page of results: 0 (the default) for the first, 1 for the next.
    """
    if not query.strip():
        raise ToolError(
            "The query is empty: give the words to search for, or use"
            " conversation_search_date to list the messages of given days."
        )
    found = await ctx.log.search_recall(
        ctx.agent, RecallQuery(text=query, page=_page(page), page_size=PAGE_SIZE)
    )
    return format_recall_page(found)


async def conversation_search_date(
    ctx: ToolContext, start_date: str, end_date: str, page: int | None = 0
) -> str:
    """List the messages of your conversations from a range of days (UTC), both
    days included, newest first, five per page.

    Args:
        start_date: The first day, written YYYY-MM-DD (for example 2025-01-31).
        end_date: The last day, written YYYY-MM-DD; the same as start_date for
            a single day.
        page: Which page of results: 0 (the default) for the first, 1 for the next.
    """
    start, end = day_bounds(_date("start_date", start_date), _date("end_date", end_date))
    query = RecallQuery(start=start, end=end, page=_page(page), page_size=PAGE_SIZE)
    return format_recall_page(await ctx.log.search_recall(ctx.agent, query))


def _date(argument: str, value: str) -> date:
    match = _DATE_RE.fullmatch(value.strip())
    try:
        return date.fromisoformat(match.group(1) if match else "not a date")
    except ValueError:
        raise ToolError(
            f"{argument} must be a date written YYYY-MM-DD, for example 2025-01-31; got {value!r}."
        ) from None


def _page(page: int | None) -> int:
    if page is None:
        return 0
    if page < 0:
        raise ToolError(f"page must be 0 (the first page) or more, not {page}.")
    return page


# --- archival memory --------------------------------------------------------------------


async def archival_memory_insert(ctx: ToolContext, content: str) -> str:
    """Save text to your archival memory: a long-term store outside your context,
    as large as you need, searched with archival_memory_search. Write each entry
    so that it makes sense on its own, later (who, what, when).

    Args:
        content: The text to save.
    """
    if not content.strip():
        raise ToolError("The content is empty: write the text to save.")
    store = await ctx.archival()
    # The call's identity as the id: a retried (replayed) call stores nothing twice.
    passage = Passage(id=f"{ctx.agent}:{ctx.call.seq}", owner=ctx.agent, text=content, at=ctx.now)
    await store.insert([passage])
    return "Saved to archival memory."


async def archival_memory_search(ctx: ToolContext, query: str, page: int | None = 0) -> str:
    """Search your archival memory, and the documents attached to you, by meaning
    and by words. The best matches come first, five per page.

    Args:
        query: What to look for, in words or as a question.
        page: Which page of results: 0 (the default) for the first, 1 for the next.
    """
    if not query.strip():
        raise ToolError("The query is empty: say what to look for.")
    # Imported here: _sources loads LanceDB, which importing the agent must not.
    from ..memory._sources import source_owner

    number = _page(page)
    store = await ctx.archival()
    owners = [ctx.agent, *(source_owner(s) for s in ctx.state.sources)]
    found = await store.search(query, owners=owners, page=number, page_size=PAGE_SIZE)
    return format_archival_page(found)


# --- timers -----------------------------------------------------------------------------


@on_loop
def set_timer(ctx: ToolContext, seconds: float, reason: str) -> ToolResult:
    """Set a timer that wakes you later, even if nobody writes to you in the
    meantime. When it goes off you receive the reason, so write it as a note to
    your future self.

    Args:
        seconds: How long from now, in seconds: more than 0 and at most 366 days
            (31622400 seconds). For example 3600 for one hour.
        reason: What to do when the timer goes off.
    """
    if not 0 < seconds <= MAX_TIMER_SECONDS:  # also refuses NaN
        raise ToolError(
            f"seconds must be more than 0 and at most {MAX_TIMER_SECONDS} (366 days),"
            f" not {seconds!r}."
        )
    timer_id = f"timer-{ctx.call.seq}"
    due = ctx.now + seconds
    effect = TimerSet(agent=ctx.agent, seq=0, at=0.0, timer_id=timer_id, due=due, text=reason)
    return ToolResult(
        content=(
            f"Timer {timer_id} set: you will be woken at {format_time(due)}"
            f" (in {_duration(seconds)})."
        ),
        effects=(effect,),
    )


def _duration(seconds: float) -> str:
    for unit, size in (("day", 86_400), ("hour", 3_600), ("minute", 60)):
        if seconds >= size:
            return _plural(seconds / size, unit)
    return _plural(seconds, "second")


def _plural(amount: float, unit: str) -> str:
    text = f"{amount:.3g}"
    return f"{text} {unit}" if text == "1" else f"{text} {unit}s"


# --- other agents -----------------------------------------------------------------------


@on_loop
def send_message_to_agent(ctx: ToolContext, agent: str, message: str) -> ToolResult:
    """Send a message to another agent, without waiting for an answer. It reaches
    them as an agent_message from you; if they write back, that wakes you later.

    Args:
        agent: The other agent's name, exactly.
        message: The text to send, complete enough to understand on its own.
    """
    recipient = _recipient(ctx, agent)
    _check_text(message)
    effect = AssistantMessage(agent=ctx.agent, seq=0, at=0.0, text=message, to=recipient)
    ask = ctx.reply_to
    if ask is not None and ask.sender == recipient:
        note = f", as your answer to their request {ask.request_id}"
    else:
        note = ""
    return ToolResult(content=f"Sent to {recipient}{note}.", effects=(effect,))


@on_loop
def ask_agent(ctx: ToolContext, agent: str, message: str, timeout_seconds: float) -> ToolResult:
    """Ask another agent something and wait for the answer. Your turn ends with
    this call: the answer wakes you as an agent_message whose in_reply_to is this
    request's id. If none comes within timeout_seconds, a timer_fired wakes you
    instead; an answer that comes after that still reaches you.

    Args:
        agent: The other agent's name, exactly.
        message: The question or request, complete enough to answer on its own.
        timeout_seconds: How long to wait for the answer, in seconds: more than 0
            and at most 366 days (31622400 seconds). For example 300 for five minutes.
    """
    recipient = _recipient(ctx, agent)
    _check_text(message)
    if not 0 < timeout_seconds <= MAX_TIMER_SECONDS:  # also refuses NaN
        raise ToolError(
            f"timeout_seconds must be more than 0 and at most {MAX_TIMER_SECONDS} (366 days),"
            f" not {timeout_seconds!r}."
        )
    request_id = f"ask-{ctx.call.seq}"  # also its timer's id: see _turn.answered_ask
    wait = _duration(timeout_seconds)
    ask = AssistantMessage(
        agent=ctx.agent, seq=0, at=0.0, text=message, to=recipient, request_id=request_id
    )
    timeout = TimerSet(
        agent=ctx.agent,
        seq=0,
        at=0.0,
        timer_id=request_id,
        due=ctx.now + timeout_seconds,
        text=(
            f"Your ask {request_id} to {recipient} timed out: no answer came within {wait}."
            " If one still comes, it reaches you as an agent_message."
        ),
    )
    return ToolResult(
        content=(
            f"Asked {recipient} (request {request_id}). Your turn ends now; the answer will"
            f" wake you as an agent_message with in_reply_to {request_id}, or a timer_fired"
            f" if none comes within {wait}."
        ),
        effects=(ask, timeout),
    )


@on_loop
def broadcast(ctx: ToolContext, tag: str, message: str) -> ToolResult:
    """Send the same message to every other agent that has a tag, without waiting
    for answers. Each receives it as an agent_message from you.

    Args:
        tag: The tag, exactly (for example "support").
        message: The text to send, complete enough to understand on its own.
    """
    directory = _directory(ctx)
    recipients = [name for name in directory.tagged(tag) if name != ctx.agent]
    if not recipients:
        raise ToolError(f"No other agent has the tag {tag!r}. {_roster(directory, ctx.agent)}")
    _check_text(message)
    effects = tuple(
        AssistantMessage(agent=ctx.agent, seq=0, at=0.0, text=message, to=name)
        for name in recipients
    )
    count = f"{len(recipients):,} agent{'' if len(recipients) == 1 else 's'}"
    return ToolResult(
        content=f"Sent to {count} tagged {tag!r}: {_listed(recipients)}.", effects=effects
    )


def _directory(ctx: ToolContext) -> Directory:
    if ctx.directory is None:
        raise ToolError("You cannot message other agents: you run alone, with no directory.")
    return ctx.directory


def _recipient(ctx: ToolContext, agent: str) -> str:
    directory = _directory(ctx)
    if agent == ctx.agent:
        raise ToolError(
            f"{agent!r} is you: write to another agent. {_roster(directory, ctx.agent)}"
        )
    if agent not in directory:
        raise ToolError(f"There is no agent named {agent!r}. {_roster(directory, ctx.agent)}")
    return agent


def _check_text(message: str) -> None:
    if not message.strip():
        raise ToolError("The message is empty: write the text the other agent should read.")


def _roster(directory: Directory, me: str) -> str:
    others = [name for name in directory.names() if name != me]
    if not others:
        return "There are no other agents."
    return f"The agents you can write to: {_listed(others)}."


def _listed(names: Sequence[str]) -> str:
    shown = ", ".join(names[:MAX_LISTED_AGENTS])
    if len(names) > MAX_LISTED_AGENTS:
        shown += f" … and {len(names) - MAX_LISTED_AGENTS:,} more"
    return shown


# --- the registry -----------------------------------------------------------------------


def user_tool(fn: Callable[P, R], *, name: str | None = None) -> FunctionSpec:
    """The spec of a user-defined tool: it takes ``request_heartbeat`` like the
    built-ins, and may declare a :class:`ToolContext` parameter (any name).

    Raises:
        UsageError: the function cannot be described to the model (see
            :func:`~memvisor.llm.function_spec`).
    """
    return function_spec(fn, name=name, heartbeat=True, context=ToolContext)


BUILTIN_FUNCTIONS: tuple[FunctionSpec, ...] = (
    function_spec(send_message, context=ToolContext),
    function_spec(pause_heartbeats, context=ToolContext),
    function_spec(core_memory_append, name=CORE_APPEND, heartbeat=True, context=ToolContext),
    function_spec(core_memory_replace, name=CORE_REPLACE, heartbeat=True, context=ToolContext),
    function_spec(conversation_search, heartbeat=True, context=ToolContext),
    function_spec(conversation_search_date, heartbeat=True, context=ToolContext),
    function_spec(
        archival_memory_insert, name=ARCHIVAL_INSERT, heartbeat=True, context=ToolContext
    ),
    function_spec(archival_memory_search, heartbeat=True, context=ToolContext),
    function_spec(set_timer, context=ToolContext),
    function_spec(send_message_to_agent, heartbeat=True, context=ToolContext),
    function_spec(ask_agent, context=ToolContext),
    function_spec(broadcast, heartbeat=True, context=ToolContext),
)
"""The built-in functions, in the order the model is shown them."""


_MESSAGING = frozenset({"send_message_to_agent", "ask_agent", "broadcast"})


def builtin_registry(
    extra: Iterable[FunctionSpec] = (), *, messaging: bool = False
) -> FunctionRegistry:
    """The built-in functions, then ``extra`` (user tools), as one registry.

    Args:
        extra: User tools.
        messaging: Include the functions that write to other agents. Only an agent
            that has a directory of others can use them, and every function shown
            costs prompt tokens in every step (these three about 550).

    Raises:
        UsageError: a user tool has the name of a built-in, or two share a name.
    """
    registry = FunctionRegistry(
        spec for spec in BUILTIN_FUNCTIONS if messaging or spec.name not in _MESSAGING
    )
    for spec in extra:
        if spec.name in registry:
            raise UsageError(
                f"a tool named {spec.name!r} is already registered (a built-in or another"
                " tool); rename it with user_tool(fn, name=...)"
            )
        registry.register(spec)
    return registry
