"""The webhook server: a small ASGI app over the seam, served by hypercorn.

```
hypercorn (trio or asyncio worker; h11 parses HTTP, hands the body over in chunks)
   │ scope, receive, send
   ▼
_WebhookApp ── route ── the rules judge headers (_webhook_rules, pure)
   │           read the body in chunks, at most max_body bytes (413 the moment it passes)
   │           the rules judge the body ── ExternalEvent
   ▼
Deliverer.deliver ──► 202 accepted | 200 duplicate | 429 busy (Retry-After) | 404
Outbox.replies    ──► 200 {"messages": [...]} (long-poll, given up if the caller leaves)
```

Invariants:

* **Nothing is delivered unless every check passed**: auth, content type, size,
  JSON shape. A 2xx means the deliverer said Accepted (durable) or Duplicate.
* **The body limit holds while reading**: a declared Content-Length over the
  limit is refused before a byte is read, and a chunked body is refused as soon
  as the bytes read pass the limit; the rest is never read (hypercorn then closes
  the connection). Hypercorn hands chunks over through a small bounded queue, so
  the server never holds much more than the limit either.
* **No traceback reaches a caller**: anything unexpected is logged (with its
  traceback, to the ``memvisor.sources.webhook`` logger) and answered 500 with a
  generic message.
* Only the agents in ``auth`` are reachable; any other name is a 404 whether or
  not the host knows the agent.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import TYPE_CHECKING, assert_never, cast

import anyio
import anyio.abc
import trio

from .._exceptions import UsageError
from .._util import single_error
from ..events import AssistantMessage, ExternalEvent
from ._delivery import Deliverer, Outbox
from ._webhook_rules import (
    GetMessages,
    Health,
    PollQuery,
    PostEvents,
    Rejection,
    Response,
    WebhookAuth,
    body_too_large,
    check_event_body,
    check_event_head,
    check_poll,
    delivery_response,
    error_response,
    health_response,
    messages_response,
    route,
    unknown_agent,
)

if TYPE_CHECKING:
    from hypercorn.config import Config
    from hypercorn.typing import ASGIFramework

__all__ = ["ASGIApp", "serve_webhooks", "webhook_app"]

ASGIMessage = Mapping[str, object]
_Receive = Callable[[], Awaitable[ASGIMessage]]
_Send = Callable[[ASGIMessage], Awaitable[None]]
ASGIApp = Callable[[Mapping[str, object], _Receive, _Send], Awaitable[None]]
"""An ASGI 3 application: ``await app(scope, receive, send)``."""

_log = logging.getLogger("memvisor.sources.webhook")
_READ_TIMEOUT = 120
"""Seconds a connection may stay silent mid-request (bounds slow clients; above any
long-poll, since hypercorn counts a long-poll's wait as silence)."""
_POLL_WAIT_CEILING = 90.0
_BACKLOG = 1024
_SERVER_ERROR = Rejection(status=500, error="internal error (logged on the server)")


def webhook_app(
    deliverer: Deliverer,
    outbox: Outbox,
    auth: Mapping[str, WebhookAuth],
    *,
    max_body: int = 1 << 20,
    poll_wait_max: float = 30.0,
) -> ASGIApp:
    """The webhook endpoints as an ASGI application.

    Args:
        deliverer: takes the events posted.
        outbox: answers reads of agents' replies.
        auth: the agents reachable through webhooks, each with how its callers prove
            who they are (``WebhookAuth()``: no proof needed). Other names are 404.
        max_body: the largest body accepted, in bytes (413 beyond).
        poll_wait_max: the longest a read of replies may wait, in seconds (at most 90).
    """
    if max_body < 1:
        raise UsageError(f"max_body must be at least 1 byte, not {max_body}")
    if not 0 <= poll_wait_max <= _POLL_WAIT_CEILING:
        raise UsageError(f"poll_wait_max must be 0 to {_POLL_WAIT_CEILING:g} s: {poll_wait_max}")
    return _WebhookApp(deliverer, outbox, dict(auth), max_body, poll_wait_max)


class _WebhookApp:
    def __init__(
        self,
        deliverer: Deliverer,
        outbox: Outbox,
        auth: dict[str, WebhookAuth],
        max_body: int,
        poll_wait_max: float,
    ) -> None:
        self._deliverer = deliverer
        self._outbox = outbox
        self._auth = auth
        self._max_body = max_body
        self._poll_wait_max = poll_wait_max

    async def __call__(self, scope: Mapping[str, object], receive: _Receive, send: _Send) -> None:
        kind = scope.get("type")
        if kind == "lifespan":
            await _lifespan(receive, send)
        elif kind == "http":
            try:
                response = await self._answer(scope, receive)
            except Exception:  # noqa: BLE001 -- the HTTP boundary: a bug is a 500, not a crash
                _log.exception(
                    "webhook request failed: %s %s", scope.get("method"), scope.get("path")
                )
                response = error_response(_SERVER_ERROR)
            if response is not None:
                await _respond(send, response)
        elif kind == "websocket":  # refused: closing before accepting is a 403
            await receive()
            await send({"type": "websocket.close", "code": 1008})

    async def _answer(self, scope: Mapping[str, object], receive: _Receive) -> Response | None:
        """The response to one request (None: the caller left, nobody to answer)."""
        path = str(scope.get("path", ""))
        found = route(str(scope.get("method", "")), path)
        headers = cast("Sequence[tuple[bytes, bytes]]", scope.get("headers", ()))
        match found:
            case Rejection():
                return error_response(found)
            case Health():
                return health_response()
            case PostEvents(agent=agent) if (auth := self._auth.get(agent)) is not None:
                return await self._post_event(agent, auth, headers, receive)
            case GetMessages(agent=agent) if (auth := self._auth.get(agent)) is not None:
                query = check_poll(
                    auth,
                    headers,
                    _target(scope, path),
                    _query(scope),
                    wait_max=self._poll_wait_max,
                )
                if isinstance(query, Rejection):
                    return error_response(query)
                return await self._read_replies(agent, query, receive)
            case PostEvents(agent=agent) | GetMessages(agent=agent):
                return error_response(unknown_agent(agent))
            case _:
                assert_never(found)

    async def _post_event(
        self,
        agent: str,
        auth: WebhookAuth,
        headers: Sequence[tuple[bytes, bytes]],
        receive: _Receive,
    ) -> Response | None:
        head = check_event_head(auth, headers, max_body=self._max_body)
        if isinstance(head, Rejection):
            return error_response(head)
        body = await _read_body(receive, self._max_body)
        if isinstance(body, _Disconnected):
            return None
        if body is None:
            return error_response(body_too_large(self._max_body))
        post = check_event_body(auth, head, body)
        if isinstance(post, Rejection):
            return error_response(post)
        event = ExternalEvent(
            agent=agent,
            seq=0,
            at=0.0,
            source=post.source,
            text=post.text,
            payload=post.payload,
            key=head.key,
        )
        return delivery_response(agent, await self._deliverer.deliver(agent, event))

    async def _read_replies(
        self, agent: str, query: PollQuery, receive: _Receive
    ) -> Response | None:
        """The replies after ``query.after``, waiting as asked unless the caller leaves."""
        found: tuple[AssistantMessage, ...] | _Disconnected | None = _DISCONNECTED
        async with anyio.create_task_group() as tg:

            async def watch_disconnect() -> None:
                while (await receive()).get("type") != "http.disconnect":
                    pass
                tg.cancel_scope.cancel()

            tg.start_soon(watch_disconnect)
            found = await self._outbox.replies(agent, after=query.after, wait=query.wait)
            tg.cancel_scope.cancel()
        if isinstance(found, _Disconnected):
            return None
        if found is None:
            return error_response(unknown_agent(agent))
        return messages_response(found)


class _Disconnected:
    """The caller went away before the request was answered."""


_DISCONNECTED = _Disconnected()


async def _read_body(receive: _Receive, limit: int) -> bytes | _Disconnected | None:
    """The whole body, or None as soon as it passes ``limit`` bytes."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message.get("type") != "http.request":
            return _DISCONNECTED
        chunk = message.get("body", b"")
        if isinstance(chunk, bytes | bytearray) and chunk:
            size += len(chunk)
            if size > limit:
                return None
            chunks.append(bytes(chunk))
        if not message.get("more_body", False):
            return b"".join(chunks)


def _target(scope: Mapping[str, object], path: str) -> bytes:
    """The request target as sent: raw path, then ``?query`` if there is one."""
    raw = scope.get("raw_path")
    target = raw if isinstance(raw, bytes) else path.encode()
    query = _query(scope)
    return target + b"?" + query if query else target


def _query(scope: Mapping[str, object]) -> bytes:
    query = scope.get("query_string", b"")
    return query if isinstance(query, bytes) else b""


async def _respond(send: _Send, response: Response) -> None:
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(response.body)).encode()),
        *((name.encode(), value.encode()) for name, value in response.headers),
    ]
    await send({"type": "http.response.start", "status": response.status, "headers": headers})
    await send({"type": "http.response.body", "body": response.body})


async def _lifespan(receive: _Receive, send: _Send) -> None:
    while True:
        message = await receive()
        if message.get("type") == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message.get("type") == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


async def serve_webhooks(
    app: ASGIApp,
    host: str,
    port: int,
    *,
    task_status: anyio.abc.TaskStatus[str] = anyio.TASK_STATUS_IGNORED,
    shutdown_trigger: Callable[[], Awaitable[None]] | None = None,
    grace: float = 3.0,
) -> None:
    """Serve ``app`` over HTTP/1.1 on ``host:port`` with hypercorn, on trio or asyncio.

    Start it with ``url = await tg.start(serve_webhooks, app, host, port)``: it reports
    the base URL once it is listening (with ``port=0``, the free port it took). It
    stops when ``shutdown_trigger`` returns or when it is cancelled, and either way
    gracefully: it stops accepting, lets requests in flight finish for up to
    ``grace`` seconds, then returns (cancelled: re-raises the cancellation).
    """
    sock = _listen(host, port)
    bound = sock.getsockname()
    config = _config(sock, grace)
    stop = anyio.Event()
    stopped = anyio.Event()

    async def run_server() -> None:
        # Shielded: hypercorn is always stopped through its trigger (its asyncio
        # worker breaks when cancelled), and the socket always reaches it.
        with anyio.CancelScope(shield=True):
            try:
                await _hypercorn_serve(cast("ASGIFramework", app), config, stop.wait)
            finally:
                stopped.set()

    with single_error():
        async with anyio.create_task_group() as tg:
            tg.start_soon(run_server)
            bound_host = f"[{bound[0]}]" if sock.family == socket.AF_INET6 else bound[0]
            task_status.started(f"http://{bound_host}:{bound[1]}")
            try:
                await (shutdown_trigger or anyio.sleep_forever)()
            finally:
                stop.set()
                with anyio.CancelScope(shield=True):
                    await stopped.wait()


def _listen(host: str, port: int) -> socket.socket:
    """A listening socket: connections wait in its backlog until hypercorn accepts."""
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.bind((host, port))
        sock.listen(_BACKLOG)
    except BaseException:
        sock.close()
        raise
    return sock


def _config(sock: socket.socket, grace: float) -> Config:
    from hypercorn.config import Config

    config = Config()
    # hypercorn's serve() takes addresses or descriptors, not sockets: hand it the
    # descriptor (it owns it from here; run_server makes sure it gets there).
    config.bind = [f"fd://{sock.detach()}"]
    config.backlog = _BACKLOG
    config.graceful_timeout = grace
    config.loglevel = "WARNING"
    config.accesslog = None
    config.include_server_header = False
    config.read_timeout = _READ_TIMEOUT
    return config


async def _hypercorn_serve(
    app: ASGIFramework, config: Config, trigger: Callable[[], Awaitable[None]]
) -> None:
    if trio.lowlevel.in_trio_run():
        from hypercorn.trio import serve as trio_serve

        await trio_serve(app, config, shutdown_trigger=trigger, mode="asgi")
    else:
        from hypercorn.asyncio import serve as asyncio_serve

        await asyncio_serve(app, config, shutdown_trigger=trigger, mode="asgi")
