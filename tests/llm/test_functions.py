"""Function specs from signatures, argument validation, repairs and rejections."""

from __future__ import annotations

import inspect
import json
from typing import Literal

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from memvisor._exceptions import UsageError
from memvisor.events import ToolCall
from memvisor.llm._content_calls import parse_call_from_content
from memvisor.llm._functions import (
    HEARTBEAT_DESCRIPTION,
    CallRejected,
    FunctionRegistry,
    FunctionSpec,
    ParsedCall,
    function_spec,
    parse_call,
)


def send_message(message: str) -> None:
    """Sends a message to the human user.

    Args:
        message: Message contents. All unicode (including emojis) are supported.
    """


def conversation_search(query: str, page: int | None = 0) -> None:
    """Search prior conversation history using case-insensitive string matching.

    Args:
        query (str): String to search for.
        page (int): Allows you to page through results. Defaults to 0
            (first page).

    Returns:
        Nothing.
    """


def everything(
    *,
    text: str,
    count: int,
    ratio: float,
    flag: bool,
    mode: Literal["fast", "slow"],
    tags: list[str],
    note: str | None = None,
) -> None:
    """Take one of each supported type."""


def no_args() -> None:
    """Do nothing at all."""


def schema(spec: FunctionSpec) -> object:
    return json.loads(bytes(spec.parameters))


def parsed(result: ParsedCall | CallRejected) -> ParsedCall:
    assert isinstance(result, ParsedCall), result
    return result


def rejected(result: ParsedCall | CallRejected) -> str:
    assert isinstance(result, CallRejected), result
    return result.message


# --- schemas ---------------------------------------------------------------------------


def test_schema_of_send_message_with_heartbeat() -> None:
    spec = function_spec(send_message, heartbeat=True)
    assert spec.name == "send_message"
    assert spec.description == "Sends a message to the human user."
    assert schema(spec) == {
        "type": "object",
        "properties": {
            "message": {
                "type": "string",
                "description": "Message contents. All unicode (including emojis) are supported.",
            },
            "request_heartbeat": {"type": "boolean", "description": HEARTBEAT_DESCRIPTION},
        },
        "required": ["message", "request_heartbeat"],
        "additionalProperties": False,
    }


def test_schema_optional_with_default_and_multiline_arg_doc() -> None:
    spec = function_spec(conversation_search)
    assert spec.description == (
        "Search prior conversation history using case-insensitive string matching."
    )
    assert schema(spec) == {
        "type": "object",
        "properties": {
            "query": {"type": "string", "description": "String to search for."},
            "page": {
                "anyOf": [{"type": "integer"}, {"type": "null"}],
                "default": 0,
                "description": "Allows you to page through results. Defaults to 0 (first page).",
            },
        },
        "required": ["query"],
        "additionalProperties": False,
    }


def test_schema_of_every_supported_type() -> None:
    props = {
        "text": {"type": "string"},
        "count": {"type": "integer"},
        "ratio": {"type": "number"},
        "flag": {"type": "boolean"},
        "mode": {"enum": ["fast", "slow"]},
        "tags": {"type": "array", "items": {"type": "string"}},
        "note": {"anyOf": [{"type": "string"}, {"type": "null"}], "default": None},
    }
    assert schema(function_spec(everything)) == {
        "type": "object",
        "properties": props,
        "required": ["text", "count", "ratio", "flag", "mode", "tags"],
        "additionalProperties": False,
    }


def test_to_tool_schema_and_name_override() -> None:
    spec = function_spec(no_args, name="noop")
    tool = spec.to_tool_schema()
    assert (tool.name, tool.description) == ("noop", "Do nothing at all.")
    assert json.loads(bytes(tool.parameters)) == {
        "type": "object",
        "properties": {},
        "required": [],
        "additionalProperties": False,
    }


def dict_arg(x: dict[str, str]) -> None: ...
def unannotated(x) -> None: ...  # type: ignore[no-untyped-def]
def varargs(*xs: str) -> None: ...
def optional_without_default(x: str | None) -> None: ...
def wide_union(x: str | int) -> None: ...
def bad_default(x: int = "zero") -> None: ...  # type: ignore[assignment]
def mixed_literal(x: Literal["a", 1]) -> None: ...


def documents_ghost(x: str) -> None:
    """Ghost.

    Args:
        y: Not a parameter.
    """


@pytest.mark.parametrize(
    "fn",
    [
        dict_arg,
        unannotated,
        varargs,
        optional_without_default,
        wide_union,
        bad_default,
        mixed_literal,
        documents_ghost,
    ],
)
def test_unsupported_definitions_raise_usage_error(fn: object) -> None:
    with pytest.raises(UsageError):
        function_spec(fn)  # type: ignore[arg-type]


