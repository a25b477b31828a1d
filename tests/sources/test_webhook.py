"""The webhook server, over real HTTP: hypercorn on a free loopback port, httpx as caller."""

from __future__ import annotations

import json
import logging
import random
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from functools import partial

import anyio
import httpx2
import pytest

from memvisor.events import AssistantMessage, ExternalEvent
from memvisor.sources import (
    ASGIApp,
    Deliverer,
    Delivery,
    MemoryDeliverer,
    Outbox,
    WebhookAuth,
    serve_webhooks,
    webhook_app,
    webhook_signature,
)

pytestmark = pytest.mark.anyio

SECRET = b"s3cret"
JSON = {"content-type": "application/json"}
AUTH = {
    "open": WebhookAuth(),
    "signed": WebhookAuth(secret=SECRET),
    "token": WebhookAuth(token="t0ken"),
    "ghost": WebhookAuth(),  # reachable, but the deliverer does not know it
}
Message = Mapping[str, object]


@asynccontextmanager
async def serving(
    deliverer: Deliverer,
    outbox: Outbox,
    *,
    auth: Mapping[str, WebhookAuth] = AUTH,
    wrap: Callable[[ASGIApp], ASGIApp] = lambda app: app,
    max_body: int = 1 << 20,
) -> AsyncIterator[httpx2.AsyncClient]:
    app = wrap(webhook_app(deliverer, outbox, auth, max_body=max_body, poll_wait_max=30))
    async with anyio.create_task_group() as tg:
        url = await tg.start(serve_webhooks, app, "127.0.0.1", 0)
        async with httpx2.AsyncClient(base_url=url) as client:
            yield client
        tg.cancel_scope.cancel()


def fake() -> MemoryDeliverer:
    return MemoryDeliverer({"open", "signed", "token"})


def said(seq: int, text: str, agent: str = "open") -> AssistantMessage:
    return AssistantMessage(agent=agent, seq=seq, at=100.0 + seq, text=text)


def signed(body: bytes) -> dict[str, str]:
    return {**JSON, "x-memvisor-signature": webhook_signature(SECRET, body)}


def delivered(deliverer: MemoryDeliverer) -> int:
    return sum(len(events) for events in deliverer.accepted.values())


# --- posting events ---------------------------------------------------------------------


async def test_health() -> None:
    deliverer = fake()
    async with serving(deliverer, deliverer) as client:
        answer = await client.get("/healthz")
    assert (answer.status_code, answer.json()) == (200, {"ok": True})
    assert answer.headers["content-type"] == "application/json"


async def test_a_post_is_delivered_as_an_external_event() -> None:
    deliverer = fake()
    body = {"text": "a new order", "payload": {"order": 17}, "source": "shop"}
    async with serving(deliverer, deliverer) as client:
        first = await client.post("/agents/open/events", json=body)
        second = await client.post("/agents/open/events", json={"text": "again"})
    assert (first.status_code, first.json()) == (202, {"accepted": True, "id": 1})
    assert (second.status_code, second.json()) == (202, {"accepted": True, "id": 2})
    event = deliverer.accepted["open"][0]
    assert isinstance(event, ExternalEvent)
    assert (event.text, event.payload, event.source, event.key) == (
        "a new order",
        {"order": 17},
        "shop",
        None,
    )
    assert deliverer.accepted["open"][1].source == "webhook"


async def test_a_signed_agent_takes_only_the_right_signature() -> None:
    deliverer = fake()
    body = b'{"text":"hi"}'
    async with serving(deliverer, deliverer) as client:
        missing = await client.post("/agents/signed/events", content=body, headers=JSON)
        wrong = await client.post(
            "/agents/signed/events", content=body, headers=signed(b'{"text":"ho"}')
        )
        right = await client.post("/agents/signed/events", content=body, headers=signed(body))
    assert missing.status_code == 401
    assert "X-Memvisor-Signature" in missing.json()["error"]
    assert wrong.status_code == 401
    assert "does not match" in wrong.json()["error"]
    assert right.status_code == 202
    assert [e.text for e in deliverer.accepted["signed"]] == ["hi"]


