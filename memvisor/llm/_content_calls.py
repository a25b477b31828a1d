"""Tool calls that a weaker model wrote as JSON in its message content.

Some OpenAI-compatible servers (or models) answer a function call as text —
``{"name": "send_message", "arguments": {...}}``, often in a ```json fence —
instead of in ``tool_calls``. This recognises the common spellings and turns
them into a :class:`~memvisor.events.ToolCall`, so the call is validated like
any other; text that holds no call is left alone (``None``).
"""

from __future__ import annotations

import re
import uuid

import msgspec

from ..events import ToolCall

__all__ = ["parse_call_from_content"]

_NAME_RE = re.compile(r"[A-Za-z0-9_-]{1,64}")
_FENCE_RE = re.compile(r"```(?:json|JSON)?\s*\n?(.*?)```", re.DOTALL)
_NAME_KEYS = ("name", "function", "tool", "function_name")
_ARGS_KEYS = ("arguments", "params", "parameters", "args", "input")


def parse_call_from_content(text: str, *, call_id: str | None = None) -> ToolCall | None:
    """Recognise a tool call the model wrote as JSON in its message content.

    Accepts ``{"name": ..., "arguments": {...}}`` and spellings such as
    ``{"function": ..., "params": ...}`` or ``{"function": {"name": ..., "arguments": ...}}``,
    bare or in a ```json fence. Returns ``None`` when the text holds no such call.
    """
    candidates = [m.group(1) for m in _FENCE_RE.finditer(text)]
    candidates.append(text)
    start, end = text.find("{"), text.rfind("}")
    if 0 <= start < end:
        candidates.append(text[start : end + 1])
    for candidate in candidates:
        try:
            value: object = msgspec.json.decode(candidate.strip())
        except msgspec.DecodeError:
            continue
        call = _call_from_object(value, call_id or f"call_{uuid.uuid4().hex[:24]}")
        if call is not None:
            return call
    return None


def _call_from_object(value: object, call_id: str) -> ToolCall | None:
    if not isinstance(value, dict):
        return None
    nested = value.get("function")
    if isinstance(nested, dict):
        return _call_from_object(nested, call_id)
    name = next((value[k] for k in _NAME_KEYS if isinstance(value.get(k), str)), None)
    if not isinstance(name, str) or not _NAME_RE.fullmatch(name.strip()):
        return None
    arguments: object = next((value[k] for k in _ARGS_KEYS if k in value), {})
    if isinstance(arguments, str):
        text = arguments
    elif isinstance(arguments, dict):
        text = msgspec.json.encode(arguments).decode()
    else:
        return None
    return ToolCall(id=call_id, name=name.strip(), arguments=text)
