"""Webhook requests judged as data: headers and bytes in, typed outcomes out (no I/O).

```
POST /agents/{name}/events
   route ── PostEvents(name)
   check_event_head ── credentials present? bearer token right? application/json?
   │                   Idempotency-Key well formed? Content-Length within the limit?
   ▼                   ──► EventHead | Rejection(401 | 415 | 400 | 413)
 (the shell reads the body, stopping as soon as it passes the limit: 413)
   check_event_body ── signature of the raw body right? a JSON object of the right
   │                   shape? ──► EventBody | Rejection(401 | 400)
   ▼
 (the shell delivers it) ── delivery_response ──► 202 | 200 | 429 | 404

GET /agents/{name}/messages?after=SEQ&wait=SECONDS
   route ── GetMessages(name)
   check_poll ── credentials (a signature signs the request target: there is no
                 body) ── after, wait ──► PollQuery | Rejection(401 | 400)
```

Invariants:

* **Client input never raises.** Every function here answers any bytes and any
  headers with a value: a parsed request or a :class:`Rejection` that says what
  was wrong (Hypothesis checks this).
* **Secrets are compared in constant time** (:func:`hmac.compare_digest`), and a
  signature is accepted only if it is exactly ``sha256=`` and the lowercase hex
  HMAC-SHA256 of the signed bytes.
* **What is accepted can be logged**: a body whose payload msgpack cannot carry
  (an integer beyond 64 bits) is a 400 here, not a failure in the log later.

Auth, per agent (:class:`WebhookAuth`): a ``secret`` requires the header
``X-Memvisor-Signature: sha256=<hex>``, a ``token`` requires
``Authorization: Bearer <token>``; with both, both are required; with neither,
the agent takes unsigned requests.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import re
from collections.abc import Sequence
from typing import Annotated, assert_never
from urllib.parse import parse_qsl

import msgspec

from .._exceptions import ConfigError
from ..events import AssistantMessage
from ._delivery import Accepted, Busy, Delivery, Duplicate, UnknownAgent

__all__ = [
    "EventBody",
    "EventHead",
    "GetMessages",
    "Health",
    "PollQuery",
    "PostEvents",
    "Rejection",
    "Response",
    "Route",
    "WebhookAuth",
    "body_too_large",
    "check_event_body",
    "check_event_head",
    "check_poll",
    "delivery_response",
    "error_response",
    "health_response",
    "messages_response",
    "parse_event_body",
    "parse_poll_query",
    "route",
    "unknown_agent",
    "verify_signature",
    "webhook_signature",
]

Headers = Sequence[tuple[bytes, bytes]]
"""Request headers as ASGI gives them: (lowercase name, value) pairs, in order."""

SIGNATURE_HEADER = b"x-memvisor-signature"
MAX_KEY_CHARS = 200
MAX_SOURCE_CHARS = 200
_KEY = re.compile(rb"[\x20-\x7e]{1,%d}" % MAX_KEY_CHARS)
_SEQ = re.compile(r"[0-9]{1,18}")
_SECONDS = re.compile(r"[0-9]{1,9}(\.[0-9]{1,9})?")
_msgpack = msgspec.msgpack.Encoder()
_json = msgspec.json.Encoder()


class WebhookAuth(msgspec.Struct, frozen=True, kw_only=True):
    """How one agent's webhook proves who is calling. Neither set: anyone may post."""

    secret: bytes | None = None
    """HMAC-SHA256 key: requests carry ``X-Memvisor-Signature: sha256=<hex>`` of the
    raw body (of the request target, for a GET)."""
    token: str | None = None
    """Bearer token: requests carry ``Authorization: Bearer <token>``."""

    def __post_init__(self) -> None:
        if self.secret is not None and not self.secret:
            raise ConfigError("a webhook secret must not be empty")
        if self.token is not None and (not self.token or self.token != self.token.strip()):
            raise ConfigError("a webhook token must be non-empty, without surrounding spaces")


# --- outcomes ----------------------------------------------------------------------


