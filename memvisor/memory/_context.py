"""Compiling the context window: what the model is shown at each step.

```
 role system ┌─────────────────────────────────────────────────────────────┐
             │ the system prompt                                           │
             │ ### Core memory         <human chars="120/2000"> … </human> │
             │ ### Memory statistics   N messages in recall memory,        │
             │                         M passages in archival memory       │
             │ ### Summary of earlier conversation   (after a compaction)  │
             └─────────────────────────────────────────────────────────────┘
 the FIFO queue, oldest first (as rendered by ``_messages``):
   user ─ assistant(tool_calls: a, b) ─ tool(a) ─ tool(b) ─ user ─ assistant …
```

Invariants:

* Pure: the same state and ``archival_count`` give the same messages and the
  same ``prompt_hash`` (SHA-256 of the messages' canonical JSON), in every
  process and on every machine.
* The message list is always valid for a chat completions API: each assistant
  message with tool calls is followed at once by one ``tool`` message per call.
  A result logged after other messages (a user wrote while a tool ran) is moved
  up to its call, the other messages follow; a call with no logged result gets
  a "no result was recorded" placeholder.
* ``estimated_tokens`` equals the estimate of the system message plus
  :func:`queue_costs` plus the reply priming, so the compaction planner can
  price any eviction without compiling again.
"""

import msgspec

from ..events import prompt_digest
from ._core import CORE_APPEND, CORE_REPLACE, CORE_REWRITE, Block
from ._messages import ChatMessage, placeholder_result
from ._state import AgentState, pair_results
from ._tokens import REPLY_PRIMING, message_tokens

__all__ = [
    "CompiledContext",
    "CompiledPrompt",
    "compile_context",
    "compile_prompt",
    "prompt_hash",
    "queue_costs",
    "queue_messages",
    "system_text",
]

_SUMMARY_HEADER = (
    "### Summary of earlier conversation\n"
    "Older messages were moved out of this context; they are still in recall memory."
    " This is a summary of them:\n"
)

_encoder = msgspec.json.Encoder()


class CompiledPrompt(msgspec.Struct, frozen=True, kw_only=True):
    """The messages of one LLM request and their hash."""

    messages: tuple[ChatMessage, ...]
    prompt_hash: str
    """``"sha256:"`` and the hex digest of the messages' canonical JSON."""
    parts: tuple[bytes, ...]
    """Each message's canonical JSON: the hash is SHA-256 of ``[`` + these joined
    by ``,`` + ``]`` (what the prompt store keeps)."""


class CompiledContext(CompiledPrompt, frozen=True, kw_only=True):
    """A :class:`CompiledPrompt` with its estimated size."""

    estimated_tokens: int


def compile_prompt(state: AgentState, *, archival_count: int) -> CompiledPrompt:
    """The context window for the next LLM call, without the token estimate (what an
    agent needs at each step; the estimate costs as much again).

    Args:
        state: The agent's folded state.
        archival_count: Passages in the agent's archival memory (shown to the model).
    """
    system = _system_message(state, archival_count)
    ordered = _ordered_queue(state)
    # The same as prompt_hash(messages), from the JSON the fold cached.
    parts = (
        _encoder.encode(system),
        *(encoded or _encoder.encode(message) for message, encoded in ordered),
    )
    return CompiledPrompt(
        messages=(system, *(message for message, _ in ordered)),
        prompt_hash=prompt_digest(parts),
        parts=parts,
    )


def compile_context(state: AgentState, *, archival_count: int) -> CompiledContext:
    """:func:`compile_prompt` and the prompt's estimated tokens.

    Args:
        state: The agent's folded state.
        archival_count: Passages in the agent's archival memory (shown to the model).
    """
    prompt = compile_prompt(state, archival_count=archival_count)
    # The same as estimate_messages(messages), from the tokens the fold cached.
    estimated = REPLY_PRIMING + message_tokens(prompt.messages[0]) + sum(queue_costs(state))
    return CompiledContext(
        messages=prompt.messages,
        prompt_hash=prompt.prompt_hash,
        parts=prompt.parts,
        estimated_tokens=estimated,
    )


def _system_message(state: AgentState, archival_count: int) -> ChatMessage:
    return ChatMessage(
        role="system",
        content=system_text(state, archival_count=archival_count, summary=state.summary),
    )