async def test_a_token_agent_takes_only_the_right_token() -> None:
    deliverer = fake()
    async with serving(deliverer, deliverer) as client:
        missing = await client.post("/agents/token/events", json={"text": "x"})
        wrong = await client.post(
            "/agents/token/events", json={"text": "x"}, headers={"authorization": "Bearer nope"}
        )
        right = await client.post(
            "/agents/token/events", json={"text": "x"}, headers={"authorization": "Bearer t0ken"}
        )
    assert [missing.status_code, wrong.status_code, right.status_code] == [401, 401, 202]
    assert missing.headers["www-authenticate"] == "Bearer"
    assert len(deliverer.accepted["token"]) == 1


@pytest.mark.parametrize(
    ("content", "headers", "status", "says"),
    [
        (b'{"text":"x"}', {"content-type": "text/plain"}, 415, "not application/json"),
        (b'{"text":"x"}', {}, 415, "Content-Type"),
        (b'{"text": "x"', JSON, 400, "malformed JSON"),
        (b'["x"]', JSON, 400, "JSON object"),
        (b'{"text": 5}', JSON, 400, "$.text"),
        (b"{}", JSON, 400, "text or a payload"),
        (b'{"text":"x"}', {**JSON, "idempotency-key": "k" * 201}, 400, "Idempotency-Key"),
    ],
)
async def test_bad_input_is_refused_saying_why_and_nothing_is_delivered(
    content: bytes, headers: dict[str, str], status: int, says: str
) -> None:
    deliverer = fake()
    async with serving(deliverer, deliverer) as client:
        answer = await client.post("/agents/open/events", content=content, headers=headers)
    assert answer.status_code == status
    assert says in answer.json()["error"]
    assert delivered(deliverer) == 0


@pytest.mark.parametrize("agent", ["nobody", "ghost"])
async def test_an_unknown_agent_is_404(agent: str) -> None:
    deliverer = fake()
    async with serving(deliverer, deliverer) as client:
        post = await client.post(f"/agents/{agent}/events", json={"text": "x"})
        read = await client.get(f"/agents/{agent}/messages")
    assert (post.status_code, read.status_code) == (404, 404)
    assert post.json() == {"error": f"unknown agent: {agent!r}"}


async def test_the_same_idempotency_key_is_delivered_once() -> None:
    deliverer = fake()
    async with serving(deliverer, deliverer) as client:
        answers = [
            await client.post(
                "/agents/open/events", json={"text": text}, headers={"idempotency-key": key}
            )
            for text, key in [("a", "k1"), ("b", "k2"), ("a again", "k1")]
        ]
    assert [a.status_code for a in answers] == [202, 202, 200]
    assert answers[2].json() == {"duplicate": True, "id": 1}
    assert [(e.text, e.key) for e in deliverer.accepted["open"]] == [("a", "k1"), ("b", "k2")]


async def test_a_busy_agent_is_429_with_retry_after() -> None:
    deliverer = MemoryDeliverer({"open"}, capacity=1)
    async with serving(deliverer, deliverer) as client:
        first = await client.post("/agents/open/events", json={"text": "1"})
        busy = await client.post("/agents/open/events", json={"text": "2"})
        deliverer.take("open")
        later = await client.post("/agents/open/events", json={"text": "3"})
    assert [first.status_code, busy.status_code, later.status_code] == [202, 429, 202]
    assert int(busy.headers["retry-after"]) >= 1
    assert "busy" in busy.json()["error"]
    assert [e.text for e in deliverer.accepted["open"]] == ["1", "3"]


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [("GET", "/", 404), ("GET", "/agents/open/events", 405), ("PUT", "/healthz", 405)],
)
async def test_other_requests_are_404_or_405_in_json(method: str, path: str, status: int) -> None:
    deliverer = fake()
    async with serving(deliverer, deliverer) as client:
        answer = await client.request(method, path)
    assert answer.status_code == status
    assert "error" in answer.json()
    if status == 405:
        assert answer.headers["allow"] in {"GET", "POST"}


class Exploding:
    async def deliver(self, agent: str, event: ExternalEvent) -> Delivery:
        raise RuntimeError("the disk is on fire: /secret/path")