class Rejection(msgspec.Struct, frozen=True, kw_only=True):
    """The request is refused; nothing was delivered."""

    status: int
    error: str
    """What was wrong, for the caller to read."""
    headers: tuple[tuple[str, str], ...] = ()


class PostEvents(msgspec.Struct, frozen=True, kw_only=True):
    """``POST /agents/{agent}/events``."""

    agent: str


class GetMessages(msgspec.Struct, frozen=True, kw_only=True):
    """``GET /agents/{agent}/messages``."""

    agent: str


class Health(msgspec.Struct, frozen=True, kw_only=True):
    """``GET /healthz``."""


Route = PostEvents | GetMessages | Health | Rejection


class EventHead(msgspec.Struct, frozen=True, kw_only=True):
    """What the headers of an acceptable event post said."""

    key: str | None
    """The Idempotency-Key, if any."""
    signature: bytes | None
    """The signature header's value, when the agent has a secret."""


class EventBody(msgspec.Struct, frozen=True, kw_only=True):
    """A well-formed event body."""

    text: str
    payload: object
    source: str


class PollQuery(msgspec.Struct, frozen=True, kw_only=True):
    """What a reader asked for: replies after ``after``, waiting up to ``wait`` seconds."""

    after: int
    wait: float


class Response(msgspec.Struct, frozen=True, kw_only=True):
    """A JSON answer, ready to send."""

    status: int
    body: bytes
    headers: tuple[tuple[str, str], ...] = ()


# --- routing -----------------------------------------------------------------------


def route(method: str, path: str) -> Route:
    """Which endpoint ``method path`` asks for (``path`` percent-decoded, no query)."""
    parts = path.split("/")
    allowed: str
    if path == "/healthz":
        found: Route = Health()
        allowed = "GET"
    elif len(parts) == 4 and parts[:2] == ["", "agents"] and parts[2]:
        if parts[3] == "events":
            found, allowed = PostEvents(agent=parts[2]), "POST"
        elif parts[3] == "messages":
            found, allowed = GetMessages(agent=parts[2]), "GET"
        else:
            return Rejection(status=404, error=f"no such endpoint: {path}")
    else:
        return Rejection(status=404, error=f"no such endpoint: {path}")
    if method != allowed:
        return Rejection(
            status=405,
            error=f"{path} takes {allowed}, not {method}",
            headers=(("allow", allowed),),
        )
    return found


def unknown_agent(agent: str) -> Rejection:
    """The answer for an agent that does not exist (or takes no webhooks)."""
    return Rejection(status=404, error=f"unknown agent: {agent!r}")


# --- auth --------------------------------------------------------------------------


def webhook_signature(secret: bytes, signed: bytes) -> str:
    """The ``X-Memvisor-Signature`` value for ``signed`` (a body, or a GET's target)."""
    return "sha256=" + hmac.new(secret, signed, hashlib.sha256).hexdigest()


def verify_signature(secret: bytes, header: bytes | None, signed: bytes) -> bool:
    """Whether ``header`` is exactly the signature of ``signed`` (constant time)."""
    if header is None:
        return False
    return hmac.compare_digest(header, webhook_signature(secret, signed).encode())


def _single(headers: Headers, name: bytes) -> bytes | Rejection | None:
    """The value of header ``name``: None if absent, a Rejection if repeated."""
    values = [value for key, value in headers if key.lower() == name]
    if len(values) > 1:
        return Rejection(status=400, error=f"more than one {name.decode()} header")
    return values[0] if values else None


def _check_token(token: str, headers: Headers) -> Rejection | None:
    value = _single(headers, b"authorization")
    if isinstance(value, Rejection):
        return value
    denied = Rejection(
        status=401,
        error="missing or wrong bearer token (Authorization: Bearer <token>)",
        headers=(("www-authenticate", "Bearer"),),
    )
    if value is None:
        return denied
    scheme, _, given = value.partition(b" ")
    if scheme.lower() != b"bearer":
        return denied
    if not hmac.compare_digest(given.strip(), token.encode()):
        return denied
    return None


