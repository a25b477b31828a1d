"""Webhook request rules: any bytes and headers get an answer, never an exception."""

from __future__ import annotations

import json

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from memvisor import ConfigError
from memvisor.events import AssistantMessage, ExternalEvent, encode_event
from memvisor.sources import Accepted, Busy, Duplicate, UnknownAgent, WebhookAuth
from memvisor.sources._webhook_rules import (
    EventBody,
    EventHead,
    GetMessages,
    Health,
    PollQuery,
    PostEvents,
    Rejection,
    check_event_body,
    check_event_head,
    check_poll,
    delivery_response,
    error_response,
    messages_response,
    parse_event_body,
    parse_poll_query,
    route,
    verify_signature,
    webhook_signature,
)

JSON = [(b"content-type", b"application/json")]
OPEN = WebhookAuth()
SIGNED = WebhookAuth(secret=b"s3cret")
TOKEN = WebhookAuth(token="t0ken")
MIB = 1 << 20

headers_st = st.lists(
    st.tuples(
        st.sampled_from(
            [
                b"content-type",
                b"content-length",
                b"idempotency-key",
                b"authorization",
                b"x-memvisor-signature",
                b"x-other",
            ]
        )
        | st.binary(max_size=20),
        st.binary(max_size=300),
    ),
    max_size=8,
)
auth_st = st.builds(
    WebhookAuth,
    secret=st.none() | st.binary(min_size=1, max_size=40),
    token=st.none() | st.text(min_size=1, max_size=40).map(lambda t: t.strip() or "t"),
)


def body_of(outcome: EventBody | Rejection) -> EventBody:
    assert isinstance(outcome, EventBody), outcome
    return outcome


def rejected(outcome: object, status: int) -> str:
    assert isinstance(outcome, Rejection), outcome
    assert outcome.status == status, outcome
    return outcome.error


# --- never raise on client input -------------------------------------------------------


@given(auth=auth_st, headers=headers_st, body=st.binary(max_size=2000))
def test_any_post_gets_an_answer(
    auth: WebhookAuth, headers: list[tuple[bytes, bytes]], body: bytes
) -> None:
    head = check_event_head(auth, headers, max_body=100)
    if isinstance(head, EventHead):
        outcome = check_event_body(auth, head, body)
        assert isinstance(outcome, EventBody | Rejection)
    else:
        assert 400 <= head.status < 500


@given(body=st.binary(max_size=2000))
def test_any_body_parses_or_is_a_400(body: bytes) -> None:
    outcome = parse_event_body(body)
    if isinstance(outcome, Rejection):
        assert outcome.status == 400
        assert outcome.error


json_st = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


@given(
    fields=st.dictionaries(
        st.sampled_from(["text", "payload", "source", "extra"]),
        json_st,
    )
)
def test_what_is_accepted_can_be_logged(fields: dict[str, object]) -> None:
    outcome = parse_event_body(json.dumps(fields).encode())
    if isinstance(outcome, EventBody):
        event = ExternalEvent(
            agent="a",
            seq=1,
            at=0.0,
            source=outcome.source,
            text=outcome.text,
            payload=outcome.payload,
        )
        assert encode_event(event)


@given(
    auth=auth_st, headers=headers_st, target=st.binary(max_size=200), query=st.binary(max_size=300)
)
def test_any_read_gets_an_answer(
    auth: WebhookAuth, headers: list[tuple[bytes, bytes]], target: bytes, query: bytes
) -> None:
    outcome = check_poll(auth, headers, target, query, wait_max=30.0)
    if isinstance(outcome, PollQuery):
        assert outcome.after >= 0
        assert 0 <= outcome.wait <= 30.0
    else:
        assert outcome.status in {400, 401}


@given(method=st.text(max_size=10), path=st.text(max_size=60))
def test_any_path_routes_somewhere(method: str, path: str) -> None:
    found = route(method, path)
    if isinstance(found, Rejection):
        assert found.status in {404, 405}


# --- signatures ------------------------------------------------------------------------


@given(secret=st.binary(max_size=64), body=st.binary(max_size=500), other=st.binary(max_size=80))
def test_the_signature_check_accepts_exactly_the_right_signature(
    secret: bytes, body: bytes, other: bytes
) -> None:
    right = webhook_signature(secret, body).encode()
    assert verify_signature(secret, right, body)
    assert verify_signature(secret, other, body) == (other == right)
    assert not verify_signature(secret, None, body)


