"""The scripted model: a handler plays the LLM, and every request is recorded."""

from __future__ import annotations

import pytest

from memvisor import UsageError
from memvisor.events import TokenUsage, ToolCall
from memvisor.llm._scripted import ScriptedLLM, reply_with_call, reply_with_text
from memvisor.llm._types import LLMClient, LLMRequest, LLMResponse
from memvisor.memory._messages import ChatMessage


def ask(text: str, model: str = "scripted") -> LLMRequest:
    return LLMRequest(model=model, messages=(ChatMessage(role="user", content=text),))


@pytest.mark.anyio
async def test_the_handler_answers_and_every_request_is_recorded() -> None:
    def echo(request: LLMRequest) -> LLMResponse:
        return reply_with_text(f"you said {request.messages[-1].content}")

    llm = ScriptedLLM(echo)
    client: LLMClient = llm
    first = await client.complete(ask("hi"))
    second = await client.complete(ask("bye", model="other"))
    assert first == LLMResponse(content="you said hi", finish_reason="stop", model="scripted")
    assert second.content == "you said bye"
    assert second.model == "other"
    assert llm.requests == [ask("hi"), ask("bye", model="other")]


def test_reply_with_call_keeps_the_arguments_as_given() -> None:
    usage = TokenUsage(prompt_tokens=5, completion_tokens=1, total_tokens=6)
    reply = reply_with_call(
        "send_message", '{"message": oops', content="hmm", call_id="c1", usage=usage
    )
    assert reply == LLMResponse(
        content="hmm",
        tool_calls=(ToolCall(id="c1", name="send_message", arguments='{"message": oops'),),
        finish_reason="tool_calls",
        usage=usage,
    )


def test_calls_get_fresh_ids() -> None:
    ids = {reply_with_call("f").tool_calls[0].id for _ in range(3)}
    assert len(ids) == 3


@pytest.mark.anyio
async def test_replies_come_in_order_and_running_out_is_a_usage_error() -> None:
    llm = ScriptedLLM.from_replies([reply_with_call("f", "{}", call_id="a"), reply_with_text("x")])
    assert (await llm.complete(ask("1"))).tool_calls[0].id == "a"
    assert (await llm.complete(ask("2"))).content == "x"
    with pytest.raises(UsageError, match="no reply left"):
        await llm.complete(ask("3"))
    assert len(llm.requests) == 3


@pytest.mark.anyio
async def test_a_model_the_handler_names_is_kept() -> None:
    llm = ScriptedLLM(lambda request: LLMResponse(content="x", model="mine"))
    assert (await llm.complete(ask("q"))).model == "mine"
