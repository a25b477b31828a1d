"""What fills the context window, in estimated tokens: ``/context`` in ``memvisor chat``.

```
 system message   system prompt │ core memory │ memory statistics │ summary
 the queue        user messages │ external events │ timers │ agent messages │ system alerts
                  assistant (thoughts and calls) │ function results
 formatting       message overheads, reply priming, section separators
 function schemas what the request's function definitions cost (given by the caller)
 ─────────────────────────────────────────────────────────────────────────────────────────
 total            == compile_context(state, archival_count=…).estimated_tokens + schemas
```

Invariants:

* Pure: a function of the folded state, like the compiled context it describes.
* The parts add up to the total exactly: what the sections do not account for on
  their own (the system message's overhead, the separators between its sections,
  the reply priming) is the ``formatting`` part, so the breakdown never disagrees
  with the estimate the compaction planner uses, given the same schema tokens
  (``plan_compaction(fixed_tokens=…)``).
* A message counts under the kind of what it reads as: a ``user``-role message is
  classed by the ``type`` of its JSON body (``user_message``, ``system_alert`` …),
  an assistant message with the placeholders of its unanswered calls.
"""

import msgspec

from ._context import (
    _SUMMARY_HEADER,
    _core_section,
    _statistics_section,
    compile_context,
    queue_costs,
)
from ._state import AgentState
from ._tokens import estimate_text

__all__ = ["ContextUsage", "UsagePart", "context_usage"]

_KIND_LABELS = {
    "user_message": "user messages",
    "external_event": "external events",
    "timer_fired": "timers",
    "agent_message": "agent messages",
    "system_alert": "system alerts",
    "assistant": "assistant (thoughts and calls)",
    "tool": "function results",
    "function_result": "function results",
}
_OTHER = "other messages"


class UsagePart(msgspec.Struct, frozen=True, kw_only=True):
    """One part of the context window."""

    label: str
    """What it is, e.g. ``"core memory"`` or ``"user messages"``."""
    tokens: int
    """Its estimated tokens."""
    messages: int | None = None
    """For a kind of message: how many of them are in the window."""


class ContextUsage(msgspec.Struct, frozen=True, kw_only=True):
    """The context window, part by part."""

    parts: tuple[UsagePart, ...]
    """The system message's sections, then each kind of message present, then the
    formatting; parts of zero tokens are left out except the system prompt and core memory."""
    total: int
    """Estimated prompt tokens of the compiled context (the sum of the parts)."""
    context_window: int
    last_prompt_tokens: int | None
    """What the server reported for the last response (``None``: no report since the
    context last changed shape)."""

    @property
    def fraction(self) -> float:
        """``total`` as a fraction of the context window."""
        return self.total / max(self.context_window, 1)


class _Kind(msgspec.Struct, frozen=True):
    type: str = ""


_kind_decoder = msgspec.json.Decoder(_Kind)


def context_usage(
    state: AgentState, *, archival_count: int | None = None, schema_tokens: int = 0
) -> ContextUsage:
    """What fills ``state``'s context window now.

    Args:
        state: The agent's folded state.
        archival_count: Passages shown in the memory statistics (default: the
            state's own ``archival_count``, as the agent shows them).
        schema_tokens: What the function definitions sent with every request cost
            (``memvisor.agent.tools_tokens`` of the agent's functions).
    """
    count = state.archival_count if archival_count is None else archival_count
    total = compile_context(state, archival_count=count).estimated_tokens
    parts = [
        UsagePart(label="system prompt", tokens=estimate_text(state.system)),
        UsagePart(label="core memory", tokens=estimate_text(_core_section(state.memory.blocks))),
        UsagePart(
            label="memory statistics", tokens=estimate_text(_statistics_section(state, count))
        ),
    ]
    if state.summary is not None:
        summary = estimate_text(_SUMMARY_HEADER + state.summary)
        parts.append(UsagePart(label="summary", tokens=summary))
    tokens: dict[str, int] = {}
    messages: dict[str, int] = {}
    for entry, cost in zip(state.queue, queue_costs(state), strict=True):
        label = _label(entry.message.role, entry.message.content)
        tokens[label] = tokens.get(label, 0) + cost
        messages[label] = messages.get(label, 0) + 1
    for label in _ordered(tokens):
        parts.append(UsagePart(label=label, tokens=tokens[label], messages=messages[label]))
    parts.append(UsagePart(label="formatting", tokens=total - sum(p.tokens for p in parts)))
    parts.append(UsagePart(label="function schemas", tokens=schema_tokens))
    return ContextUsage(
        parts=tuple(p for p in parts if p.tokens or p.label in ("system prompt", "core memory")),
        total=total + schema_tokens,
        context_window=state.context_window,
        last_prompt_tokens=state.last_prompt_tokens,
    )


def _label(role: str, content: str | None) -> str:
    if role != "user":
        return _KIND_LABELS.get(role, _OTHER)
    try:
        kind = _kind_decoder.decode(content or "").type
    except msgspec.DecodeError:
        return _OTHER
    return _KIND_LABELS.get(kind, _OTHER)


def _ordered(labels: dict[str, int]) -> list[str]:
    """The labels present, in a fixed order (that of ``_KIND_LABELS``, then ``other``)."""
    known = list(dict.fromkeys(_KIND_LABELS.values()))
    return [label for label in [*known, _OTHER] if label in labels]