@given(secret=st.binary(min_size=1, max_size=64), body=st.binary(max_size=200), flip=st.data())
def test_a_signature_of_other_bytes_or_with_another_secret_is_refused(
    secret: bytes, body: bytes, flip: st.DataObject
) -> None:
    right = webhook_signature(secret, body).encode()
    position = flip.draw(st.integers(0, len(right) - 1))
    damaged = right[:position] + bytes([right[position] ^ 1]) + right[position + 1 :]
    assert not verify_signature(secret, damaged, body)
    assert not verify_signature(secret + b"x", right, body)
    assert not verify_signature(secret, right, body + b" ")


def test_the_signature_is_sha256_hex_of_the_raw_body() -> None:
    # echo -n '{"text":"hi"}' | openssl dgst -sha256 -hmac s3cret
    assert webhook_signature(b"s3cret", b'{"text":"hi"}') == (
        "sha256=033b6215e0418d45ead2c73e9d3059b3efba91da4d5f556dc6aa782294cff195"
    )


@pytest.mark.parametrize(
    "options", [{"secret": b""}, {"token": ""}, {"token": " t0ken"}, {"token": "t0ken\n"}]
)
def test_an_empty_or_padded_credential_is_a_config_error(options: dict[str, str | bytes]) -> None:
    with pytest.raises(ConfigError):
        WebhookAuth(**options)  # type: ignore[arg-type]


# --- the head of a post -----------------------------------------------------------------


def test_an_open_agent_takes_a_plain_json_post() -> None:
    assert check_event_head(OPEN, JSON, max_body=MIB) == EventHead(key=None, signature=None)


def test_a_secret_needs_the_signature_header() -> None:
    error = rejected(check_event_head(SIGNED, JSON, max_body=MIB), 401)
    assert "X-Memvisor-Signature" in error
    head = check_event_head(SIGNED, [*JSON, (b"x-memvisor-signature", b"sha256=00")], max_body=MIB)
    assert head == EventHead(key=None, signature=b"sha256=00")
    error = rejected(check_event_body(SIGNED, head, b'{"text":"x"}'), 401)
    assert "does not match" in error


def test_a_signed_post_passes_with_the_right_signature() -> None:
    body = b'{"text":"hello"}'
    signature = webhook_signature(b"s3cret", body).encode()
    head = check_event_head(SIGNED, [*JSON, (b"x-memvisor-signature", signature)], max_body=MIB)
    assert isinstance(head, EventHead)
    assert body_of(check_event_body(SIGNED, head, body)).text == "hello"


@pytest.mark.parametrize(
    "value",
    [None, b"Bearer wrong", b"Basic t0ken", b"t0ken", b"Bearer", b"Bearer t0ken2"],
)
def test_a_token_must_be_the_bearer_token(value: bytes | None) -> None:
    headers = JSON if value is None else [*JSON, (b"authorization", value)]
    outcome = check_event_head(TOKEN, headers, max_body=MIB)
    assert isinstance(outcome, Rejection)
    assert outcome.status == 401
    assert ("www-authenticate", "Bearer") in outcome.headers


@pytest.mark.parametrize("value", [b"Bearer t0ken", b"bearer t0ken", b"Bearer  t0ken "])
def test_the_right_bearer_token_passes(value: bytes) -> None:
    assert isinstance(
        check_event_head(TOKEN, [*JSON, (b"authorization", value)], max_body=MIB), EventHead
    )


def test_with_a_secret_and_a_token_both_are_needed() -> None:
    both = WebhookAuth(secret=b"s3cret", token="t0ken")
    body = b'{"text":"x"}'
    signature = (b"x-memvisor-signature", webhook_signature(b"s3cret", body).encode())
    token = (b"authorization", b"Bearer t0ken")
    rejected(check_event_head(both, [*JSON, signature], max_body=MIB), 401)
    rejected(check_event_head(both, [*JSON, token], max_body=MIB), 401)
    head = check_event_head(both, [*JSON, signature, token], max_body=MIB)
    assert isinstance(head, EventHead)
    assert isinstance(check_event_body(both, head, body), EventBody)


@pytest.mark.parametrize(
    "value",
    [
        b"application/json",
        b"Application/JSON",
        b"application/json; charset=utf-8",
        b'application/json;charset="UTF-8"',
    ],
)
def test_json_content_types_pass(value: bytes) -> None:
    assert isinstance(check_event_head(OPEN, [(b"content-type", value)], max_body=MIB), EventHead)


