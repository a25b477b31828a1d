"""The LLM client over the openai SDK, for OpenAI and every OpenAI-compatible server.

```
OpenAIClient.complete(LLMRequest)
  encode the body (RequestEncoder) ──► AsyncOpenAI.post("/chat/completions")  (SDK retries off)
  ◄── 200: decode with msgspec into LLMResponse (arguments kept as the model wrote them)
  ◄── 429, 408, 5xx, connection error, timeout: wait, try again (at most `tries` in all)
  ◄── 400 "context length": ContextOverflowError, at once
  ◄── any other 4xx (401, 403, 404, ...): LLMAPIError naming the server and model, at once
```

The body is built here rather than by ``chat.completions.create``: the SDK's
own transformation of a long conversation costs far more than the request.
Each message is encoded once, not once per step: :class:`RequestEncoder` splices
the JSON kept from earlier requests into the body.

Waits: ``Retry-After`` (or ``retry-after-ms``) when the server sends one, else
exponential backoff with jitter; never more than ``RetryPolicy.max_delay``.
All waits go through :func:`anyio.sleep`.

Invariants: nothing but :class:`LLMResponse` and memvisor errors leaves this
module; a server's answer that cannot be read is an :class:`LLMAPIError`, never
a crash.
"""

from __future__ import annotations

import email.utils
import math
import os
import random
import time
from types import TracebackType
from typing import TYPE_CHECKING, Self

import anyio
import msgspec

from .._exceptions import ConfigError, ContextOverflowError, LLMAPIError
from ..events import TokenUsage, ToolCall
from ..memory._messages import ChatMessage
from ._types import LLMRequest, LLMResponse, ToolSchema

# The openai SDK (and its httpx2) take half a second to import: only a client
# that is made pays for that, so the CLI and the package import stay fast.
if TYPE_CHECKING:
    import openai

__all__ = [
    "OpenAIClient",
    "RequestEncoder",
    "RetryPolicy",
    "backoff_delay",
    "decode_response",
    "encode_request",
    "is_context_overflow",
    "parse_retry_after",
]

_NO_KEY = "none"  # servers that ask for no key still need the SDK to send one
_JSON_HEADERS = {"Content-Type": "application/json"}


class RetryPolicy(msgspec.Struct, frozen=True, kw_only=True):
    """How often and how patiently a transient failure is retried."""

    tries: int = 5
    """Requests in all, the first included."""
    base_delay: float = 0.5
    """Seconds before the second try; doubled for each try after it (before jitter)."""
    max_delay: float = 30.0
    """No single wait is longer, whatever ``Retry-After`` says."""


