"""Request bodies: the caching encoder writes exactly the bytes of one whole-request encode.

``reference_encode`` is the encoder as it was before messages were cached: the
request as one msgspec Struct, encoded at once. It is kept here, with its own
copy of the wire Structs, as the definition the cached encoder must match byte
for byte, whatever the requests and however they share messages.
"""

from __future__ import annotations

import json

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from memvisor.events import ToolCall
from memvisor.llm import _client
from memvisor.llm._client import RequestEncoder, encode_request
from memvisor.llm._types import LLMRequest, ToolChoice, ToolSchema
from memvisor.memory._messages import ChatMessage

# --- the reference: the whole request as one Struct --------------------------------------


class _Function(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    arguments: str


class _ToolCall(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    function: _Function
    type: str = "function"


class _Message(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    role: str
    content: str | None = None
    tool_calls: tuple[_ToolCall, ...] = ()
    tool_call_id: str | None = None


class _ToolFunction(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    description: str
    parameters: msgspec.Raw


class _Tool(msgspec.Struct, frozen=True, kw_only=True):
    function: _ToolFunction
    type: str = "function"


class _Request(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    model: str
    messages: tuple[_Message, ...]
    tools: tuple[_Tool, ...] | None = None
    tool_choice: str | None = None
    temperature: float | None = None


def _message(m: ChatMessage) -> _Message:
    calls = tuple(
        _ToolCall(id=c.id, function=_Function(name=c.name, arguments=c.arguments))
        for c in m.tool_calls
    )
    content = "" if m.role == "tool" and m.content is None else m.content
    return _Message(role=m.role, content=content, tool_calls=calls, tool_call_id=m.tool_call_id)


def reference_encode(request: LLMRequest) -> bytes:
    """The body as the encoder wrote it before it cached anything."""
    tools = (
        tuple(
            _Tool(
                function=_ToolFunction(
                    name=t.name, description=t.description, parameters=t.parameters
                )
            )
            for t in request.tools
        )
        or None
    )
    body = _Request(
        model=request.model,
        messages=tuple(_message(m) for m in request.messages),
        tools=tools,
        tool_choice=request.tool_choice if tools else None,
        temperature=request.temperature,
    )
    return msgspec.json.encode(body)


# --- strategies --------------------------------------------------------------------------

_texts = st.text(max_size=30)
_optional_texts = st.none() | _texts
_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | _texts,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_texts, inner, max_size=3),
    max_leaves=8,
)

tool_calls = st.builds(ToolCall, id=_texts, name=_texts, arguments=_texts)
messages = st.builds(
    ChatMessage,
    role=st.sampled_from(["system", "user", "assistant", "tool"]),
    content=_optional_texts,
    tool_calls=st.lists(tool_calls, max_size=2).map(tuple),
    tool_call_id=_optional_texts,
    name=_optional_texts,
)


def _tool(name: str, description: str, schema: object, indent: int | None) -> ToolSchema:
    # not st.builds(ToolSchema): its string annotations do not resolve in memvisor.llm
    parameters = msgspec.Raw(json.dumps(schema, indent=indent).encode())
    return ToolSchema(name=name, description=description, parameters=parameters)


# compact or indented: a schema's JSON text goes into the body as it is
tools = st.builds(_tool, _texts, _texts, _json, st.sampled_from([None, 1]))
_tool_tuples = st.lists(tools, max_size=3).map(tuple)
_choices: st.SearchStrategy[ToolChoice] = st.sampled_from(["auto", "required", "none"])
_temperatures = st.none() | st.floats(allow_nan=True, allow_infinity=True)


@st.composite
def requests(draw: st.DrawFn, pool: list[ChatMessage] | None = None) -> LLMRequest:
    """A request; its messages are drawn from ``pool`` (repeats allowed) when given."""
    if pool:
        chosen = draw(st.lists(st.sampled_from(pool), max_size=8))
    else:
        chosen = draw(st.lists(messages, max_size=8))
    return LLMRequest(
        model=draw(_texts),
        messages=tuple(chosen),
        tools=draw(_tool_tuples),
        tool_choice=draw(_choices),
        temperature=draw(_temperatures),
    )


@st.composite
def conversations(draw: st.DrawFn) -> list[LLMRequest]:
    """Requests that share messages (and tools) the way an agent's steps do, or at random."""
    pool = draw(st.lists(messages, min_size=1, max_size=10))
    shared_tools = draw(_tool_tuples)
    out: list[LLMRequest] = []
    for _ in range(draw(st.integers(1, 6))):
        kind = draw(st.sampled_from(["append", "drop", "any"]))
        if out and kind == "append":  # the last request and one new message
            new = draw(messages)
            pool.append(new)
            out.append(msgspec.structs.replace(out[-1], messages=(*out[-1].messages, new)))
        elif out and kind == "drop":  # compaction: some messages leave the context
            size = len(out[-1].messages)
            keep = draw(st.lists(st.booleans(), min_size=size, max_size=size))
            kept = tuple(m for m, k in zip(out[-1].messages, keep, strict=True) if k)
            out.append(msgspec.structs.replace(out[-1], messages=kept))
        else:
            request = draw(requests(pool))
            same_tools = draw(st.booleans())
            out.append(
                msgspec.structs.replace(request, tools=shared_tools) if same_tools else request
            )
    return out


# --- byte-identical to the reference ----------------------------------------------------


@settings(max_examples=300)
@given(requests())
def test_a_request_encodes_exactly_as_the_reference(request: LLMRequest) -> None:
    assert RequestEncoder().encode(request) == reference_encode(request)
    assert encode_request(request) == reference_encode(request)


@settings(max_examples=300)
@given(conversations(), st.integers(0, 300) | st.just(4 << 20))
def test_requests_sharing_messages_encode_exactly_as_the_reference(
    conversation: list[LLMRequest], max_bytes: int
) -> None:
    encoder = RequestEncoder(max_bytes=max_bytes)  # small: generations retire as it goes
    for request in conversation:
        assert encoder.encode(request) == reference_encode(request)


def test_a_copy_of_a_remembered_message_with_other_content_is_not_mistaken_for_it() -> None:
    encoder = RequestEncoder()
    first = ChatMessage(role="user", content="one")
    encoder.encode(LLMRequest(model="m", messages=(first,)))
    other = msgspec.structs.replace(first, content="two")
    body = encoder.encode(LLMRequest(model="m", messages=(first, other)))
    assert body == reference_encode(LLMRequest(model="m", messages=(first, other)))


# --- only what changed is encoded -------------------------------------------------------


@pytest.fixture
def encoded(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The content of each message the encoder converts, and ``"tools"`` per tools array."""
    seen: list[str] = []
    wire_message = _client._wire_message
    wire_tool = _client._wire_tool

    def counting_message(message: ChatMessage) -> object:
        seen.append(message.content or "")
        return wire_message(message)

    def counting_tool(tool: ToolSchema) -> object:
        seen.append(f"tool:{tool.name}")
        return wire_tool(tool)

    monkeypatch.setattr(_client, "_wire_message", counting_message)
    monkeypatch.setattr(_client, "_wire_tool", counting_tool)
    return seen


def _conversation(n: int) -> tuple[ChatMessage, ...]:
    return tuple(ChatMessage(role="user", content=f"m{i}") for i in range(n))


TOOLS = (ToolSchema(name="send_message"), ToolSchema(name="archival_search"))


def test_a_step_that_appends_one_message_encodes_only_that_message(encoded: list[str]) -> None:
    encoder = RequestEncoder()
    history = _conversation(3)
    encoder.encode(LLMRequest(model="m", messages=history, tools=TOOLS))
    assert encoded == ["m0", "m1", "m2", "tool:send_message", "tool:archival_search"]
    encoded.clear()
    new = ChatMessage(role="assistant", content="m3")
    # the agent rebuilds the tools tuple each step: equal tools are not encoded again
    encoder.encode(LLMRequest(model="m", messages=(*history, new), tools=tuple(TOOLS)))
    assert encoded == ["m3"]


def test_changed_tools_are_encoded_again(encoded: list[str]) -> None:
    encoder = RequestEncoder()
    encoder.encode(LLMRequest(model="m", messages=(), tools=TOOLS))
    encoded.clear()
    encoder.encode(LLMRequest(model="m", messages=(), tools=TOOLS[:1]))
    assert encoded == ["tool:send_message"]


def test_a_message_survives_one_retirement_and_is_forgotten_at_the_next(
    encoded: list[str],
) -> None:
    encoder = RequestEncoder(max_bytes=0)  # every request retires the current generation
    first, second = _conversation(2)
    encoder.encode(LLMRequest(model="m", messages=(first,)))
    encoder.encode(LLMRequest(model="m", messages=(first,)))  # found in the old generation
    assert encoded == ["m0"]
    encoder.encode(LLMRequest(model="m", messages=(second,)))
    encoder.encode(LLMRequest(model="m", messages=(second,)))  # first: retired twice
    encoder.encode(LLMRequest(model="m", messages=(first,)))
    assert encoded == ["m0", "m1", "m0"]


def test_two_agents_sharing_a_client_each_keep_their_messages(encoded: list[str]) -> None:
    encoder = RequestEncoder()
    alice = _conversation(3)
    bob = tuple(ChatMessage(role="user", content=f"b{i}") for i in range(3))
    for _ in range(3):
        encoder.encode(LLMRequest(model="m", messages=alice))
        encoder.encode(LLMRequest(model="m", messages=bob))
    assert sorted(encoded) == ["b0", "b1", "b2", "m0", "m1", "m2"]