def _signature_header(auth: WebhookAuth, headers: Headers) -> bytes | Rejection | None:
    """The signature header when the agent has a secret (401 if missing), else None."""
    if auth.secret is None:
        return None
    value = _single(headers, SIGNATURE_HEADER)
    if value is None:
        return Rejection(
            status=401, error="missing X-Memvisor-Signature header (sha256=<hex HMAC>)"
        )
    return value


# --- POST /agents/{name}/events --------------------------------------------------------


def _check_content_type(headers: Headers) -> Rejection | None:
    value = _single(headers, b"content-type")
    if isinstance(value, Rejection):
        return value
    if value is None:
        return Rejection(status=415, error="missing Content-Type: send application/json")
    media, *params = value.decode("latin-1").split(";")
    if media.strip().lower() != "application/json":
        return Rejection(
            status=415, error=f"Content-Type {media.strip()!r} is not application/json"
        )
    for param in params:
        name, _, charset = param.partition("=")
        if name.strip().lower() == "charset" and charset.strip().strip('"').lower() not in {
            "utf-8",
            "utf8",
        }:
            return Rejection(status=415, error="JSON must be sent as UTF-8")
    return None


def _check_key(headers: Headers) -> str | Rejection | None:
    value = _single(headers, b"idempotency-key")
    if value is None or isinstance(value, Rejection):
        return value
    if not _KEY.fullmatch(value):
        return Rejection(
            status=400,
            error=f"Idempotency-Key must be 1 to {MAX_KEY_CHARS} printable ASCII characters",
        )
    return value.decode("ascii")


def _check_length(headers: Headers, max_body: int) -> Rejection | None:
    value = _single(headers, b"content-length")
    if isinstance(value, Rejection):
        return value
    # (h11 has checked that it is a number; its length bounds int()'s work)
    if value is not None and (len(value) > 18 or (value.isdigit() and int(value) > max_body)):
        return body_too_large(max_body)
    return None


def body_too_large(max_body: int) -> Rejection:
    """The answer once more than ``max_body`` bytes have been read."""
    return Rejection(status=413, error=f"body over the limit of {max_body} bytes")


def check_event_head(
    auth: WebhookAuth, headers: Headers, *, max_body: int
) -> EventHead | Rejection:
    """Judge an event post by its headers, before any of its body is read."""
    if auth.token is not None and (denied := _check_token(auth.token, headers)):
        return denied
    signature = _signature_header(auth, headers)
    if isinstance(signature, Rejection):
        return signature
    if rejected := _check_content_type(headers):
        return rejected
    key = _check_key(headers)
    if isinstance(key, Rejection):
        return key
    if rejected := _check_length(headers, max_body):
        return rejected
    return EventHead(key=key, signature=signature)


def check_event_body(auth: WebhookAuth, head: EventHead, body: bytes) -> EventBody | Rejection:
    """Judge the raw body of an event post: its signature, then its JSON."""
    if auth.secret is not None and not verify_signature(auth.secret, head.signature, body):
        return Rejection(status=401, error="X-Memvisor-Signature does not match the body")
    return parse_event_body(body)


class _Post(msgspec.Struct, forbid_unknown_fields=True):
    """The body of an event post, as msgspec reads it (its errors name the field)."""

    text: str = ""
    payload: object | msgspec.UnsetType = msgspec.UNSET
    source: Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_SOURCE_CHARS)] = "webhook"


_post_decoder = msgspec.json.Decoder(_Post)