def test_heartbeat_clashing_with_own_parameter_and_bad_name() -> None:
    def f(request_heartbeat: bool) -> None: ...

    with pytest.raises(UsageError, match="request_heartbeat"):
        function_spec(f, heartbeat=True)
    with pytest.raises(UsageError, match="must match"):
        function_spec(no_args, name="has space")


# --- parsing and repairs ---------------------------------------------------------------


def test_valid_call_needs_no_repair_and_invokes() -> None:
    seen: list[str] = []

    def remember(content: str) -> str:
        seen.append(content)
        return "ok"

    spec = function_spec(remember, heartbeat=True)
    call = parsed(parse_call(spec, '{"content": "hi", "request_heartbeat": true}'))
    assert call.repaired == ()
    assert call.heartbeat is True
    assert call.kwargs() == {"content": "hi"}
    assert spec.invoke(call) == "ok"
    assert seen == ["hi"]


def test_repair_double_encoded_arguments() -> None:
    spec = function_spec(send_message)
    call = parsed(parse_call(spec, json.dumps(json.dumps({"message": "hi"}))))
    assert call.kwargs() == {"message": "hi"}
    assert call.repaired == ("double_encoded_arguments",)


def test_repair_missing_heartbeat_defaults_to_false() -> None:
    spec = function_spec(send_message, heartbeat=True)
    call = parsed(parse_call(spec, '{"message": "hi"}'))
    assert call.heartbeat is False
    assert call.repaired == ("missing_request_heartbeat",)


@pytest.mark.parametrize(("text", "value"), [("true", True), ("false", False), (" True ", True)])
def test_repair_boolean_from_string(text: str, value: bool) -> None:
    spec = function_spec(send_message, heartbeat=True)
    call = parsed(parse_call(spec, json.dumps({"message": "m", "request_heartbeat": text})))
    assert call.heartbeat is value
    assert call.repaired == ("boolean_from_string",)


def test_repair_numbers_from_strings() -> None:
    spec = function_spec(everything)
    args = {"text": "1", "count": "3", "ratio": "2.5", "flag": "false", "mode": "fast"}
    call = parsed(parse_call(spec, json.dumps({**args, "tags": ["7"]})))
    assert call.kwargs() == {
        "text": "1",
        "count": 3,
        "ratio": 2.5,
        "flag": False,
        "mode": "fast",
        "tags": ["7"],
        "note": None,
    }
    assert set(call.repaired) == {"number_from_string", "boolean_from_string"}
    optional = parsed(parse_call(function_spec(conversation_search), '{"query":"q","page":"2"}'))
    assert optional.kwargs() == {"query": "q", "page": 2}


@pytest.mark.parametrize("text", ["", "   ", "null"])
def test_repair_empty_arguments_when_nothing_is_required(text: str) -> None:
    call = parsed(parse_call(function_spec(no_args, heartbeat=True), text))
    assert call.kwargs() == {}
    assert call.repaired == ("empty_arguments", "missing_request_heartbeat")


# --- rejections ------------------------------------------------------------------------


def test_unknown_field_is_named() -> None:
    message = rejected(parse_call(function_spec(send_message), '{"message": "x", "msg": "y"}'))
    assert "unknown argument `msg`" in message
    assert "message: a string (required)" in message


def test_missing_field_is_named_with_its_type() -> None:
    message = rejected(parse_call(function_spec(conversation_search), '{"page": 1}'))
    assert "missing required argument `query` (a string)" in message


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        ('{"message": 5}', "argument `message` must be a string, got 5"),
        ('{"message": ["a"]}', 'argument `message` must be a string, got ["a"]'),
    ],
)
def test_wrong_type_names_expected_type(arguments: str, expected: str) -> None:
    assert expected in rejected(parse_call(function_spec(send_message), arguments))


def test_wrong_types_for_other_kinds() -> None:
    spec = function_spec(everything)
    base = {"text": "t", "count": 1, "ratio": 1.0, "flag": True, "mode": "slow", "tags": []}
    cases: list[tuple[dict[str, object], str]] = [
        ({"count": "three"}, "argument `count` must be an integer"),
        ({"count": 1.5}, "argument `count` must be an integer"),
        ({"flag": "yes"}, "argument `flag` must be a boolean (true or false)"),
        ({"mode": "medium"}, 'argument `mode` must be one of "fast", "slow", got "medium"'),
        ({"tags": [1]}, "argument `tags` must be an array of strings, got [1]"),
        ({"note": 3}, "argument `note` must be a string or null"),
    ]
    for change, expected in cases:
        assert expected in rejected(parse_call(spec, json.dumps({**base, **change})))


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        ("{bad json", "the arguments are not valid JSON"),
        ("[1, 2]", "the arguments must be a JSON object, got an array"),
        ('"just text"', "the arguments must be a JSON object, got a string"),
        ("42", "the arguments must be a JSON object, got a number"),
        ("", "the arguments are empty; missing required `message`"),
    ],
)
def test_malformed_arguments_are_rejected(arguments: str, expected: str) -> None:
    result = parse_call(function_spec(send_message), arguments)
    message = rejected(result)
    assert expected in message
    assert "Expected a JSON object with the arguments of `send_message`" in message
    assert isinstance(result, CallRejected)
    assert result.function == "send_message"


