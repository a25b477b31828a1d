"""The OpenAI client: the real openai SDK against a fake server over real HTTP, faults included."""

from __future__ import annotations

import contextlib
import email.utils
import json
from collections.abc import Iterator

import anyio
import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from memvisor import ConfigError, ContextOverflowError, LLMAPIError
from memvisor.events import TokenUsage, ToolCall
from memvisor.llm._client import (
    OpenAIClient,
    RetryPolicy,
    backoff_delay,
    decode_response,
    parse_retry_after,
)
from memvisor.llm._types import LLMRequest, LLMResponse, ToolSchema
from memvisor.memory._messages import ChatMessage

from .fake_openai import Answer, FakeOpenAI, completion, fake_openai, status, tool_call

FAST = RetryPolicy(tries=5, base_delay=0.001, max_delay=0.01)
SCHEMA = b'{"type":"object","properties":{"message":{"type":"string"}},"required":["message"]}'


@pytest.fixture(autouse=True)
def _nowhere_real(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test may reach a real host: the SDK's default server is a closed local port."""
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-env")


@pytest.fixture
def server() -> Iterator[FakeOpenAI]:
    with fake_openai() as fake:
        yield fake


def client(server: FakeOpenAI, **kw: object) -> OpenAIClient:
    options: dict[str, object] = {"retry": FAST, "timeout": 5.0, **kw}
    return OpenAIClient(base_url=server.base_url, api_key="sk-test", **options)  # type: ignore[arg-type]


def request(**kw: object) -> LLMRequest:
    messages = (
        ChatMessage(role="system", content="You are memvisor."),
        ChatMessage(role="user", content='{"type":"user_message","message":"hi"}'),
        ChatMessage(
            role="assistant",
            content="thinking",
            tool_calls=(ToolCall(id="call-0", name="send_message", arguments='{"message":"hi"}'),),
        ),
        ChatMessage(
            role="tool", content='{"status":"OK"}', tool_call_id="call-0", name="send_message"
        ),
    )
    tools = (
        ToolSchema(
            name="send_message", description="Say something.", parameters=msgspec.Raw(SCHEMA)
        ),
    )
    options: dict[str, object] = {"model": "fake-model", "messages": messages, "tools": tools}
    return LLMRequest(**{**options, **kw})  # type: ignore[arg-type]


# --- a normal exchange ------------------------------------------------------------------


@pytest.mark.anyio
async def test_a_tool_call_response_is_converted_exactly(server: FakeOpenAI) -> None:
    arguments = '{"message": "hello",  "request_heartbeat": true}'
    server.script.append(
        completion(
            "inner thoughts",
            [tool_call("send_message", arguments, "call-7")],
            finish_reason="tool_calls",
            usage=(123, 45),
            model="fake-model-2025",
        )
    )
    async with client(server) as llm:
        response = await llm.complete(request())
    assert response == LLMResponse(
        content="inner thoughts",
        tool_calls=(ToolCall(id="call-7", name="send_message", arguments=arguments),),
        finish_reason="tool_calls",
        usage=TokenUsage(prompt_tokens=123, completion_tokens=45, total_tokens=168),
        model="fake-model-2025",
    )


@pytest.mark.anyio
async def test_the_request_body_is_openai_format(server: FakeOpenAI) -> None:
    async with client(server) as llm:
        await llm.complete(request(temperature=0.5, tool_choice="required"))
    assert server.paths == ["/v1/chat/completions"]
    assert server.headers[0]["authorization"] == "Bearer sk-test"
    assert server.requests[0] == {
        "model": "fake-model",
        "messages": [
            {"role": "system", "content": "You are memvisor."},
            {"role": "user", "content": '{"type":"user_message","message":"hi"}'},
            {
                "role": "assistant",
                "content": "thinking",
                "tool_calls": [
                    {
                        "id": "call-0",
                        "type": "function",
                        "function": {"name": "send_message", "arguments": '{"message":"hi"}'},
                    }
                ],
            },
            {"role": "tool", "content": '{"status":"OK"}', "tool_call_id": "call-0"},
        ],
        "tools": [
            {
                "type": "function",
                "function": {
                    "name": "send_message",
                    "description": "Say something.",
                    "parameters": json.loads(SCHEMA),
                },
            }
        ],
        "tool_choice": "required",
        "temperature": 0.5,
    }


@pytest.mark.anyio
async def test_without_tools_no_tools_or_tool_choice_are_sent(server: FakeOpenAI) -> None:
    async with client(server) as llm:
        response = await llm.complete(request(tools=()))
    assert "tools" not in server.requests[0]
    assert "tool_choice" not in server.requests[0]
    assert "temperature" not in server.requests[0]
    assert response.content == "ok"
    assert response.tool_calls == ()


@pytest.mark.anyio
async def test_arguments_sent_as_an_object_are_kept_as_their_json_text(
    server: FakeOpenAI,
) -> None:
    body = json.loads(completion(None).body)
    body["choices"][0]["message"]["tool_calls"] = [
        {"id": "c", "type": "function", "function": {"name": "f", "arguments": {"a": 1}}}
    ]
    body.pop("usage")
    server.script.append(Answer(body=json.dumps(body).encode()))
    async with client(server) as llm:
        response = await llm.complete(request())
    assert response.tool_calls == (ToolCall(id="c", name="f", arguments='{"a": 1}'),)
    assert response.usage == TokenUsage()
    assert response.content is None


@pytest.mark.anyio
async def test_the_environment_configures_the_server(
    server: FakeOpenAI, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
    monkeypatch.delenv("OPENAI_API_KEY")
    async with OpenAIClient(retry=FAST) as llm:
        assert llm.base_url.startswith(server.base_url)
        await llm.complete(request())
    assert len(server.requests) == 1
    assert server.headers[0]["authorization"] == "Bearer none"


def test_with_no_server_and_no_key_nothing_is_configured(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_BASE_URL")
    monkeypatch.delenv("OPENAI_API_KEY")
    with pytest.raises(ConfigError, match="OPENAI_BASE_URL"):
        OpenAIClient()


# --- faults -----------------------------------------------------------------------------


@pytest.mark.anyio
async def test_429_with_retry_after_is_waited_out_then_succeeds(server: FakeOpenAI) -> None:
    server.script.append(status(429, "slow down", headers={"Retry-After": "1"}))
    async with client(server, retry=RetryPolicy(base_delay=0.001, max_delay=30)) as llm:
        start = anyio.current_time()
        response = await llm.complete(request())
        elapsed = anyio.current_time() - start
    assert response.content == "ok"
    assert len(server.requests) == 2
    assert server.times[1] - server.times[0] >= 0.95
    assert elapsed >= 0.95


@pytest.mark.anyio
async def test_retry_after_is_capped_by_max_delay(server: FakeOpenAI) -> None:
    server.script.append(status(503, headers={"Retry-After": "3600"}))
    async with client(server, retry=RetryPolicy(max_delay=0.05)) as llm:
        with anyio.fail_after(5):
            await llm.complete(request())
    assert len(server.requests) == 2


@pytest.mark.anyio
async def test_500_on_every_try_gives_up_after_exactly_five(server: FakeOpenAI) -> None:
    server.script.extend(status(500, "boom") for _ in range(10))
    async with client(server) as llm:
        with pytest.raises(LLMAPIError) as caught:
            await llm.complete(request())
    assert len(server.requests) == 5
    assert type(caught.value) is LLMAPIError
    assert caught.value.status_code == 500
    assert caught.value.attempts == 5
    assert "boom" in str(caught.value)
    assert "5 tries" in str(caught.value)


@pytest.mark.anyio
async def test_a_slow_answer_times_out_and_is_retried(server: FakeOpenAI) -> None:
    server.script.append(Answer(body=completion().body, delay=1.0))
    server.script.append(completion("second"))
    async with client(server, timeout=0.2) as llm:
        response = await llm.complete(request())
    assert response.content == "second"
    assert len(server.requests) == 2


@pytest.mark.anyio
async def test_timeouts_on_every_try_are_an_api_error(server: FakeOpenAI) -> None:
    server.script.extend(Answer(body=completion().body, delay=0.5) for _ in range(2))
    policy = RetryPolicy(tries=2, base_delay=0.001, max_delay=0.01)
    async with client(server, timeout=0.1, retry=policy) as llm:
        with pytest.raises(LLMAPIError, match="timed out") as caught:
            await llm.complete(request())
    assert caught.value.status_code is None
    assert len(server.requests) == 2


@pytest.mark.anyio
async def test_connection_refused_is_retried_then_an_api_error() -> None:
    policy = RetryPolicy(tries=3, base_delay=0.001, max_delay=0.01)
    async with OpenAIClient(base_url="http://127.0.0.1:9/v1", retry=policy) as llm:
        with pytest.raises(LLMAPIError, match="could not be reached") as caught:
            await llm.complete(request())
    assert caught.value.attempts == 3


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("message", "code"),
    [
        ("This model's maximum context length is 8192 tokens.", "context_length_exceeded"),
        ("the request exceeds the available context size", "context_length_exceeded"),
        ("prompt is too long: 9000 tokens > 8192 maximum", None),
    ],
)
async def test_context_overflow_is_its_own_error_and_not_retried(
    server: FakeOpenAI, message: str, code: str | None
) -> None:
    server.script.append(status(400, message, error_code=code))
    async with client(server) as llm:
        with pytest.raises(ContextOverflowError) as caught:
            await llm.complete(request())
    assert caught.value.status_code == 400
    assert len(server.requests) == 1


@pytest.mark.anyio
async def test_another_400_is_an_api_error_without_retry(server: FakeOpenAI) -> None:
    server.script.append(status(400, "tools[0] is invalid"))
    async with client(server) as llm:
        with pytest.raises(LLMAPIError, match="tools\\[0\\] is invalid") as caught:
            await llm.complete(request())
    assert type(caught.value) is LLMAPIError
    assert len(server.requests) == 1


@pytest.mark.anyio
@pytest.mark.parametrize(("code", "hint"), [(401, "OPENAI_API_KEY"), (404, "model name")])
async def test_401_and_404_fail_at_once_naming_server_and_model(
    server: FakeOpenAI, code: int, hint: str
) -> None:
    server.script.append(status(code, "nope"))
    async with client(server) as llm:
        with pytest.raises(LLMAPIError) as caught:
            await llm.complete(request())
    text = str(caught.value)
    assert server.base_url in text
    assert "'fake-model'" in text
    assert hint in text
    assert caught.value.status_code == code
    assert len(server.requests) == 1


@pytest.mark.anyio
@pytest.mark.parametrize(
    "body",
    [b"not json at all", b'{"choices": "many"}', b'{"choices": []}', b"\xff\xfe", b"[]"],
)
async def test_a_malformed_answer_is_an_api_error_not_a_crash(
    server: FakeOpenAI, body: bytes
) -> None:
    server.script.append(Answer(body=body))
    async with client(server) as llm:
        with pytest.raises(LLMAPIError, match="not a chat completion"):
            await llm.complete(request())
    assert len(server.requests) == 1


@pytest.mark.anyio
async def test_an_error_that_is_not_json_still_reads(server: FakeOpenAI) -> None:
    server.script.extend(Answer(status=502, body=b"<html>Bad Gateway</html>") for _ in range(5))
    async with client(server) as llm:
        with pytest.raises(LLMAPIError, match="Bad Gateway"):
            await llm.complete(request())


@pytest.mark.anyio
async def test_an_sdk_client_passed_in_has_its_own_retries_switched_off(
    server: FakeOpenAI,
) -> None:
    import openai

    sdk = openai.AsyncOpenAI(base_url=server.base_url, api_key="k", max_retries=3)
    server.script.append(status(400, "bad"))
    async with OpenAIClient(client=sdk) as llm:
        with pytest.raises(LLMAPIError):
            await llm.complete(request())
    assert len(server.requests) == 1
    await sdk.close()


# --- pure parts ---------------------------------------------------------------------------


def test_retry_after_reads_seconds_and_http_dates() -> None:
    assert parse_retry_after("1") == 1.0
    assert parse_retry_after(" 2.5 ") == 2.5
    assert parse_retry_after("-1") is None
    assert parse_retry_after("nan") is None
    assert parse_retry_after(None) is None
    assert parse_retry_after("soon") is None
    date = email.utils.formatdate(1_000_030, usegmt=True)
    assert parse_retry_after(date, now=1_000_000) == pytest.approx(30)
    assert parse_retry_after(date, now=2_000_000) == 0.0


@given(st.text())
def test_retry_after_parsing_never_raises_or_goes_negative(value: str) -> None:
    seconds = parse_retry_after(value, now=0.0)
    assert seconds is None or seconds >= 0


@given(
    attempt=st.integers(-5, 10_000),
    base=st.floats(0, 100, allow_nan=False),
    cap=st.floats(0, 1000, allow_nan=False),
    jitter=st.floats(0, 1),
)
def test_backoff_stays_within_zero_and_the_cap(
    attempt: int, base: float, cap: float, jitter: float
) -> None:
    assert 0 <= backoff_delay(attempt, base=base, cap=cap, jitter=jitter) <= cap


@given(
    attempt=st.integers(0, 200),
    base=st.floats(1e-6, 100),
    cap=st.floats(1e-6, 1000),
)
def test_backoff_grows_with_the_attempt_at_every_jitter_bound(
    attempt: int, base: float, cap: float
) -> None:
    for jitter in (0.0, 0.5, 1.0):  # the least, the expected, the most
        now = backoff_delay(attempt, base=base, cap=cap, jitter=jitter)
        later = backoff_delay(attempt + 1, base=base, cap=cap, jitter=jitter)
        assert later >= now


@given(st.binary())
def test_decoding_arbitrary_bytes_raises_only_value_errors(data: bytes) -> None:
    with contextlib.suppress(ValueError):
        decode_response(data)
