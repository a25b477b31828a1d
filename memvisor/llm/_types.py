"""What goes to an LLM and what comes back, independent of any provider.

```
LLMRequest(model, messages, tools, tool_choice, temperature)
    │  LLMClient.complete        OpenAIClient (openai SDK, HTTP) · ScriptedLLM (a handler)
    ▼
LLMResponse(content, tool_calls, finish_reason, usage, model)
```

Invariants: these are plain frozen Structs; provider formats (the openai SDK's
dicts and objects) never leave :mod:`memvisor.llm`. A tool's JSON schema is
carried as raw JSON text (:class:`msgspec.Raw`), never as ``dict[str, Any]``;
tool-call arguments come back as the exact text the model wrote, malformed or not.
"""

from typing import Literal, Protocol

import msgspec

from ..events import TokenUsage, ToolCall
from ..memory._messages import ChatMessage

__all__ = [
    "EMPTY_PARAMETERS",
    "LLMClient",
    "LLMRequest",
    "LLMResponse",
    "ToolChoice",
    "ToolSchema",
]

ToolChoice = Literal["auto", "required", "none"]

EMPTY_PARAMETERS = msgspec.Raw(b'{"type":"object","properties":{}}')
"""The JSON schema of a function that takes no arguments."""


class ToolSchema(msgspec.Struct, frozen=True, kw_only=True):
    """A function the model may call: its name, what it does, and its arguments' schema."""

    name: str
    description: str = ""
    parameters: msgspec.Raw = EMPTY_PARAMETERS
    """The arguments' JSON schema, as JSON text (an object schema)."""


class LLMRequest(msgspec.Struct, frozen=True, kw_only=True):
    """One chat completion to ask for."""

    model: str
    messages: tuple[ChatMessage, ...]
    tools: tuple[ToolSchema, ...] = ()
    tool_choice: ToolChoice = "auto"
    """Ignored when there are no tools."""
    temperature: float | None = None
    """``None`` leaves it to the server."""


class LLMResponse(msgspec.Struct, frozen=True, kw_only=True):
    """What the model answered: its text, its function calls, and the tokens it took."""

    content: str | None = None
    tool_calls: tuple[ToolCall, ...] = ()
    finish_reason: str | None = None
    usage: TokenUsage = TokenUsage()
    model: str = ""
    """The model that answered, as the server names it."""


class LLMClient(Protocol):
    """Anything that completes a chat: :class:`OpenAIClient`, :class:`ScriptedLLM`."""

    async def complete(self, request: LLMRequest) -> LLMResponse:
        """Ask the model once (a client may retry transient failures inside).

        Raises:
            LLMAPIError: the server failed or refused, for good.
            ContextOverflowError: the prompt does not fit the model's context window.
        """
        ...
