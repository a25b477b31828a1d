"""Running one call: conversions, failures, timeouts, threads and truncation."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Awaitable, Callable, Iterator

import anyio
import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from memvisor import UsageError
from memvisor.agent._toolkit import ToolContext, ToolError, ToolResult
from memvisor.agent._tools import ToolLimits, on_loop, run_call, truncate
from memvisor.events import AgentCreated, AssistantMessage, MemoryEventLog, ToolCalled
from memvisor.llm._functions import ParsedCall, function_spec, parse_call
from memvisor.memory._archival_model import ArchivalStore
from memvisor.memory._state import fold_all

AGENT = "ada"


def context() -> ToolContext:
    created = AgentCreated(agent=AGENT, seq=1, at=0.0)
    called = ToolCalled(agent=AGENT, seq=2, at=100.0, call_id="c1", name="f", arguments="{}")

    async def no_archival() -> ArchivalStore:
        raise AssertionError("archival is not needed here")

    return ToolContext(
        state=fold_all([created, called]), call=called, log=MemoryEventLog(), archival=no_archival
    )


async def run(
    fn: Callable[..., object],
    arguments: object = None,
    limits: ToolLimits = ToolLimits(),  # noqa: B008
) -> ToolResult:
    spec = function_spec(fn, context=ToolContext)
    parsed = parse_call(spec, json.dumps(arguments or {}))
    assert isinstance(parsed, ParsedCall), parsed
    return await run_call(spec, parsed, context(), limits)


class Point(msgspec.Struct):
    x: int
    y: int


class Opaque:
    def __repr__(self) -> str:
        return "<opaque>"


# --- return values ----------------------------------------------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("value", "content"),
    [
        ("plain text", "plain text"),
        ("", ""),
        (None, "OK"),
        (42, "42"),
        (True, "true"),
        ([1, "a"], '[1,"a"]'),
        ({"k": [1.5]}, '{"k":[1.5]}'),
        (Point(x=1, y=2), '{"x":1,"y":2}'),
        (Opaque(), "<opaque>"),
        ({1: Opaque()}, "{1: <opaque>}"),
    ],
)
async def test_return_values_become_ok_results(value: object, content: str) -> None:
    def f() -> object:
        return value

    assert await run(f) == ToolResult(content=content)


@pytest.mark.anyio
async def test_a_tool_result_is_returned_as_is() -> None:
    effect = AssistantMessage(agent=AGENT, seq=0, at=0.0, text="hi")
    returned = ToolResult(content="done", status="error", effects=(effect,))

    async def f() -> ToolResult:
        return returned

    assert await run(f) is returned


@pytest.mark.anyio
async def test_async_and_sync_functions_get_arguments_and_the_context() -> None:
    async def a(ctx: ToolContext, n: int) -> str:
        await anyio.lowlevel.checkpoint()
        return f"{ctx.agent}@{ctx.call.seq}: {n}"

    def s(n: int, ctx: ToolContext) -> str:
        return f"{ctx.agent}@{ctx.now:g}: {n}"

    assert (await run(a, {"n": 3})).content == "ada@2: 3"
    assert (await run(s, {"n": 4})).content == "ada@100: 4"


@pytest.mark.anyio
async def test_a_sync_function_handing_back_a_coroutine_is_awaited() -> None:
    async def later() -> str:
        return "awaited"

    def f() -> Awaitable[str]:
        return later()

    assert (await run(f)).content == "awaited"


# --- failures ---------------------------------------------------------------------------


@pytest.mark.anyio
async def test_tool_error_fails_the_call_with_its_message() -> None:
    def f() -> str:
        raise ToolError("Say which city.")

    async def g() -> str:
        raise ToolError("")

    assert await run(f) == ToolResult(content="Say which city.", status="error")
    assert await run(g) == ToolResult(content="g failed.", status="error")


@pytest.mark.anyio
@pytest.mark.parametrize("is_async", [False, True])
async def test_a_crashing_tool_becomes_an_error_the_model_reads(is_async: bool) -> None:
    def sync() -> str:
        empty: dict[str, str] = {}
        return empty["missing"]

    async def asynchronous() -> str:
        raise ValueError("bad value")

    if is_async:
        assert await run(asynchronous) == ToolResult(
            content="ValueError: bad value", status="error"
        )
    else:
        assert await run(sync) == ToolResult(content="KeyError: 'missing'", status="error")


@pytest.mark.anyio
async def test_an_exception_without_a_message_or_with_a_broken_str() -> None:
    class Broken(Exception):
        def __str__(self) -> str:
            raise RuntimeError("no")

    def empty() -> None:
        raise RuntimeError

    def broken() -> None:
        raise Broken

    assert await run(empty) == ToolResult(content="RuntimeError", status="error")
    result = await run(broken)
    assert result.status == "error"
    assert result.content.startswith("Broken: ")


@pytest.mark.anyio
async def test_a_failing_conversion_is_a_tool_bug_too() -> None:
    class BadRepr:
        def __repr__(self) -> str:
            raise RuntimeError("cannot show")

    def f() -> object:
        return BadRepr()

    assert await run(f) == ToolResult(content="RuntimeError: cannot show", status="error")


class Escape(BaseException):
    """Not an Exception: must never be swallowed."""


@pytest.mark.anyio
@pytest.mark.parametrize("is_async", [False, True])
async def test_base_exceptions_propagate(is_async: bool) -> None:
    def sync() -> None:
        raise Escape

    async def asynchronous() -> None:
        raise Escape

    with pytest.raises(Escape):
        await run(asynchronous if is_async else sync)


@pytest.mark.anyio
async def test_cancellation_from_outside_propagates() -> None:
    finished = False

    async def slow() -> str:
        await anyio.sleep(10)
        return "never"

    with anyio.move_on_after(0.05) as scope:
        await run(slow)
        finished = True
    assert scope.cancelled_caught
    assert not finished


@pytest.mark.anyio
async def test_a_call_of_another_function_is_a_usage_error() -> None:
    def f() -> None: ...

    def g() -> None: ...

    parsed = parse_call(function_spec(g), "{}")
    assert isinstance(parsed, ParsedCall)
    with pytest.raises(UsageError, match="'g' cannot run as 'f'"):
        await run_call(function_spec(f), parsed, context())


def test_limits_are_validated() -> None:
    for bad in (0.0, -1.0, float("nan")):
        with pytest.raises(UsageError, match="timeout"):
            ToolLimits(timeout=bad)
    with pytest.raises(UsageError, match="max_output_chars"):
        ToolLimits(max_output_chars=0)


# --- timeouts ---------------------------------------------------------------------------

SHORT = ToolLimits(timeout=0.2)


@pytest.fixture
def release() -> Iterator[threading.Event]:
    """Set at the end of the test, so that an abandoned worker thread exits promptly."""
    event = threading.Event()
    yield event
    event.set()


@pytest.mark.anyio
async def test_an_async_tool_past_the_timeout_is_cancelled() -> None:
    cancelled = False

    async def slow() -> str:
        nonlocal cancelled
        try:
            await anyio.sleep(10)
        finally:
            cancelled = True
        return "never"

    started = time.monotonic()
    result = await run(slow, limits=SHORT)
    assert time.monotonic() - started < 5
    assert result.status == "error"
    assert result.content.startswith("slow timed out after 0.2 seconds")
    assert cancelled


@pytest.mark.anyio
async def test_a_sync_tool_past_the_timeout_is_abandoned(release: threading.Event) -> None:
    def stuck() -> str:
        release.wait(10)
        return "too late"

    started = time.monotonic()
    result = await run(stuck, limits=SHORT)
    assert time.monotonic() - started < 5
    assert result == ToolResult(
        content="stuck timed out after 0.2 seconds and its result was discarded."
        " Try again with a smaller request, or do something else.",
        status="error",
    )


@pytest.mark.anyio
async def test_a_tools_own_timeout_error_is_not_the_time_limit() -> None:
    def f() -> None:
        raise TimeoutError("the server took too long")

    assert await run(f) == ToolResult(
        content="TimeoutError: the server took too long", status="error"
    )


# --- threads ----------------------------------------------------------------------------


@pytest.mark.anyio
async def test_where_sync_functions_run() -> None:
    loop_thread = threading.get_ident()
    seen: list[bool] = []

    def where() -> None:
        seen.append(threading.get_ident() == loop_thread)

    on_the_loop = on_loop(where)
    assert on_the_loop is where  # the decorator only marks

    def elsewhere() -> None:
        seen.append(threading.get_ident() == loop_thread)

    await run(elsewhere)  # a worker thread by default
    await run(elsewhere, limits=ToolLimits(threads=False))
    await run(where)  # marked: never in a thread
    assert seen == [False, True, True]


@pytest.mark.anyio
async def test_builtins_that_only_compute_run_on_the_loop() -> None:
    from memvisor.agent._builtins import BUILTIN_FUNCTIONS
    from memvisor.agent._tools import _ON_LOOP

    pure = {"send_message", "pause_heartbeats", "core_memory_append", "core_memory_replace"}
    pure |= {"set_timer", "send_message_to_agent", "ask_agent", "broadcast"}
    assert {spec.name for spec in BUILTIN_FUNCTIONS if spec.fn in _ON_LOOP} == pure


# --- truncation -------------------------------------------------------------------------


@pytest.mark.anyio
async def test_long_output_is_cut_with_a_note() -> None:
    def long() -> str:
        return "x" * 12345

    result = await run(long)
    assert result.status == "ok"
    assert result.content == "x" * 8000 + "\n… [output truncated: showed 8000 of 12345 characters]"


@pytest.mark.anyio
async def test_long_errors_are_cut_too_and_effects_are_kept() -> None:
    effect = AssistantMessage(agent=AGENT, seq=0, at=0.0, text="hi")

    def failing() -> None:
        raise ToolError("e" * 50)

    def chatty() -> ToolResult:
        return ToolResult(content="y" * 50, effects=(effect,))

    limits = ToolLimits(max_output_chars=10)
    failed = await run(failing, limits=limits)
    assert failed.status == "error"
    assert failed.content.startswith("e" * 10 + "\n… [output truncated: showed 10 of 50")
    kept = await run(chatty, limits=limits)
    assert kept.effects == (effect,)
    assert kept.content.startswith("y" * 10 + "\n…")


@given(content=st.text(), limit=st.integers(min_value=1, max_value=200))
def test_truncation_keeps_a_prefix_and_bounds_the_length(content: str, limit: int) -> None:
    result = truncate(ToolResult(content=content), limit)
    if len(content) <= limit:
        assert result.content == content
    else:
        note = f"\n… [output truncated: showed {limit} of {len(content)} characters]"
        assert result.content == content[:limit] + note
        assert len(result.content) <= limit + len(note)
    assert result.content.startswith(content[:limit])