async def test_an_unexpected_error_is_a_generic_500_and_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    outbox = fake()
    with caplog.at_level(logging.ERROR, logger="memvisor.sources.webhook"):
        async with serving(Exploding(), outbox) as client:
            answer = await client.post("/agents/open/events", json={"text": "x"})
            healthy = await client.get("/healthz")
    assert answer.status_code == 500
    assert answer.json() == {"error": "internal error (logged on the server)"}
    assert "fire" not in answer.text
    assert healthy.status_code == 200
    assert "the disk is on fire" in caplog.text
    assert "Traceback" in caplog.text


# --- the body limit, enforced while reading ------------------------------------------------


def counting(consumed: list[int]) -> Callable[[ASGIApp], ASGIApp]:
    """Wrap an app so that ``consumed[0]`` counts the body bytes it has read."""

    def wrap(app: ASGIApp) -> ASGIApp:
        async def counted(
            scope: Message,
            receive: Callable[[], Awaitable[Message]],
            send: Callable[[Message], Awaitable[None]],
        ) -> None:
            async def counted_receive() -> Message:
                message = await receive()
                body = message.get("body", b"")
                consumed[0] += len(body) if isinstance(body, bytes) else 0
                return message

            await app(scope, counted_receive, send)

        return counted

    return wrap


async def raw_response(stream: anyio.abc.ByteStream) -> tuple[int, dict[str, str], bytes]:
    """Read one HTTP/1.1 response with a Content-Length."""
    data = b""
    while b"\r\n\r\n" not in data:
        data += await stream.receive()
    head, _, body = data.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, v in (line.split(":", 1) for line in lines)}
    while len(body) < int(headers["content-length"]):
        body += await stream.receive()
    return int(status_line.split()[1]), headers, body


def host_port(client: httpx2.AsyncClient) -> tuple[str, int]:
    url = client.base_url
    assert url.host
    assert url.port
    return url.host, url.port


async def test_a_declared_length_over_the_limit_is_413_before_any_body_is_sent() -> None:
    deliverer, consumed = fake(), [0]
    async with serving(deliverer, deliverer, wrap=counting(consumed)) as client:
        host, port = host_port(client)
        with anyio.fail_after(30):  # a hang guard: the server must not wait for the body
            async with await anyio.connect_tcp(host, port) as stream:
                await stream.send(
                    b"POST /agents/open/events HTTP/1.1\r\nhost: x\r\n"
                    b"content-type: application/json\r\ncontent-length: 10000000000\r\n\r\n"
                )
                status, _, body = await raw_response(stream)
    assert status == 413
    assert "limit" in json.loads(body)["error"]
    assert consumed == [0]
    assert delivered(deliverer) == 0


