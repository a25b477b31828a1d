"""Prompts as text a person can diff: what ``replay --check`` shows when a hash differs.

```
── 0 system                       one header line per message: its index, role, and
You are MemGPT …                  for a result, the function and call it answers;
── 3 tool · send_message · c1     then its text, long lines wrapped (so a change in
{"status": "OK", …}               a long JSON body shows as a change of a few lines)
```

Invariants: pure, and the text of the same messages is the same, so a diff of
two prompts shows exactly the messages that differ, in a unified diff.
"""

import difflib
import textwrap
from collections.abc import Sequence

import msgspec

from ..events import StoredPrompt
from ..llm._types import ToolSchema
from ..memory._messages import ChatMessage

__all__ = ["decode_prompt", "decode_tools", "prompt_diff", "prompt_lines"]

_WIDTH = 96


def decode_prompt(stored: StoredPrompt) -> tuple[ChatMessage, ...]:
    """The messages of a stored prompt."""
    decoder = msgspec.json.Decoder(ChatMessage)
    return tuple(decoder.decode(part) for part in stored.parts)


def decode_tools(stored: StoredPrompt) -> tuple[ToolSchema, ...]:
    """The function schemas a stored prompt was sent with."""
    return msgspec.json.decode(stored.tools, type=tuple[ToolSchema, ...])


def prompt_lines(messages: Sequence[ChatMessage]) -> list[str]:
    """``messages`` as lines of text (see the module docstring)."""
    lines: list[str] = []
    for i, message in enumerate(messages):
        header = [f"── {i} {message.role}"]
        if message.name:
            header.append(message.name)
        if message.tool_call_id:
            header.append(message.tool_call_id)
        lines.append(" · ".join(header))
        for paragraph in (message.content or "").splitlines():
            lines.extend(textwrap.wrap(paragraph, _WIDTH, drop_whitespace=False) or [""])
        for call in message.tool_calls:
            lines.extend(textwrap.wrap(f"→ {call.name}({call.arguments}) [{call.id}]", _WIDTH))
    return lines


def prompt_diff(
    sent: Sequence[ChatMessage], compiled: Sequence[ChatMessage], *, context: int = 2
) -> list[str]:
    """A unified diff from the prompt that was ``sent`` to the one ``compiled`` now."""
    return list(
        difflib.unified_diff(
            prompt_lines(sent),
            prompt_lines(compiled),
            "sent (from the prompt store)",
            "compiled now",
            n=context,
            lineterm="",
        )
    )