def backoff_delay(attempt: int, *, base: float, cap: float, jitter: float) -> float:
    """Seconds to wait after failed try number ``attempt`` (0 for the first).

    ``base * 2**attempt``, capped at ``cap``, then scaled into its upper half by
    ``jitter`` (in ``[0, 1]``): between ``d/2`` and ``d`` ("equal jitter"), so
    waits grow with the attempt yet two clients never retry in lockstep.
    """
    if not (cap > 0 and base > 0):
        return 0.0
    full = min(cap, base * 2.0 ** min(max(attempt, 0), 64))
    return min(cap, full / 2 + full / 2 * min(max(jitter, 0.0), 1.0))


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds a ``Retry-After`` header asks to wait: a number, or an HTTP date.

    ``None`` when there is no usable value; never raises, never negative.
    """
    if not value:
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        pass
    else:
        return seconds if math.isfinite(seconds) and seconds >= 0 else None
    try:
        parsed = email.utils.parsedate_to_datetime(text)
        seconds = parsed.timestamp() - (time.time() if now is None else now)
    except (TypeError, ValueError, OverflowError, IndexError):
        return None
    return max(seconds, 0.0) if math.isfinite(seconds) else None


# --- the OpenAI wire format ----------------------------------------------------------


class _WireFunction(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    arguments: str


class _WireToolCall(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    function: _WireFunction
    type: str = "function"


class _WireMessage(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    role: str
    content: str | None = None
    tool_calls: tuple[_WireToolCall, ...] = ()
    tool_call_id: str | None = None


class _WireToolFunction(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    description: str
    parameters: msgspec.Raw


class _WireTool(msgspec.Struct, frozen=True, kw_only=True):
    function: _WireToolFunction
    type: str = "function"


class _OutFunction(msgspec.Struct, frozen=True, kw_only=True):
    name: str = ""
    arguments: msgspec.Raw = msgspec.Raw(b'""')
    """A JSON string by the spec; some servers send the object itself."""


class _OutToolCall(msgspec.Struct, frozen=True, kw_only=True):
    id: str | None = None
    function: _OutFunction


class _OutMessage(msgspec.Struct, frozen=True, kw_only=True):
    content: str | None = None
    tool_calls: tuple[_OutToolCall, ...] | None = None


class _OutChoice(msgspec.Struct, frozen=True, kw_only=True):
    message: _OutMessage
    finish_reason: str | None = None


class _OutUsage(msgspec.Struct, frozen=True, kw_only=True):
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    total_tokens: int | None = None


class _OutResponse(msgspec.Struct, frozen=True, kw_only=True):
    choices: tuple[_OutChoice, ...]
    model: str | None = None
    usage: _OutUsage | None = None


class _ErrorDetail(msgspec.Struct, frozen=True, kw_only=True):
    message: str | None = None
    code: str | int | None = None
    type: str | None = None


class _ErrorBody(msgspec.Struct, frozen=True, kw_only=True):
    error: _ErrorDetail | str | None = None


_request_encoder = msgspec.json.Encoder()
_response_decoder = msgspec.json.Decoder(_OutResponse)
_string_decoder = msgspec.json.Decoder(str)
_error_decoder = msgspec.json.Decoder(_ErrorBody)


def _wire_message(message: ChatMessage) -> _WireMessage:
    calls = tuple(
        _WireToolCall(id=c.id, function=_WireFunction(name=c.name, arguments=c.arguments))
        for c in message.tool_calls
    )
    content = message.content
    if message.role == "tool" and content is None:
        content = ""
    return _WireMessage(
        role=message.role, content=content, tool_calls=calls, tool_call_id=message.tool_call_id
    )


def _wire_tool(tool: ToolSchema) -> _WireTool:
    return _WireTool(
        function=_WireToolFunction(
            name=tool.name, description=tool.description, parameters=tool.parameters
        )
    )


class RequestEncoder:
    """Turns requests into ``POST /chat/completions`` bodies, encoding only what is new.

    An agent's successive requests repeat almost all their messages (the very
    same :class:`ChatMessage` objects) and their tools, so each message's JSON
    is kept and spliced into later bodies; only new messages are encoded. The
    body is byte for byte what encoding the whole request as one Struct gives
    (keys in the same order, defaults omitted alike).

    Messages are remembered by identity: an entry holds its message, so no
    other object can take its ``id`` while it is remembered. Entries live in
    two generations: what a request uses moves to (or stays in) the current
    one; once the current one holds more than ``max_bytes`` of JSON it becomes
    the old one and the old one is dropped. So the cache holds at most about
    twice ``max_bytes`` (plus the messages), a message out of every context
    is soon forgotten, and agents sharing one client keep their messages
    between their turns. The tools array is kept for the last tuple of tools
    (compared by equality, which is identity for the same ToolSchema objects).
    """

    def __init__(self, *, max_bytes: int = 4 << 20) -> None:
        """Start with nothing remembered.

        Args:
            max_bytes: JSON in the current generation beyond which it is retired.
        """
        self._max_bytes = max_bytes
        # id(message) -> (message, its JSON)
        self._current: dict[int, tuple[ChatMessage, bytes]] = {}
        self._old: dict[int, tuple[ChatMessage, bytes]] = {}
        self._current_bytes = 0
        self._tools: tuple[ToolSchema, ...] = ()
        self._tools_json = b"[]"

    def encode(self, request: LLMRequest) -> bytes:
        """The JSON body for ``request``."""
        messages = b",".join(self._messages_json(request.messages))
        parts = [b'{"model":', _request_encoder.encode(request.model), b',"messages":[', messages]
        if request.tools:
            if request.tools != self._tools:
                self._tools_json = _request_encoder.encode([_wire_tool(t) for t in request.tools])
                self._tools = request.tools
            choice = _request_encoder.encode(request.tool_choice)
            parts += (b'],"tools":', self._tools_json, b',"tool_choice":', choice)
        else:
            parts.append(b"]")
        if request.temperature is not None:
            parts += (b',"temperature":', _request_encoder.encode(request.temperature))
        parts.append(b"}")
        return b"".join(parts)

    def _messages_json(self, messages: tuple[ChatMessage, ...]) -> list[bytes]:
        current, old = self._current, self._old
        out: list[bytes] = []
        for message in messages:  # the hot loop: one lookup per message already seen
            key = id(message)
            entry = current.get(key)
            if entry is None or entry[0] is not message:
                entry = old.get(key)
                if entry is None or entry[0] is not message:
                    entry = (message, _request_encoder.encode(_wire_message(message)))
                current[key] = entry
                self._current_bytes += len(entry[1])
            out.append(entry[1])
        if self._current_bytes > self._max_bytes:
            self._old, self._current, self._current_bytes = current, {}, 0
        return out


def encode_request(request: LLMRequest) -> bytes:
    """The JSON body of ``POST /chat/completions`` for ``request``, encoded afresh.

    :class:`OpenAIClient` keeps a :class:`RequestEncoder` instead, which does
    not encode a message again for each request that repeats it.
    """
    return RequestEncoder().encode(request)


def _arguments_text(raw: msgspec.Raw) -> str:
    data = bytes(raw)
    if data.lstrip()[:1] == b'"':
        return _string_decoder.decode(data)
    return data.decode("utf-8")


def decode_response(data: bytes) -> LLMResponse:
    """The :class:`LLMResponse` in a chat completion's JSON body.

    Raises:
        msgspec.DecodeError: ``data`` is not such a body (also ``msgspec.ValidationError``).
        ValueError: the body has no choices.
    """
    out = _response_decoder.decode(data)
    if not out.choices:
        raise ValueError("the answer has no choices")
    choice = out.choices[0]
    calls = tuple(
        ToolCall(
            id=c.id or f"call_{i}",
            name=c.function.name,
            arguments=_arguments_text(c.function.arguments),
        )
        for i, c in enumerate(choice.message.tool_calls or ())
    )
    usage = TokenUsage()
    if out.usage is not None:
        prompt = out.usage.prompt_tokens or 0
        completion = out.usage.completion_tokens or 0
        usage = TokenUsage(
            prompt_tokens=prompt,
            completion_tokens=completion,
            total_tokens=out.usage.total_tokens or prompt + completion,
        )
    return LLMResponse(
        content=choice.message.content,
        tool_calls=calls,
        finish_reason=choice.finish_reason,
        usage=usage,
        model=out.model or "",
    )


_OVERFLOW_CODES = {"context_length_exceeded", "string_above_max_length"}
_OVERFLOW_WORDS = (
    "context length",
    "context_length",
    "context window",
    "maximum context",
    "too many tokens",
    "prompt is too long",
    "exceeds the context",
    "longer than the model",
)


def _error_detail(body: bytes) -> tuple[str, str]:
    """(message, code) of an error answer; the raw text when it is not OpenAI's format."""
    try:
        error = _error_decoder.decode(body).error
    except (msgspec.DecodeError, msgspec.ValidationError):
        error = None
    if isinstance(error, _ErrorDetail):
        return (error.message or "")[:500], str(error.code or "")
    if isinstance(error, str):
        return error[:500], ""
    return body.decode("utf-8", "replace").strip()[:500], ""