def prompt_hash(messages: tuple[ChatMessage, ...]) -> str:
    """A stable hash of ``messages``: ``"sha256:<hex>"`` of their canonical JSON."""
    return prompt_digest([_encoder.encode(message) for message in messages])


def system_text(state: AgentState, *, archival_count: int, summary: str | None) -> str:
    """The system message's text, with ``summary`` as the recursive summary.

    The summary section comes last and its header ends in a newline, so the text
    with a summary ``s`` is the text with ``""`` followed by ``s``.
    """
    sections = [state.system] if state.system else []
    sections.append(_core_section(state.memory.blocks))
    sections.append(_statistics_section(state, archival_count))
    if summary is not None:
        sections.append(_SUMMARY_HEADER + summary)
    return "\n\n".join(sections)


def _core_section(blocks: tuple[Block, ...]) -> str:
    lines = [
        "### Core memory",
        "Always in view. Each block shows its characters used/limit. Edit blocks with"
        f" {CORE_APPEND}, {CORE_REPLACE} or {CORE_REWRITE}; keep what does not fit in"
        " archival memory.",
    ]
    if not blocks:
        lines.append("(no blocks)")
    for block in blocks:
        rules = f' chars="{len(block.value)}/{block.limit}"'
        if block.read_only:
            rules += ' read_only="true"'
        if block.shared is not None:
            rules += f' shared="{block.shared}"'
        lines.append(f"<{block.label}{rules}>")
        if block.value:
            lines.append(block.value)
        lines.append(f"</{block.label}>")
    return "\n".join(lines)


def _statistics_section(state: AgentState, archival_count: int) -> str:
    lines = [
        "### Memory statistics",
        f"{_count(state.recall_count, 'message')} in recall memory (the conversation so far,"
        " including the messages below); search with conversation_search or"
        " conversation_search_date.",
        f"{_count(archival_count, 'passage')} in archival memory; search with"
        " archival_memory_search.",
    ]
    if state.sources:
        lines.append(f"Data sources attached to archival memory: {', '.join(state.sources)}.")
    return "\n".join(lines)


def _count(n: int, noun: str) -> str:
    return f"{n:,} {noun}" if n == 1 else f"{n:,} {noun}s"


def queue_messages(state: AgentState) -> tuple[ChatMessage, ...]:
    """The FIFO queue as chat messages, each call followed at once by its results."""
    return tuple(message for message, _ in _ordered_queue(state))


def _ordered_queue(state: AgentState) -> list[tuple[ChatMessage, bytes]]:
    """:func:`queue_messages`, each with its cached JSON (``b""`` for a placeholder)."""
    queue = state.queue
    groups = pair_results(queue)
    moved = {j for results in groups.values() for j in results}
    ordered: list[tuple[ChatMessage, bytes]] = []
    for i, entry in enumerate(queue):
        if i in moved:
            continue
        ordered.append((entry.message, entry.encoded))
        if i in groups:
            results = [queue[j] for j in groups[i]]
            ordered += ((r.message, r.encoded) for r in results)
            placeholders = _placeholders(entry.message, [r.message for r in results])
            ordered += ((p, b"") for p in placeholders)
    return ordered


def queue_costs(state: AgentState) -> tuple[int, ...]:
    """Estimated tokens of each queue entry, placeholders for its unanswered calls included.

    Evicting entries ``[0, k)`` removes exactly ``sum(queue_costs(state)[:k])``
    tokens from :func:`compile_context`'s estimate (when no call is cut from its
    results).
    """
    queue = state.queue
    groups = pair_results(queue)
    costs = []
    for i, entry in enumerate(queue):
        cost = entry.tokens
        if i in groups:
            results = [queue[j].message for j in groups[i]]
            cost += sum(message_tokens(m) for m in _placeholders(entry.message, results))
        costs.append(cost)
    return tuple(costs)


def _placeholders(call_message: ChatMessage, results: list[ChatMessage]) -> list[ChatMessage]:
    if len(results) >= len(call_message.tool_calls):
        return []  # results are paired by call id, at most one each: all answered
    answered = {result.tool_call_id for result in results}
    return [
        placeholder_result(call) for call in call_message.tool_calls if call.id not in answered
    ]