# --- registry --------------------------------------------------------------------------


def test_registry_lookup_and_unknown_function() -> None:
    registry = FunctionRegistry([function_spec(send_message), function_spec(no_args)])
    assert registry.names == ("send_message", "no_args")
    assert len(registry) == 2
    assert "no_args" in registry
    found = registry.lookup("functions.send_message")
    assert isinstance(found, FunctionSpec)
    assert found.name == "send_message"
    missing = registry.lookup("send_mesage")
    assert isinstance(missing, CallRejected)
    assert missing.message == (
        "Unknown function `send_mesage`. Available functions: send_message, no_args."
    )
    assert [t.name for t in registry.tool_schemas()] == ["send_message", "no_args"]
    with pytest.raises(UsageError, match="already registered"):
        registry.register(function_spec(send_message))


def test_registry_parse_call() -> None:
    registry = FunctionRegistry([function_spec(send_message)])
    ok = registry.parse(ToolCall(id="c1", name="send_message", arguments='{"message":"hi"}'))
    assert parsed(ok).kwargs() == {"message": "hi"}
    assert "Unknown function" in rejected(
        registry.parse(ToolCall(id="c2", name="x", arguments=""))
    )


# --- calls written in the content ------------------------------------------------------


@pytest.mark.parametrize(
    "content",
    [
        '{"name": "send_message", "arguments": {"message": "hi"}}',
        '{"function": "send_message", "params": {"message": "hi"}}',
        'Let me reply.\n```json\n{"name": "send_message", "arguments": {"message": "hi"}}\n```',
        '{"type": "function", "function": '
        '{"name": "send_message", "arguments": {"message": "hi"}}}',
        'I will call {"tool": "send_message", "args": {"message": "hi"}} now.',
        '{"name": "send_message", "arguments": "{\\"message\\": \\"hi\\"}"}',
    ],
)
def test_call_from_content_is_recognised(content: str) -> None:
    call = parse_call_from_content(content)
    assert call is not None
    assert call.name == "send_message"
    assert call.id
    assert json.loads(call.arguments) == {"message": "hi"}
    assert parsed(parse_call(function_spec(send_message), call.arguments)).kwargs() == {
        "message": "hi"
    }


def test_call_from_content_fresh_ids_and_explicit_id() -> None:
    text = '{"name": "no_args"}'
    first, second = parse_call_from_content(text), parse_call_from_content(text)
    assert first is not None
    assert second is not None
    assert first.id != second.id
    assert first.arguments == "{}"
    assert parse_call_from_content(text, call_id="c9") == ToolCall(
        id="c9", name="no_args", arguments="{}"
    )


@pytest.mark.parametrize(
    "content",
    [
        "Hello there!",
        '{"message": "hi"}',
        "```json\n[1, 2]\n```",
        '{"name": "has space", "arguments": {}}',
        '{"name": "send_message", "arguments": 5}',
        "{not json}",
    ],
)
def test_plain_content_is_not_a_call(content: str) -> None:
    assert parse_call_from_content(content) is None


# --- properties ------------------------------------------------------------------------


@given(st.text())
def test_parse_call_never_raises(text: str) -> None:
    for spec in (function_spec(everything), function_spec(send_message, heartbeat=True)):
        assert isinstance(parse_call(spec, text), ParsedCall | CallRejected)
    parse_call_from_content(text)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=10,
)


@given(st.dictionaries(st.sampled_from(["text", "count", "flag", "tags", "zz"]), json_values))
def test_parse_call_never_raises_on_json_objects(obj: dict[str, object]) -> None:
    result = parse_call(function_spec(everything), json.dumps(obj))
    assert isinstance(result, ParsedCall | CallRejected)


int64 = st.integers(min_value=-(2**63), max_value=2**63 - 1)
finite = st.floats(allow_nan=False, allow_infinity=False)
everything_kwargs = st.fixed_dictionaries(
    {
        "text": st.text(),
        "count": int64,
        "ratio": finite,
        "flag": st.booleans(),
        "mode": st.sampled_from(["fast", "slow"]),
        "tags": st.lists(st.text(), max_size=4),
    },
    optional={"note": st.none() | st.text()},
)