def is_context_overflow(message: str, code: str) -> bool:
    """Whether a 400's error says the prompt is too long for the model."""
    lowered = message.lower()
    return code in _OVERFLOW_CODES or any(word in lowered for word in _OVERFLOW_WORDS)


class OpenAIClient:
    """:class:`LLMClient` for OpenAI and OpenAI-compatible servers, via the openai SDK.

    Configured the SDK's way: ``OPENAI_BASE_URL`` and ``OPENAI_API_KEY`` unless
    given. A server of your own (a base URL) needs no key; OpenAI itself does.
    The SDK's own retries are off; this client retries as its ``retry`` policy says.
    Close it with :meth:`aclose` (or ``async with``) unless you passed ``client``.
    """

    def __init__(
        self,
        *,
        base_url: str | None = None,
        api_key: str | None = None,
        timeout: float = 120.0,
        retry: RetryPolicy | None = None,
        client: openai.AsyncOpenAI | None = None,
    ) -> None:
        """Configure the client; nothing is sent until :meth:`complete`.

        Args:
            base_url: The server, e.g. ``http://localhost:11434/v1`` (default:
                ``OPENAI_BASE_URL``, else OpenAI).
            api_key: The key (default: ``OPENAI_API_KEY``).
            timeout: Seconds per request.
            retry: Tries and waits for transient failures (default: 5 tries).
            client: An SDK client to use instead of making one (it is not closed here).

        Raises:
            ConfigError: neither a server nor an API key is configured.
        """
        import openai

        self.retry = retry or RetryPolicy()
        if self.retry.tries < 1:
            raise ConfigError(f"retry.tries must be at least 1, not {self.retry.tries}")
        self._owns_client = client is None
        if client is None:
            base_url = base_url or os.environ.get("OPENAI_BASE_URL") or None
            api_key = api_key or os.environ.get("OPENAI_API_KEY") or None
            if base_url is None and api_key is None:
                raise ConfigError(
                    "no LLM is configured: set OPENAI_BASE_URL to an OpenAI-compatible"
                    " server, or OPENAI_API_KEY to use OpenAI"
                )
            client = openai.AsyncOpenAI(
                base_url=base_url, api_key=api_key or _NO_KEY, timeout=timeout, max_retries=0
            )
        elif client.max_retries != 0:
            client = client.with_options(max_retries=0)
        self._client = client
        self._encoder = RequestEncoder()

    @property
    def base_url(self) -> str:
        """The server requests go to."""
        return str(self._client.base_url)

    async def complete(self, request: LLMRequest) -> LLMResponse:
        """Ask for one chat completion (see :meth:`LLMClient.complete`).

        Raises:
            ContextOverflowError: the server said the prompt is too long (not retried).
            LLMAPIError: any other refusal (not retried), or failures on every try.
        """
        body = self._encoder.encode(request)
        source = f"the LLM server at {self.base_url} (model {request.model!r})"
        tries = self.retry.tries
        for attempt in range(tries):
            failure, wait = await self._try_once(body, source, attempt)
            if isinstance(failure, LLMResponse):
                return failure
            if attempt + 1 >= tries:
                failure.message = f"{failure.message} (gave up after {tries} tries)"
                failure.attempts = tries
                raise failure
            await anyio.sleep(self._delay(attempt, wait))
        raise AssertionError("unreachable")  # pragma: no cover

    def _delay(self, attempt: int, retry_after: float | None) -> float:
        policy = self.retry
        if retry_after is not None:
            return min(retry_after, policy.max_delay)
        return backoff_delay(
            attempt, base=policy.base_delay, cap=policy.max_delay, jitter=random.random()
        )

    async def _try_once(
        self, body: bytes, source: str, attempt: int
    ) -> tuple[LLMResponse | LLMAPIError, float | None]:
        """One request: the response, or the (retryable) error and the wait it asked for.

        Errors not worth retrying are raised.
        """
        import httpx2
        import openai

        try:
            response = await self._client.post(
                "/chat/completions",
                content=body,
                cast_to=httpx2.Response,
                options={"headers": _JSON_HEADERS},
            )
        except openai.APITimeoutError as exc:
            return LLMAPIError(f"{source} timed out: {exc.message}", attempts=attempt + 1), None
        except openai.APIConnectionError as exc:
            return (
                LLMAPIError(f"{source} could not be reached: {exc.message}", attempts=attempt + 1),
                None,
            )
        except openai.APIStatusError as exc:
            return self._status_error(exc, source, attempt)
        data = response.content
        try:
            return decode_response(data), None
        except (
            msgspec.DecodeError,
            msgspec.ValidationError,
            ValueError,
            UnicodeDecodeError,
        ) as exc:
            raise LLMAPIError(
                f"{source} sent an answer that is not a chat completion: {exc}",
                status_code=response.status_code,
                attempts=attempt + 1,
            ) from None

    def _status_error(
        self, exc: openai.APIStatusError, source: str, attempt: int
    ) -> tuple[LLMAPIError, float | None]:
        status = exc.status_code
        message, code = _error_detail(exc.response.content)
        text = f"{source} answered {status}: {message or exc.message}"
        if status == 400 and is_context_overflow(message, code):
            raise ContextOverflowError(text, status_code=status, attempts=attempt + 1) from None
        error = LLMAPIError(text, status_code=status, attempts=attempt + 1)
        if status in (401, 403):
            error.message = f"{text}; check OPENAI_API_KEY for {self.base_url}"
        elif status == 404:
            error.message = (
                f"{text}; check the model name, and that the base URL is the API's"
                " (it often ends in /v1)"
            )
        if not (status in (408, 429) or status >= 500):
            raise error from None
        headers = exc.response.headers
        wait = parse_retry_after(headers.get("retry-after"))
        millis = parse_retry_after(headers.get("retry-after-ms"))
        if millis is not None:
            wait = millis / 1000
        return error, wait

    async def aclose(self) -> None:
        """Close the HTTP client, if this client made it."""
        if self._owns_client:
            await self._client.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()