def parse_event_body(body: bytes) -> EventBody | Rejection:
    """``{"text": str, "payload": any JSON, "source": str}``, text or payload required."""
    try:
        post = _post_decoder.decode(body)
    except msgspec.ValidationError as exc:
        return Rejection(
            status=400,
            error=f"wrong shape: {exc} (expected a JSON object with "
            "text and/or payload, and optionally source)",
        )
    except (msgspec.DecodeError, UnicodeDecodeError, RecursionError) as exc:
        return Rejection(status=400, error=f"malformed JSON: {exc}")
    if not post.text and post.payload is msgspec.UNSET:
        return Rejection(status=400, error="nothing to deliver: give a text or a payload")
    payload = None if post.payload is msgspec.UNSET else post.payload
    try:
        _msgpack.encode(payload)
    except (OverflowError, ValueError, TypeError):
        return Rejection(status=400, error="payload holds an integer beyond 64 bits")
    return EventBody(text=post.text, payload=payload, source=post.source)


def delivery_response(agent: str, outcome: Delivery) -> Response:
    """The answer to a delivered event post."""
    match outcome:
        case Accepted(id=accepted_id):
            return Response(status=202, body=b'{"accepted":true,"id":%d}' % accepted_id)
        case Duplicate(id=first_id):
            return Response(status=200, body=b'{"duplicate":true,"id":%d}' % first_id)
        case Busy(retry_after=retry_after):
            seconds = math.ceil(retry_after) if math.isfinite(retry_after) else 1
            return error_response(
                Rejection(
                    status=429,
                    error="the agent is busy: try again later",
                    headers=(("retry-after", str(min(max(seconds, 1), 3600))),),
                )
            )
        case UnknownAgent():
            return error_response(unknown_agent(agent))
        case _:
            assert_never(outcome)


# --- GET /agents/{name}/messages -------------------------------------------------------


def check_poll(
    auth: WebhookAuth, headers: Headers, target: bytes, query: bytes, *, wait_max: float
) -> PollQuery | Rejection:
    """Judge a read of replies: credentials over ``target`` (path and query, as sent),
    then ``after`` (a seq, default 0) and ``wait`` (seconds, default 0, capped)."""
    if auth.token is not None and (denied := _check_token(auth.token, headers)):
        return denied
    signature = _signature_header(auth, headers)
    if isinstance(signature, Rejection):
        return signature
    if auth.secret is not None and not verify_signature(auth.secret, signature, target):
        return Rejection(
            status=401, error="X-Memvisor-Signature does not match the request target"
        )
    return parse_poll_query(query, wait_max=wait_max)


def parse_poll_query(query: bytes, *, wait_max: float) -> PollQuery | Rejection:
    """``after=SEQ&wait=SECONDS``; other parameters are ignored."""
    try:
        pairs = parse_qsl(query.decode("latin-1"), keep_blank_values=True, max_num_fields=20)
    except ValueError:
        return Rejection(status=400, error="too many query parameters")
    values: dict[str, str] = {}
    for name, value in pairs:
        if name in values:
            return Rejection(status=400, error=f"{name} given twice")
        values[name] = value
    after = values.get("after", "0")
    wait = values.get("wait", "0")
    if not _SEQ.fullmatch(after):
        return Rejection(status=400, error=f"after must be a seq (0, 1, 2 …), not {after!r}")
    if not _SECONDS.fullmatch(wait):
        return Rejection(status=400, error=f"wait must be a number of seconds, not {wait!r}")
    return PollQuery(after=int(after), wait=min(float(wait), wait_max))


class _Message(msgspec.Struct, frozen=True):
    seq: int
    at: float
    text: str


class _Messages(msgspec.Struct, frozen=True):
    messages: list[_Message]


def messages_response(replies: Sequence[AssistantMessage]) -> Response:
    """``{"messages": [{"seq", "at", "text"}, …]}``."""
    found = _Messages([_Message(m.seq, m.at, m.text) for m in replies])
    return Response(status=200, body=_json.encode(found))


# --- answers -----------------------------------------------------------------------


class _Error(msgspec.Struct, frozen=True):
    error: str


def error_response(rejection: Rejection) -> Response:
    """``{"error": "..."}`` with the rejection's status and headers."""
    return Response(
        status=rejection.status,
        body=_json.encode(_Error(rejection.error)),
        headers=rejection.headers,
    )


def health_response() -> Response:
    """``{"ok": true}``."""
    return Response(status=200, body=b'{"ok":true}')
