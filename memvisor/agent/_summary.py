"""The recursive summary: what the LLM is asked when old messages leave the context.

```
previous summary + evicted messages ── summary_request ──► LLM (no tools) ──► new summary
                                   └── fallback_summary ──► (the LLM failed: a plain digest)
```

The request is a call without tools: one system message saying what a good
summary keeps, one user message holding the previous summary and a transcript
of the evicted messages. Pure: the same inputs give the same request.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..llm._types import LLMRequest
from ..memory._compaction import Evict
from ..memory._messages import ChatMessage

__all__ = ["SUMMARY_INSTRUCTIONS", "fallback_summary", "summary_request", "transcript"]

SUMMARY_INSTRUCTIONS = (
    "You keep the long-term summary of an AI agent's conversation. Older messages are"
    " leaving the agent's context window; they stay searchable in recall memory, but the"
    " agent will only see your summary of them. Write the new summary: merge the previous"
    " summary with the messages below, keep names, facts, decisions, commitments, open"
    " questions and dates, drop small talk. Write in the third person, in plain prose,"
    " at most {words} words. Answer with the summary only."
)

_PER_MESSAGE_CHARS = 2000


def summary_request(
    previous: str | None,
    messages: Sequence[ChatMessage],
    plan: Evict,
    *,
    model: str,
) -> LLMRequest:
    """The LLM request that writes the summary replacing ``previous`` and ``messages``."""
    words = max(20, int(plan.summary_budget * 0.75))
    parts = []
    if previous:
        parts.append(f"Previous summary:\n{previous}")
    parts.append(f"Messages leaving the context ({len(messages)}):\n{transcript(messages)}")
    return LLMRequest(
        model=model,
        messages=(
            ChatMessage(role="system", content=SUMMARY_INSTRUCTIONS.format(words=words)),
            ChatMessage(role="user", content="\n\n".join(parts)),
        ),
        temperature=0.0,
    )


def transcript(messages: Sequence[ChatMessage]) -> str:
    """The messages as ``role: text`` lines; calls as ``name(arguments)``."""
    lines = []
    for message in messages:
        text = (message.content or "").strip()
        if len(text) > _PER_MESSAGE_CHARS:
            text = text[:_PER_MESSAGE_CHARS] + " …"
        if text:
            lines.append(f"{message.role}: {text}")
        lines.extend(
            f"{message.role} called {call.name}({call.arguments[:_PER_MESSAGE_CHARS]})"
            for call in message.tool_calls
        )
    return "\n".join(lines)


def fallback_summary(previous: str | None, messages: Sequence[ChatMessage]) -> str:
    """A summary made without the LLM (it could not be reached): the previous summary
    and the evicted transcript, which compaction then cuts to its budget."""
    head = f"{previous}\n\n" if previous else ""
    return (
        f"{head}(The summarizer was unavailable; the start of the evicted messages follows.)\n"
        f"{transcript(messages)}"
    )