async def test_a_chunked_body_is_cut_off_as_soon_as_it_passes_the_limit() -> None:
    deliverer, consumed = fake(), [0]
    limit, chunk = 100_000, b"x" * 10_000
    async with serving(deliverer, deliverer, wrap=counting(consumed), max_body=limit) as client:
        host, port = host_port(client)
        with anyio.fail_after(30):  # a hang guard: the body never ends
            async with await anyio.connect_tcp(host, port) as stream:
                await stream.send(
                    b"POST /agents/open/events HTTP/1.1\r\nhost: x\r\n"
                    b"content-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n"
                )
                # Past the limit by one chunk, and the body never ends: only a server
                # that counts while reading can answer.
                for _ in range(limit // len(chunk) + 1):
                    await stream.send(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                status, _, body = await raw_response(stream)
    assert status == 413
    assert "limit" in json.loads(body)["error"]
    assert limit < consumed[0] <= limit + len(chunk)
    assert delivered(deliverer) == 0


async def test_a_body_of_exactly_the_limit_is_read() -> None:
    deliverer = fake()
    body = b'{"text":"%s"}' % (b"y" * 200)
    async with serving(deliverer, deliverer, max_body=len(body)) as client:
        exact = await client.post("/agents/open/events", content=body, headers=JSON)
        over = await client.post("/agents/open/events", content=body + b" ", headers=JSON)
    assert (exact.status_code, over.status_code) == (202, 413)


async def test_a_caller_that_leaves_mid_body_gets_nothing_delivered() -> None:
    deliverer = fake()
    async with serving(deliverer, deliverer) as client:
        host, port = host_port(client)
        async with await anyio.connect_tcp(host, port) as stream:
            await stream.send(
                b"POST /agents/open/events HTTP/1.1\r\nhost: x\r\n"
                b'content-type: application/json\r\ncontent-length: 100\r\n\r\n{"text"'
            )
        healthy = await client.get("/healthz")
    assert healthy.status_code == 200
    assert delivered(deliverer) == 0


# --- reading replies ----------------------------------------------------------------------


async def test_replies_after_a_seq() -> None:
    deliverer = fake()
    for seq, text in [(3, "one"), (5, "two"), (9, "three")]:
        deliverer.say(said(seq, text))
    async with serving(deliverer, deliverer) as client:
        everything = await client.get("/agents/open/messages")
        later = await client.get("/agents/open/messages", params={"after": 5})
        none_yet = await client.get("/agents/open/messages", params={"after": 9})
        bad = await client.get("/agents/open/messages", params={"after": "five"})
    assert everything.status_code == 200
    assert [m["text"] for m in everything.json()["messages"]] == ["one", "two", "three"]
    assert later.json() == {"messages": [{"seq": 9, "at": 109.0, "text": "three"}]}
    assert none_yet.json() == {"messages": []}
    assert bad.status_code == 400
    assert "after" in bad.json()["error"]


class Watched:
    """An outbox that says when a read starts waiting and when it ends."""

    def __init__(self, inner: MemoryDeliverer) -> None:
        self.inner = inner
        self.reading = anyio.Event()
        self.ended = anyio.Event()
        self.cancelled = False

    async def replies(
        self, agent: str, *, after: int, wait: float
    ) -> tuple[AssistantMessage, ...] | None:
        self.reading.set()
        try:
            return await self.inner.replies(agent, after=after, wait=wait)
        except anyio.get_cancelled_exc_class():
            self.cancelled = True
            raise
        finally:
            self.ended.set()


async def test_a_long_poll_answers_when_a_reply_is_recorded() -> None:
    deliverer = fake()
    outbox = Watched(deliverer)
    async with serving(deliverer, outbox) as client, anyio.create_task_group() as tg:
        answers: list[httpx2.Response] = []

        async def poll() -> None:
            answers.append(await client.get("/agents/open/messages?after=0&wait=25"))

        tg.start_soon(poll)
        await outbox.reading.wait()
        deliverer.say(said(4, "here you are"))
    assert answers[0].status_code == 200
    assert answers[0].json()["messages"] == [{"seq": 4, "at": 104.0, "text": "here you are"}]


async def test_a_long_poll_with_nothing_said_answers_empty() -> None:
    deliverer = fake()
    async with serving(deliverer, deliverer) as client:
        answer = await client.get("/agents/open/messages", params={"after": 0, "wait": 0.05})
    assert answer.json() == {"messages": []}


async def test_a_long_poll_is_given_up_when_the_caller_leaves() -> None:
    deliverer = fake()
    outbox = Watched(deliverer)
    async with serving(deliverer, outbox) as client:
        host, port = host_port(client)
        with anyio.fail_after(30):  # a hang guard: the wait asked for is 30 s
            async with await anyio.connect_tcp(host, port) as stream:
                await stream.send(b"GET /agents/open/messages?wait=30 HTTP/1.1\r\nhost: x\r\n\r\n")
                await outbox.reading.wait()
            await outbox.ended.wait()
    assert outbox.cancelled


async def test_a_signed_agent_reads_with_the_target_signed() -> None:
    deliverer = fake()
    deliverer.say(said(2, "secret plans", agent="signed"))
    target = "/agents/signed/messages?after=0"
    good = {"x-memvisor-signature": webhook_signature(SECRET, target.encode())}
    async with serving(deliverer, deliverer) as client:
        unsigned = await client.get(target)
        replayed = await client.get("/agents/signed/messages?after=1", headers=good)
        right = await client.get(target, headers=good)
    assert (unsigned.status_code, replayed.status_code, right.status_code) == (401, 401, 200)
    assert right.json()["messages"][0]["text"] == "secret plans"


# --- the server -------------------------------------------------------------------------


async def test_the_server_stops_when_its_trigger_fires() -> None:
    deliverer = fake()
    app = webhook_app(deliverer, deliverer, AUTH)
    stop = anyio.Event()
    async with anyio.create_task_group() as tg:
        url = await tg.start(
            partial(serve_webhooks, app, "127.0.0.1", 0, shutdown_trigger=stop.wait)
        )
        async with httpx2.AsyncClient(base_url=url) as client:
            assert (await client.get("/healthz")).status_code == 200
        stop.set()
    # the task group ended: serve_webhooks returned on its own


async def test_a_websocket_is_refused() -> None:
    deliverer = fake()
    async with serving(deliverer, deliverer) as client:
        host, port = host_port(client)
        with anyio.fail_after(30):  # a hang guard
            async with await anyio.connect_tcp(host, port) as stream:
                await stream.send(
                    b"GET /agents/open/messages HTTP/1.1\r\nhost: x\r\nupgrade: websocket\r\n"
                    b"connection: Upgrade\r\nsec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                    b"sec-websocket-version: 13\r\n\r\n"
                )
                answer = await stream.receive()
    assert answer.startswith(b"HTTP/1.1 403"), answer


async def test_a_port_in_use_is_an_error_at_start() -> None:
    deliverer = fake()
    async with serving(deliverer, deliverer) as client:
        _, port = host_port(client)
        app = webhook_app(deliverer, deliverer, AUTH)
        with pytest.raises(OSError, match="in use"):
            await serve_webhooks(app, "127.0.0.1", port)


def test_bad_options_are_usage_errors() -> None:
    from memvisor import UsageError

    deliverer = fake()
    with pytest.raises(UsageError, match="max_body"):
        webhook_app(deliverer, deliverer, AUTH, max_body=0)
    with pytest.raises(UsageError, match="poll_wait_max"):
        webhook_app(deliverer, deliverer, AUTH, poll_wait_max=1000)


# --- load ---------------------------------------------------------------------------------


@pytest.mark.slow
async def test_5000_signed_posts_from_50_clients_are_each_accepted_once_or_refused(
    rng: random.Random,
) -> None:
    deliverer = MemoryDeliverer({"signed"}, capacity=10_000)
    posts: list[tuple[str, str | None, bool]] = []  # (text, key, signed right)
    for j in range(5000):
        key = None if j % 10 == 3 else f"key-{j % 4500}"  # keys 0..499 come twice
        posts.append((f"post {j}", key, j % 20 != 7))  # one in 20 badly signed
    rng.shuffle(posts)
    answers: dict[str, httpx2.Response] = {}

    async with serving(deliverer, deliverer) as client:
        url = client.base_url

        async def caller(share: list[tuple[str, str | None, bool]]) -> None:
            async with httpx2.AsyncClient(base_url=url) as own:
                for text, key, right in share:
                    body = json.dumps({"text": text}).encode()
                    headers = signed(body if right else body + b" ")
                    if key is not None:
                        headers["idempotency-key"] = key
                    answers[text] = await own.post(
                        "/agents/signed/events", content=body, headers=headers
                    )

        async with anyio.create_task_group() as tg:
            for c in range(50):
                tg.start_soon(caller, posts[c::50])

    accepted = deliverer.accepted["signed"]
    by_text = {e.text: e for e in accepted}
    assert len(by_text) == len(accepted)  # no event delivered twice
    statuses = {text: answer.status_code for text, answer in answers.items()}
    assert len(statuses) == 5000  # every post was answered
    ok = {text for text, status in statuses.items() if status == 202}
    assert ok == set(by_text)  # every 202 is exactly one delivered event, and back
    assert sorted(answers[t].json()["id"] for t in ok) == list(range(1, len(accepted) + 1))
    for text, key, right in posts:
        status = statuses[text]
        if not right:
            assert status == 401
        elif status == 200:
            first = accepted[answers[text].json()["id"] - 1]
            assert key is not None
            assert first.key == key
            assert first.text != text
        else:
            assert status == 202
    keys = [e.key for e in accepted if e.key is not None]
    assert len(keys) == len(set(keys))  # a key is delivered once
    valid_keys = {key for _, key, right in posts if right and key is not None}
    assert set(keys) == valid_keys  # ... and every key that came signed right is
