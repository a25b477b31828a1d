"""The agent through the real OpenAI client, against a fake server over real HTTP, faults included.

Each test runs the agent in-process (in-memory log) with :class:`OpenAIClient`
pointed at ``tests/llm/fake_openai.py``; the fake server's ``policy`` plays a
model that answers every message, and its ``script`` injects the faults first.
Retries wait a millisecond or two, so faults cost no time.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import asynccontextmanager

import pytest

from memvisor.actors import ActorRef, open_runtime
from memvisor.agent import AgentConfig, Deliver, TurnConfig, TurnReport, spawn_agent
from memvisor.events import (
    AgentCreated,
    BlockSpec,
    ContextCompacted,
    ErrorEvent,
    Event,
    EventLog,
    MemoryEventLog,
    ToolCalled,
    ToolReturned,
    UserMessage,
    event_type,
)
from memvisor.llm import OpenAIClient
from memvisor.llm._client import RetryPolicy
from memvisor.memory import fold_all
from memvisor.memory._compaction import CompactionConfig

from ..llm.fake_openai import (
    Answer,
    FakeOpenAI,
    completion,
    fake_openai,
    function_call,
    status,
    tool_call,
)

pytestmark = pytest.mark.anyio

NAME = "ada"
T0 = 1_735_689_600.0  # 2025-01-01T00:00:00Z
FAST = RetryPolicy(tries=3, base_delay=0.001, max_delay=0.01)
SUMMARY = "Bob and Ada exchanged greetings."


def model(body: dict[str, object]) -> Answer:
    """The fake model: a summary when asked without tools, else ``send_message``
    echoing the user (or owning up to the failed call it was just told about)."""
    if "tools" not in body:
        return completion(SUMMARY)
    last = messages_of(body)[-1]
    content = str(last.get("content") or "")
    if last["role"] == "tool":
        return function_call("send_message", {"message": f"That failed: {content[:60]}"})
    message = json.loads(content).get("message", "")
    return function_call("send_message", {"message": f"You said: {message}"})


def messages_of(body: dict[str, object]) -> list[dict[str, object]]:
    messages = body["messages"]
    assert isinstance(messages, list)
    return messages


@pytest.fixture(autouse=True)
def _nowhere_real(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test may reach a real host: the SDK's default server is a closed local port."""
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-env")


@pytest.fixture
def server() -> Iterator[FakeOpenAI]:
    with fake_openai() as fake:
        fake.policy = model
        yield fake
        assert fake.errors == []


def created() -> AgentCreated:
    return AgentCreated(
        agent=NAME,
        seq=1,
        at=T0,
        model="fake-model",
        system="You are Ada.",
        blocks=(
            BlockSpec(label="persona", value="I am Ada."),
            BlockSpec(label="human", value="Unknown."),
        ),
        context_window=8192,
    )


def user(text: str) -> Deliver:
    return Deliver(event=UserMessage(agent="", seq=0, at=0.0, text=text))


def types(events: Sequence[Event]) -> list[str]:
    return [event_type(e) for e in events]


@asynccontextmanager
async def running(
    server: FakeOpenAI,
    *,
    timeout: float = 5.0,
    retry: RetryPolicy = FAST,
    config: AgentConfig | None = None,
) -> AsyncIterator[tuple[ActorRef[Deliver, TurnReport], EventLog]]:
    log = MemoryEventLog()
    await log.append([created()])
    async with (
        OpenAIClient(
            base_url=server.base_url, api_key="sk-test", timeout=timeout, retry=retry
        ) as llm,
        open_runtime() as runtime,
    ):
        ref = spawn_agent(
            runtime, NAME, log=log, llm=llm, config=config or AgentConfig(model="fake-model")
        )
        yield ref, log


async def check_log(log: EventLog) -> list[Event]:
    """No seq gaps, every started call has its result, and the log folds."""
    events = await log.read(NAME)
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    called = {e.seq for e in events if isinstance(e, ToolCalled)}
    answered = {e.cause for e in events if isinstance(e, ToolReturned)}
    assert called == answered
    fold_all(events)
    return events


# --- transient faults are retried -------------------------------------------------------


@pytest.mark.parametrize(
    "fault",
    [
        status(429, "Rate limit reached", headers={"Retry-After": "0.01"}),
        status(429, "Rate limit reached", headers={"retry-after-ms": "5"}),
        status(500, "The server had an error"),
        status(503, "Overloaded"),
    ],
    ids=["429-retry-after", "429-retry-after-ms", "500", "503"],
)
async def test_a_transient_failure_is_retried_and_the_agent_answers(
    server: FakeOpenAI, fault: Answer
) -> None:
    server.script.append(fault)
    async with running(server) as (ada, log):
        report = await ada.ask(user("Hi, I'm Bob."))
    assert report.replies == ("You said: Hi, I'm Bob.",)
    assert "error" not in types(report.events)
    # The retry sent the very same request again.
    assert len(server.requests) == 2
    assert server.requests[0] == server.requests[1]
    await check_log(log)


