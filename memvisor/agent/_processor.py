"""The processor: the actor that asks the LLM, so an agent's mailbox never waits on HTTP.

```
agent ── ask(LLMCall(request)) ──► processor ── LLMClient.complete ──► server
agent ◄── Completed(response, latency) | Overflowed(message) | Failed(message)
```

The processor holds no state of its own: the request is compiled by the agent
from its log (see ``_turn.next_action``), so the prompt and its hash do not
depend on which processor answers. Failures come back as values, never as
exceptions: the agent logs them and stays alive.
"""

from __future__ import annotations

import math

import anyio
import msgspec

from .._exceptions import ContextOverflowError, LLMAPIError
from ..actors import Actor
from ..llm._types import LLMClient, LLMRequest, LLMResponse

__all__ = ["Completed", "Failed", "LLMCall", "LLMOutcome", "Overflowed", "Processor"]


class LLMCall(msgspec.Struct, frozen=True, kw_only=True):
    """Ask the model once."""

    request: LLMRequest
    deadline: float = math.inf
    """Event-loop time (``anyio.current_time()``) by which the answer is due: the
    call is cancelled then, and not even started if it is already past (its asker
    gave up)."""


class Completed(msgspec.Struct, frozen=True, kw_only=True):
    """The model answered."""

    response: LLMResponse
    latency: float
    """Seconds the call took (retries included)."""


class Overflowed(msgspec.Struct, frozen=True, kw_only=True):
    """The server refused the prompt as longer than the model's context window."""

    message: str


class Failed(msgspec.Struct, frozen=True, kw_only=True):
    """The server could not be reached or refused for good (retries exhausted)."""

    message: str


LLMOutcome = Completed | Overflowed | Failed


class Processor(Actor[LLMCall, LLMOutcome]):
    """Calls ``llm`` for each :class:`LLMCall` and answers with its outcome."""

    def __init__(self, llm: LLMClient) -> None:
        self._llm = llm

    async def receive(self, message: LLMCall) -> LLMOutcome:
        started = anyio.current_time()
        if started >= message.deadline:
            return Failed(message="the LLM call was not made: its deadline passed while it waited")
        try:
            with anyio.fail_at(message.deadline):
                response = await self._llm.complete(message.request)
        except TimeoutError:
            waited = anyio.current_time() - started
            return Failed(message=f"the LLM did not answer within {waited:.0f} s")
        except ContextOverflowError as exc:
            return Overflowed(message=str(exc))
        except LLMAPIError as exc:
            return Failed(message=str(exc))
        return Completed(response=response, latency=anyio.current_time() - started)
