"""A scripted LLM: a Python handler plays the model, for tests, demos and benchmarks.

```
ScriptedLLM(handler)           handler(request) -> LLMResponse, called once per complete()
ScriptedLLM.from_replies([..]) the replies in order; one more call is a UsageError
reply_with_text("...")         a response that only talks
reply_with_call(name, "{..}")  a response that calls one function
```

Every request is recorded in ``requests``, in order, so a test can check what
the model was shown. A response that names no model gets the request's.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable

import anyio.lowlevel
import msgspec

from .._exceptions import UsageError
from ..events import TokenUsage, ToolCall
from ._types import LLMRequest, LLMResponse

__all__ = ["Handler", "ScriptedLLM", "reply_with_call", "reply_with_text"]

Handler = Callable[[LLMRequest], LLMResponse]
"""Plays the model: given what it is asked, what it answers."""

_call_ids = itertools.count(1)


def reply_with_text(text: str, *, usage: TokenUsage | None = None) -> LLMResponse:
    """A response that says ``text`` (inner thoughts) and calls nothing."""
    return LLMResponse(content=text, finish_reason="stop", usage=usage or TokenUsage())


def reply_with_call(
    name: str,
    arguments_json: str = "{}",
    *,
    content: str | None = None,
    call_id: str | None = None,
    usage: TokenUsage | None = None,
) -> LLMResponse:
    """A response that calls function ``name`` with ``arguments_json`` (taken as is).

    The call gets a fresh id (``call-N``) unless ``call_id`` is given.
    """
    call = ToolCall(id=call_id or f"call-{next(_call_ids)}", name=name, arguments=arguments_json)
    return LLMResponse(
        content=content,
        tool_calls=(call,),
        finish_reason="tool_calls",
        usage=usage or TokenUsage(),
    )


class ScriptedLLM:
    """:class:`LLMClient` whose answers come from ``handler``; it records every request."""

    def __init__(self, handler: Handler, *, record: bool = True) -> None:
        """Play the model with ``handler``.

        Args:
            handler: Plays the model.
            record: Keep every request in :attr:`requests` (off for long
                simulations: they would all stay in memory).
        """
        self.handler = handler
        self.record = record
        self.requests: list[LLMRequest] = []

    @classmethod
    def from_replies(cls, replies: Iterable[LLMResponse]) -> ScriptedLLM:
        """A model that gives ``replies`` in order, whatever it is asked."""
        queue = list(replies)[::-1]

        def next_reply(request: LLMRequest) -> LLMResponse:
            if not queue:
                raise UsageError(
                    f"the scripted model has no reply left for call {len(llm.requests)}"
                )
            return queue.pop()

        llm = cls(next_reply)
        return llm

    async def complete(self, request: LLMRequest) -> LLMResponse:
        """Record ``request`` and answer what the handler says."""
        await anyio.lowlevel.checkpoint()
        if self.record:
            self.requests.append(request)
        response = self.handler(request)
        if not response.model:
            response = msgspec.structs.replace(response, model=request.model)
        return response