@given(everything_kwargs)
def test_round_trip_of_valid_kwargs(kwargs: dict[str, object]) -> None:
    call = parsed(parse_call(function_spec(everything), json.dumps(kwargs)))
    assert call.repaired == ()
    assert call.kwargs() == {"note": None, **kwargs}


@given(st.text(), st.booleans())
def test_round_trip_with_heartbeat(message: str, heartbeat: bool) -> None:
    spec = function_spec(send_message, heartbeat=True)
    arguments = json.dumps({"message": message, "request_heartbeat": heartbeat})
    call = parsed(parse_call(spec, arguments))
    assert (call.kwargs(), call.heartbeat, call.repaired) == ({"message": message}, heartbeat, ())


def test_parsed_arguments_are_the_generated_struct() -> None:
    spec = function_spec(send_message)
    call = parsed(parse_call(spec, '{"message": "hi"}'))
    assert isinstance(call.arguments, spec.args_type)
    assert msgspec.structs.asdict(call.arguments) == {"message": "hi"}


# --- context injection -----------------------------------------------------------------


class Ctx:
    """A stand-in for the agent's context type (the llm package names none itself)."""

    def __init__(self, who: str) -> None:
        self.who = who


def greet(ctx: Ctx, name: str, *, loud: bool = False) -> str:
    """Greet someone on behalf of the caller.

    Args:
        ctx: The caller's context (never shown to the model).
        name: Who to greet.
        loud: Shout it.
    """
    text = f"{ctx.who} greets {name}"
    return text.upper() if loud else text


def test_context_parameter_is_not_in_the_schema_or_the_arguments() -> None:
    spec = function_spec(greet, heartbeat=True, context=Ctx)
    assert spec.context_param == "ctx"
    assert [p.name for p in spec.params] == ["name", "loud"]
    assert set(spec.args_type.__struct_fields__) == {"name", "loud", "request_heartbeat"}
    properties = schema(spec)["properties"]  # type: ignore[index]
    assert list(properties) == ["name", "loud", "request_heartbeat"]
    rejection = rejected(
        parse_call(spec, '{"name": "Bob", "ctx": "x", "request_heartbeat": false}')
    )
    assert "unknown argument `ctx`" in rejection
    assert "ctx" not in rejection.split("\n", 1)[1]  # the expected arguments omit it


def test_invoke_passes_the_context_under_the_parameters_name() -> None:
    spec = function_spec(greet, context=Ctx)
    call = parsed(parse_call(spec, '{"name": "Bob", "loud": true}'))
    assert spec.invoke(call, Ctx("ada")) == "ADA GREETS BOB"
    with pytest.raises(UsageError, match="context"):
        spec.invoke(call)


def test_context_is_ignored_by_a_function_without_one() -> None:
    spec = function_spec(send_message, context=Ctx)
    assert spec.context_param is None
    call = parsed(parse_call(spec, '{"message": "hi"}'))
    assert spec.invoke(call, Ctx("ada")) is None
    assert spec.invoke(call) is None


class SubCtx(Ctx):
    """A subclass is not the context type: the match is exact."""


def test_context_type_matches_exactly_and_only_when_asked() -> None:
    def takes_sub(ctx: SubCtx) -> None: ...

    def takes_optional(ctx: Ctx | None = None) -> None: ...

    with pytest.raises(UsageError, match="unsupported type"):
        function_spec(greet)  # without context=, Ctx is just an unsupported type
    with pytest.raises(UsageError, match="unsupported type"):
        function_spec(takes_sub, context=Ctx)
    with pytest.raises(UsageError, match="unsupported type"):
        function_spec(takes_optional, context=Ctx)


def test_context_twice_is_a_usage_error() -> None:
    def twice(a: Ctx, b: Ctx) -> None: ...

    def positional_only(ctx: Ctx, /) -> None: ...

    with pytest.raises(UsageError, match="twice"):
        function_spec(twice, context=Ctx)
    with pytest.raises(UsageError, match="must be named"):
        function_spec(positional_only, context=Ctx)


def test_context_works_with_async_functions_and_keyword_only_context() -> None:
    async def lookup(query: str, *, ctx: Ctx) -> str:
        return f"{ctx.who}:{query}"

    spec = function_spec(lookup, context=Ctx)
    assert spec.context_param == "ctx"
    call = parsed(parse_call(spec, '{"query": "q"}'))
    coroutine = spec.invoke(call, Ctx("ada"))
    assert inspect.iscoroutine(coroutine)
    with pytest.raises(StopIteration) as stopped:
        coroutine.send(None)
    assert stopped.value.value == "ada:q"
