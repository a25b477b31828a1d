"""``memvisor send NAME MESSAGE``: one turn of an agent, its visible replies on stdout."""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Callable

import anyio
import click
import msgspec

from ._cli_session import agent_session
from ._cli_support import Home, user_errors
from ._exceptions import UsageError
from .agent import TurnReport, user_tool
from .events import AssistantMessage, ErrorEvent, Event
from .llm._functions import FunctionSpec

__all__ = ["load_tools", "send"]

_json = msgspec.json.Encoder()


class _Reply(msgspec.Struct, frozen=True, kw_only=True):
    agent: str
    seq: int
    at: float
    text: str


def load_tools(specs: tuple[str, ...]) -> list[FunctionSpec]:
    """User tools named ``module:function`` (the current directory is importable).

    Raises:
        UsageError: a spec is malformed, or its module or function cannot be found.
    """
    if specs and os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    tools = []
    for spec in specs:
        module_name, _, attr = spec.partition(":")
        if not module_name or not attr:
            raise UsageError(f"--tool {spec!r}: write it as MODULE:FUNCTION, e.g. mytools:lookup")
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            raise UsageError(f"--tool {spec!r}: cannot import {module_name}: {exc}") from exc
        fn: object = getattr(module, attr, None)
        if not callable(fn):
            raise UsageError(f"--tool {spec!r}: {module_name} has no function {attr}")
        tools.append(user_tool(_as_callable(fn)))
    return tools


def _as_callable(fn: object) -> Callable[..., object]:  # type: ignore[explicit-any]
    assert callable(fn)
    return fn


tool_option = click.option(
    "--tool",
    "tools",
    multiple=True,
    metavar="MODULE:FUNCTION",
    help="A Python function the agent may call (repeatable); its signature and"
    " docstring become the schema.",
)
model_option = click.option(
    "--model", help="Model to use (default: the agent's, else MEMVISOR_MODEL)."
)


@click.command()
@click.argument("name")
@click.argument("message")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per reply.")
@model_option
@tool_option
@click.pass_obj
def send(
    home: Home, name: str, message: str, as_json: bool, model: str | None, tools: tuple[str, ...]
) -> None:
    """Send MESSAGE to agent NAME, run its turn, and print each visible reply.

    The agent's thoughts and function calls are in its log (`memvisor log NAME`).
    Needs an OpenAI-compatible server: OPENAI_BASE_URL (and OPENAI_API_KEY if it
    asks for one), and a model (--model or MEMVISOR_MODEL).
    """

    def show(event: Event) -> None:  # each reply as soon as it is logged
        if isinstance(event, AssistantMessage) and event.to is None:
            if as_json:
                reply = _Reply(agent=event.agent, seq=event.seq, at=event.at, text=event.text)
                click.echo(_json.encode(reply).decode())
            else:
                click.echo(event.text)

    with user_errors():
        specs = load_tools(tools)
        report = anyio.run(_send, home, name, message, model, specs, show, backend="trio")
    failures = [e for e in report.events if isinstance(e, ErrorEvent)]
    if failures and not report.replies:
        click.echo(f"memvisor: error: the turn failed: {failures[-1].message}", err=True)
        sys.exit(1)


async def _send(
    home: Home,
    name: str,
    message: str,
    model: str | None,
    tools: list[FunctionSpec],
    show: Callable[[Event], None],
) -> TurnReport:
    async with agent_session(home, name, model=model, tools=tools, observe=show) as session:
        return await session.send(message)
