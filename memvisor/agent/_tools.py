"""Running one validated call: a time limit, a result whatever happens, bounded output.

```
ParsedCall ── run_call(spec, parsed, ctx, limits) ──────────────────────────► ToolResult
                │ async fn: awaited on the loop   ┐ under one fail_after(timeout)
                │ sync fn: in a worker thread     ┘ (on the loop: threads=False, @on_loop)
                ▼
   returned ToolResult ─ as is        raised ToolError ─ "error", its message
   returned str ──────── "ok"         raised Exception ─ "error", "Type: message"
   returned None ─────── "ok", "OK"   timed out ──────── "error", "timed out after N seconds"
   anything else ─────── "ok", JSON (repr if JSON cannot hold it)
                ▼
   content over max_output_chars ── cut, with a note saying how much was shown
```

Invariants:

* A function's failure never escapes: every ``Exception`` it raises (a bug in a
  user tool included) becomes an ``"error"`` result the model reads, so one bad
  tool cannot take the agent down. ``BaseException`` that is not an
  ``Exception`` (cancellation, ``KeyboardInterrupt``) always propagates.
* The content of a result is at most ``max_output_chars`` characters plus the
  truncation note, and what is shown is a prefix of what the function returned.
* Effects pass through untouched: this module runs the function, the agent
  stamps and logs what it asked for.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import ParamSpec, TypeVar

import anyio
import anyio.to_thread
import msgspec

from .._exceptions import UsageError
from ..llm._functions import FunctionSpec, ParsedCall
from ._toolkit import ToolContext, ToolError, ToolResult

__all__ = ["ToolLimits", "on_loop", "run_call", "truncate"]

P = ParamSpec("P")
R = TypeVar("R")

_json = msgspec.json.Encoder()
_ON_LOOP: set[object] = set()


class ToolLimits(msgspec.Struct, frozen=True, kw_only=True):
    """How long a call may run and how much of its output the model reads."""

    timeout: float = 30.0
    """Seconds per call. A sync function still running then is abandoned: its
    worker thread finishes in the background and its result is dropped."""
    max_output_chars: int = 8000
    """Longer content is cut to this many characters, followed by a note."""
    threads: bool = True
    """Run sync functions in a worker thread (default). ``False`` runs them on the
    event loop's thread: for simulations in virtual time, where waiting on a
    thread would let the mock clock jump past the timeout. A sync function then
    cannot be interrupted by the timeout, so only trusted, quick ones belong there."""

    def __post_init__(self) -> None:
        if not self.timeout > 0:
            raise UsageError(f"timeout must be a positive number of seconds, not {self.timeout}")
        if self.max_output_chars < 1:
            raise UsageError(f"max_output_chars must be at least 1, not {self.max_output_chars}")


async def run_call(
    spec: FunctionSpec,
    parsed: ParsedCall,
    ctx: ToolContext,
    limits: ToolLimits = ToolLimits(),  # noqa: B008 (frozen)
) -> ToolResult:
    """Run ``spec``'s function on ``parsed`` and describe what happened.

    An async function is awaited under ``anyio.fail_after(limits.timeout)``. A
    sync one runs in a worker thread under the same limit; when time runs out
    the thread is abandoned, not stopped (Python cannot stop a thread): it
    finishes in the background, its result and any exception are dropped, and
    the call reports a timeout at once.

    Never raises for a function's failure (see the module docstring).

    Raises:
        UsageError: ``parsed`` is a call of another function.
    """
    if parsed.function != spec.name:
        raise UsageError(f"a call of {parsed.function!r} cannot run as {spec.name!r}")
    scope: anyio.CancelScope | None = None
    try:
        with anyio.fail_after(limits.timeout) as scope:
            value = await _invoke(spec, parsed, ctx, threads=limits.threads)
        result = _to_result(value)
    except ToolError as exc:
        result = ToolResult(content=exc.message or f"{spec.name} failed.", status="error")
    except TimeoutError as exc:
        if scope is None or not scope.cancelled_caught:  # the function's own TimeoutError
            result = _crashed(exc)
        else:
            result = ToolResult(content=_timed_out(spec, limits.timeout), status="error")
    # A tool's bug is the model's problem to work around, not the agent's to die of.
    except Exception as exc:  # noqa: BLE001
        result = _crashed(exc)
    return truncate(result, limits.max_output_chars)


def on_loop(fn: Callable[P, R]) -> Callable[P, R]:
    """Mark a sync function as quick and free of I/O: :func:`run_call` calls it on
    the event loop's thread, never in a worker thread (the built-ins that only
    compute an effect). A thread would cost more than the call, and under a mock
    clock the wait for it would let virtual time run past the timeout."""
    _ON_LOOP.add(fn)
    return fn


def runs_on_loop(spec: FunctionSpec) -> bool:
    """Whether ``spec``'s function was marked with :func:`on_loop` (quick, no I/O)."""
    return spec.fn in _ON_LOOP


def truncate(result: ToolResult, max_chars: int) -> ToolResult:
    """``result`` with its content cut to ``max_chars`` characters and a note, if longer."""
    content = result.content
    if len(content) <= max_chars:
        return result
    note = f"\n… [output truncated: showed {max_chars} of {len(content)} characters]"
    return msgspec.structs.replace(result, content=content[:max_chars] + note)


async def _invoke(
    spec: FunctionSpec, parsed: ParsedCall, ctx: ToolContext, *, threads: bool
) -> object:
    if threads and not inspect.iscoroutinefunction(spec.fn) and spec.fn not in _ON_LOOP:
        # Boxed: trio refuses a thread's function that returns a coroutine, and a
        # sync wrapper around an async tool (a decorator) does just that.
        (value,) = await anyio.to_thread.run_sync(
            lambda: (spec.invoke(parsed, ctx),), abandon_on_cancel=True
        )
    else:
        value = spec.invoke(parsed, ctx)
    # An async function, or a sync wrapper that hands back a coroutine.
    if inspect.isawaitable(value):
        value = await value
    return value


def _to_result(value: object) -> ToolResult:
    if isinstance(value, ToolResult):
        return value
    if isinstance(value, str):
        return ToolResult(content=value)
    if value is None:
        return ToolResult(content="OK")
    try:
        return ToolResult(content=_json.encode(value).decode())
    except (TypeError, ValueError, msgspec.MsgspecError):
        return ToolResult(content=repr(value))


def _crashed(exc: Exception) -> ToolResult:
    try:
        detail = str(exc)
    except Exception:  # noqa: BLE001  (a broken __str__ is one more tool bug)
        detail = "(the error could not be shown)"
    content = f"{type(exc).__name__}: {detail}" if detail else type(exc).__name__
    return ToolResult(content=content, status="error")


def _timed_out(spec: FunctionSpec, timeout: float) -> str:
    return (
        f"{spec.name} timed out after {timeout:g} seconds and its result was discarded."
        " Try again with a smaller request, or do something else."
    )
