"""The check's words: a logged event, a decision, and two events that differ, in a line.

Each line starts with the type of the event (the one logged, or the one the
decision would log), so the two sides of a divergence read alike.
"""

import msgspec

from ..agent._turn import Action, Alert, Compact, Fail, Limit, Recover, RunCall, Step, Yield
from ..events import (
    ContextCompacted,
    ErrorEvent,
    Event,
    LLMResponded,
    MemoryPressure,
    StepLimited,
    ToolCalled,
    ToolReturned,
    event_type,
)

__all__ = ["describe_action", "describe_difference", "describe_event", "short_hash"]

_SHOWN = 160


def describe_event(event: Event) -> str:
    """One line for a logged event, as the check shows it."""
    kind = event_type(event)
    match event:
        case LLMResponded():
            detail = f"an LLM step with prompt {short_hash(event.prompt_hash)}"
        case ToolCalled():
            detail = f"{event.name}({event.arguments})"
        case ToolReturned():
            detail = f"{event.name} {event.status}: {event.content}"
        case MemoryPressure():
            detail = f"at {event.prompt_tokens:,} of {event.context_window:,} tokens"
        case ContextCompacted():
            detail = f"{event.evicted} messages through seq {event.through_seq}"
        case StepLimited():
            detail = f"after {event.steps} steps"
        case ErrorEvent():
            detail = f"{event.kind}: {event.message}"
        case _:
            fields = msgspec.structs.asdict(event)
            for key in ("agent", "seq", "at", "cause"):
                fields.pop(key, None)
            detail = " ".join(f"{k}={v!r}" for k, v in fields.items() if v not in (None, (), ""))
    return _clip(f"{kind}: {detail}")


def describe_action(action: Action) -> str:
    """One line for what the code decides, in the words of the event it would log."""
    match action:
        case Step():
            text = f"llm_responded: an LLM step with prompt {short_hash(action.prompt_hash)}"
        case RunCall():
            text = f"tool_called: {action.call.name}({action.call.arguments})"
        case Recover():
            text = f"the result of {action.called.name} (tool_returned)"
        case Compact():
            plan = action.plan
            text = f"context_compacted: {plan.count} messages through seq {plan.through_seq}"
        case Alert():
            alert = action.alert
            text = (
                f"memory_pressure: at {alert.prompt_tokens:,} of {alert.context_window:,} tokens"
            )
        case Limit():
            text = f"step_limited: after {action.steps} steps"
        case Fail():
            text = f"error: {action.kind}: {action.message}"
        case Yield():
            text = "nothing: the turn is over and the agent waits for the next event"
    return _clip(text)


def describe_difference(logged: Event, produced: Event) -> tuple[str, str]:
    """Two events that differ, each as its type and the fields that differ (each shown
    around its first differing character)."""
    if type(logged) is not type(produced):
        return describe_event(logged), describe_event(produced)
    mine = msgspec.structs.asdict(logged)
    theirs = msgspec.structs.asdict(produced)
    keys = [k for k in mine if k not in ("seq", "at") and mine[k] != theirs[k]]
    kind = event_type(logged)
    sides = []
    for a, b in ((mine, theirs), (theirs, mine)):
        fields = (f"{k}={_around(repr(a[k]), repr(b[k]))}" for k in keys)
        sides.append(f"{kind}: " + " ".join(fields))
    return sides[0], sides[1]


def _around(text: str, other: str) -> str:
    """``text`` cut to show where it first differs from ``other``."""
    at = next((i for i, (a, b) in enumerate(zip(text, other, strict=False)) if a != b), None)
    if at is None:
        at = min(len(text), len(other))
    start = max(0, at - 30)
    shown = text[start : at + 50]
    return ("…" if start else "") + shown + ("…" if at + 50 < len(text) else "")


def short_hash(prompt_hash: str) -> str:
    """The start of a prompt hash, enough to tell two apart."""
    return prompt_hash[:19] + "…" if prompt_hash else "(no hash logged)"


def _clip(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _SHOWN else text[: _SHOWN - 1] + "…"