async def test_a_response_slower_than_the_timeout_is_retried(server: FakeOpenAI) -> None:
    server.script.append(Answer(body=completion("too late").body, delay=3.0))
    async with running(server, timeout=0.2) as (ada, log):
        report = await ada.ask(user("Hi"))
    assert report.replies == ("You said: Hi",)
    assert len(server.requests) == 2
    await check_log(log)


@pytest.mark.parametrize(
    "fault",
    [status(503, "Overloaded"), Answer(body=completion("too late").body, delay=3.0)],
    ids=["503", "timeout"],
)
async def test_failing_every_try_is_an_error_event_and_the_agent_answers_the_next_message(
    server: FakeOpenAI, fault: Answer
) -> None:
    server.script.extend([fault] * FAST.tries)
    async with running(server, timeout=0.2) as (ada, log):
        first = await ada.ask(user("one"))
        second = await ada.ask(user("two"))
    assert types(first.events) == ["user_message", "error"]
    error = first.events[-1]
    assert isinstance(error, ErrorEvent)
    assert error.kind == "llm_error"
    assert f"gave up after {FAST.tries} tries" in error.message
    assert server.base_url in error.message  # says which server
    assert second.replies == ("You said: two",)
    assert len(server.requests) == FAST.tries + 1
    await check_log(log)


# --- the model's mistakes are told to the model -----------------------------------------


@pytest.mark.parametrize(
    ("call", "complaint"),
    [
        (tool_call("send_message", '{"message": "hi"', "bad-json"), "JSON"),
        (tool_call("teleport", '{"to": "Mars"}', "bad-name"), "teleport"),
        (tool_call("send_message", '{"text": "hi"}', "bad-args"), "message"),
    ],
    ids=["malformed-json", "unknown-function", "missing-argument"],
)
async def test_a_bad_call_becomes_a_failed_result_the_model_reads_and_it_steps_again(
    server: FakeOpenAI, call: dict[str, object], complaint: str
) -> None:
    server.script.append(completion(None, [call], finish_reason="tool_calls"))
    async with running(server) as (ada, log):
        report = await ada.ask(user("Hi"))
    kinds = types(report.events)
    assert kinds == [
        "user_message",
        "llm_responded",
        "tool_called",
        "tool_returned",
        "llm_responded",
        "tool_called",
        "assistant_message",
        "tool_returned",
    ]
    failed = report.events[3]
    assert isinstance(failed, ToolReturned)
    assert failed.status == "error"
    assert complaint in failed.content
    # The second request ends with the failed result, answering the call by its id.
    assert len(server.requests) == 2
    last = messages_of(server.requests[1])[-1]
    assert last["role"] == "tool"
    assert last["tool_call_id"] == call["id"]
    assert complaint in str(last["content"])
    assert '"Failed"' in str(last["content"])
    assert len(report.replies) == 1
    assert report.replies[0].startswith("That failed:")
    await check_log(log)


# --- the server refuses a prompt as too long --------------------------------------------


OVERFLOW = status(
    400,
    "This model's maximum context length is 8192 tokens. However, your messages resulted"
    " in 9120 tokens. Please reduce the length of the messages.",
    error_code="context_length_exceeded",
)


async def test_a_context_length_error_compacts_with_a_summary_and_steps_again(
    server: FakeOpenAI,
) -> None:
    config = AgentConfig(
        model="fake-model", turn=TurnConfig(compaction=CompactionConfig(keep_last=2))
    )
    async with running(server, config=config) as (ada, log):
        for i in range(6):
            await ada.ask(user(f"Message {i}: " + "chatter " * 30))
        before = len(server.requests)
        server.script.append(OVERFLOW)
        report = await ada.ask(user("the last one"))
    assert report.replies == ("You said: the last one",)
    kinds = types(report.events)
    assert kinds[:4] == ["user_message", "error", "context_compacted", "llm_responded"]
    error, compacted = report.events[1], report.events[2]
    assert isinstance(error, ErrorEvent)
    assert error.kind == "context_overflow"
    assert isinstance(compacted, ContextCompacted)
    assert compacted.summary == SUMMARY
    assert compacted.evicted > 0
    # Requests of that turn: the refused step, the summary (no tools), the step again.
    refused, summary, again = server.requests[before : before + 3]
    assert ["tools" in body for body in (refused, summary, again)] == [True, False, True]
    assert "Message 0" in json.dumps(messages_of(summary))  # it summarizes the oldest
    assert len(messages_of(again)) < len(messages_of(refused))
    assert SUMMARY in str(messages_of(again)[0]["content"])  # the summary is in the prompt
    assert "Message 0" not in json.dumps(messages_of(again))
    await check_log(log)


# --- the LLM timeout -----------------------------------------------------------------------


async def test_a_step_abandoned_at_the_llm_timeout_does_not_fail_the_next_message(
    server: FakeOpenAI,
) -> None:
    server.script.append(Answer(body=completion("too late").body, delay=1.0))
    config = AgentConfig(model="fake-model", llm_timeout=0.4)
    async with running(server, config=config) as (ada, log):
        first = await ada.ask(user("one"))
        second = await ada.ask(user("two"))  # the server now answers at once
    assert types(first.events) == ["user_message", "error"]
    assert second.replies == ("You said: two",)
    await check_log(log)