@pytest.mark.parametrize(
    "value",
    [
        None,
        b"text/plain",
        b"application/x-www-form-urlencoded",
        b"application/json; charset=latin-1",
        b"",
    ],
)
def test_other_content_types_are_415(value: bytes | None) -> None:
    headers = [] if value is None else [(b"content-type", value)]
    rejected(check_event_head(OPEN, headers, max_body=MIB), 415)


def test_the_idempotency_key_is_passed_on() -> None:
    head = check_event_head(OPEN, [*JSON, (b"idempotency-key", b"order-17 v2")], max_body=MIB)
    assert head == EventHead(key="order-17 v2", signature=None)


@pytest.mark.parametrize("value", [b"", b"k" * 201, b"caf\xc3\xa9", b"tab\there", b"\x7f"])
def test_a_malformed_idempotency_key_is_400(value: bytes) -> None:
    error = rejected(
        check_event_head(OPEN, [*JSON, (b"idempotency-key", value)], max_body=MIB), 400
    )
    assert "Idempotency-Key" in error


def test_a_key_of_200_characters_is_fine() -> None:
    head = check_event_head(OPEN, [*JSON, (b"idempotency-key", b"k" * 200)], max_body=MIB)
    assert isinstance(head, EventHead)


@pytest.mark.parametrize(
    ("auth", "name", "value"),
    [
        (OPEN, b"idempotency-key", b"a"),
        (OPEN, b"content-type", b"application/json"),
        (OPEN, b"content-length", b"10"),
        (TOKEN, b"authorization", b"Bearer t0ken"),
        (SIGNED, b"x-memvisor-signature", b"sha256=00"),
    ],
)
def test_a_repeated_header_is_400(auth: WebhookAuth, name: bytes, value: bytes) -> None:
    headers = [(b"content-type", b"application/json"), (name, value), (name, value)]
    assert "more than one" in rejected(check_event_head(auth, headers, max_body=MIB), 400)


def test_a_declared_length_over_the_limit_is_413_before_reading() -> None:
    rejected(check_event_head(OPEN, [*JSON, (b"content-length", b"101")], max_body=100), 413)
    rejected(check_event_head(OPEN, [*JSON, (b"content-length", b"9" * 5000)], max_body=100), 413)
    assert isinstance(
        check_event_head(OPEN, [*JSON, (b"content-length", b"100")], max_body=100), EventHead
    )


# --- the body of a post -----------------------------------------------------------------


def test_a_text_body() -> None:
    assert body_of(parse_event_body(b'{"text":"hi"}')) == EventBody(
        text="hi", payload=None, source="webhook"
    )


def test_a_payload_body_with_a_source() -> None:
    body = b'{"payload":{"order":17,"items":["a","b"]},"source":"shop"}'
    assert body_of(parse_event_body(body)) == EventBody(
        text="", payload={"order": 17, "items": ["a", "b"]}, source="shop"
    )


def test_a_null_payload_is_still_a_payload() -> None:
    assert body_of(parse_event_body(b'{"payload":null}')).payload is None


@pytest.mark.parametrize(
    ("body", "says"),
    [
        (b"", "malformed JSON"),
        (b"{", "malformed JSON"),
        (b'{"text":"x"} trailing', "malformed JSON"),
        (b'{"text":"\xff"}', "malformed JSON"),
        (b"[" * 100_000, "JSON object"),
        (b'{"payload":' + b"[" * 100_000, "malformed JSON"),
        (b"[]", "JSON object"),
        (b'"text"', "JSON object"),
        (b'{"text":1}', "$.text"),
        (b'{"txt":"x"}', "unknown field `txt`"),
        (b'{"text":"x","source":""}', "$.source"),
        (b'{"text":"x","source":7}', "$.source"),
        (b"{}", "give a text or a payload"),
        (b'{"text":""}', "give a text or a payload"),
        (b'{"payload":123456789012345678901234567890}', "64 bits"),
        (b'{"payload":1e999}', "out of range"),
    ],
)
def test_a_wrong_body_is_400_saying_what_was_wrong(body: bytes, says: str) -> None:
    assert says in rejected(parse_event_body(body), 400)


# --- reads of replies -------------------------------------------------------------------


def test_a_read_defaults_to_everything_at_once() -> None:
    assert parse_poll_query(b"", wait_max=30) == PollQuery(after=0, wait=0.0)


def test_a_read_with_after_and_a_capped_wait() -> None:
    assert parse_poll_query(b"after=12&wait=2.5&x=1", wait_max=30) == PollQuery(after=12, wait=2.5)
    assert parse_poll_query(b"after=12&wait=300", wait_max=30) == PollQuery(after=12, wait=30.0)


@pytest.mark.parametrize(
    "query",
    [
        b"after=x",
        b"after=-1",
        b"after=1.5",
        b"after=",
        b"after=%EF%BC%91",
        b"after=1&after=2",
        b"wait=-1",
        b"wait=nan",
        b"wait=inf",
        b"&".join([b"a=1"] * 30),
    ],
)
def test_a_bad_read_is_400(query: bytes) -> None:
    rejected(parse_poll_query(query, wait_max=30), 400)


def test_a_signed_read_signs_the_request_target() -> None:
    target = b"/agents/a/messages?after=3"
    signature = (b"x-memvisor-signature", webhook_signature(b"s3cret", target).encode())
    assert check_poll(SIGNED, [signature], target, b"after=3", wait_max=1) == PollQuery(
        after=3, wait=0
    )
    rejected(
        check_poll(SIGNED, [signature], b"/agents/a/messages?after=0", b"after=0", wait_max=1), 401
    )
    rejected(check_poll(SIGNED, [], target, b"after=3", wait_max=1), 401)
    rejected(check_poll(TOKEN, [], target, b"after=3", wait_max=1), 401)
    token = (b"authorization", b"Bearer t0ken")
    assert isinstance(check_poll(TOKEN, [token], target, b"after=3", wait_max=1), PollQuery)


# --- routes and answers -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "expected"),
    [
        ("GET", "/healthz", Health()),
        ("POST", "/agents/support/events", PostEvents(agent="support")),
        ("GET", "/agents/support/messages", GetMessages(agent="support")),
        ("POST", "/agents/a b/events", PostEvents(agent="a b")),
    ],
)
def test_routes(method: str, path: str, expected: object) -> None:
    assert route(method, path) == expected


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/", 404),
        ("GET", "/agents//messages", 404),
        ("POST", "/agents/a/events/", 404),
        ("POST", "/agents/a/other", 404),
        ("GET", "/agents/a/events", 405),
        ("POST", "/healthz", 405),
        ("DELETE", "/agents/a/messages", 405),
    ],
)
def test_other_routes_are_404_or_405(method: str, path: str, status: int) -> None:
    found = route(method, path)
    assert isinstance(found, Rejection)
    assert found.status == status
    if status == 405:
        assert found.headers[0][0] == "allow"


def test_answers_to_deliveries() -> None:
    accepted = delivery_response("a", Accepted(id=3))
    assert (accepted.status, json.loads(accepted.body)) == (202, {"accepted": True, "id": 3})
    duplicate = delivery_response("a", Duplicate(id=3))
    assert (duplicate.status, json.loads(duplicate.body)) == (200, {"duplicate": True, "id": 3})
    unknown = delivery_response("a", UnknownAgent())
    assert (unknown.status, json.loads(unknown.body)) == (404, {"error": "unknown agent: 'a'"})


@pytest.mark.parametrize(
    ("retry_after", "header"),
    [(0.0, "1"), (0.2, "1"), (1.0, "1"), (2.5, "3"), (float("inf"), "1"), (1e9, "3600")],
)
def test_busy_is_429_with_whole_seconds_to_wait(retry_after: float, header: str) -> None:
    busy = delivery_response("a", Busy(retry_after=retry_after))
    assert busy.status == 429
    assert dict(busy.headers)["retry-after"] == header
    assert "busy" in json.loads(busy.body)["error"]


def test_messages_are_seq_at_text() -> None:
    said = [AssistantMessage(agent="a", seq=4, at=1.5, text="hi", to="b")]
    answer = messages_response(said)
    assert json.loads(answer.body) == {"messages": [{"seq": 4, "at": 1.5, "text": "hi"}]}


def test_an_error_is_json() -> None:
    answer = error_response(Rejection(status=418, error='a "teapot"'))
    assert msgspec.json.decode(answer.body) == {"error": 'a "teapot"'}
