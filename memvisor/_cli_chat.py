"""``memvisor chat NAME``: talk to an agent, and look into its memory while it works.

```
 main thread: the REPL                               portal thread: trio, the agent
 ─────────────────────                               ──────────────────────────────
 input() ─► text ──── portal: session.send(text) ──► agent_session: log, runtime, LLM
            spinner until the TurnReport is back ◄── the turn; observe(event) prints each
                                                     function call, error and reply as logged
         ─► /memory /context /search /dump ─► read the log, print (no turn is running)
         ─► /pop /retry /attach ─► session.amend(event): the agent logs it, no turn
```

Reading lines is plain blocking ``input()`` on the main thread, and the agent runs
in a blocking portal's event loop: Ctrl-C is then an ordinary ``KeyboardInterrupt``
in the REPL. At the prompt it ends the chat; during a turn it stops the turn
(the session is left with an error, so the runtime cancels the agent at once
instead of letting it finish) and the REPL carries on with a new session. The
agent completes a turn cut short before it takes the next message.

``/pop``, ``/retry`` and ``/attach`` go through the agent's actor
(:class:`~memvisor.agent.Amend`): it is its log's only writer, and it folds
what it logs, so its state never goes stale.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

import anyio
import anyio.from_thread
import click
import msgspec

from ._cli_send import load_tools, model_option, tool_option
from ._cli_session import Session, agent_session, llm_settings, read_agent
from ._cli_support import Home, user_errors
from ._exceptions import MemvisorError
from ._names import check_name
from .events import (
    AssistantMessage,
    ContextCompacted,
    ContextRewound,
    ErrorEvent,
    Event,
    MemoryPressure,
    RecallQuery,
    SourceAttached,
    StepLimited,
    ToolCalled,
    ToolReturned,
    UserMessage,
)
from .llm._functions import FunctionSpec
from .memory import AgentState, ChatMessage, compile_context, format_recall_page
from .memory._usage import context_usage

if TYPE_CHECKING:
    from anyio.from_thread import BlockingPortal
    from rich.console import Console

__all__ = ["chat"]

_SEND = "send_message"
_ARG_CHARS = 60
_SEARCH_PAGE = 10


# --- what the REPL does next (tagged values) ------------------------------------------


class _Leave(msgspec.Struct, frozen=True):
    """End the chat."""


class _Reopen(msgspec.Struct, frozen=True):
    """Open a new session (the last one was cut short or broke)."""


_Outcome = _Leave | _Reopen


class _TurnCut(Exception):
    """Leaves the session at once when Ctrl-C stops a turn (no graceful drain)."""


# --- the screen ------------------------------------------------------------------------


class _View:
    """What the person sees. ``observe`` runs on the portal thread; rich's console locks."""

    def __init__(self, console: Console, name: str) -> None:
        self.console = console
        self.name = name
        self.replied = False

    def say(self, text: str, style: str | None = None) -> None:
        self.console.print(text, style=style, markup=False, highlight=False, emoji=False)

    def observe(self, event: Event) -> None:
        match event:
            case ToolCalled() if event.name != _SEND:
                self.say(f"  → {event.name}({_arguments(event.arguments)})", "dim")
            case ToolReturned() if event.status == "error":
                self.say(f"  ✗ {event.name} failed: {_first_line(event.content)}", "red")
            case AssistantMessage():
                self.replied = True
                to = f" → {event.to}" if event.to else ""
                self.say(f"{self.name}{to}: {event.text}", "bold")
            case ErrorEvent():
                self.say(f"  ! {event.kind}: {event.message}", "red")
            case ContextCompacted():
                self.say(f"  (context compacted: {event.evicted} messages summarized)", "dim")
            case MemoryPressure():
                self.say(f"  (memory pressure: {event.prompt_tokens:,} tokens)", "dim")
            case StepLimited():
                self.say(f"  (turn stopped after {event.steps} steps)", "dim")
            case _:
                pass

    @contextlib.contextmanager
    def thinking(self) -> Iterator[None]:
        if not self.console.is_terminal:
            yield
            return
        with self.console.status("thinking…", spinner="dots"):
            yield


def _arguments(raw: str) -> str:
    """A call's arguments as ``name="value", …``, each value cut short."""
    try:
        parsed: object = msgspec.json.decode(raw)
    except msgspec.DecodeError:
        return _cut(raw)
    if not isinstance(parsed, dict):
        return _cut(raw)
    shown = []
    for key, value in parsed.items():
        if key != "request_heartbeat":
            shown.append(f"{key}={_cut(msgspec.json.encode(value).decode())}")
    return ", ".join(shown)


def _cut(text: str) -> str:
    return text if len(text) <= _ARG_CHARS else text[: _ARG_CHARS - 1] + "…"


def _first_line(text: str) -> str:
    lines = text.strip().splitlines()
    return _cut(lines[0]) if lines else ""


# --- one session: the REPL proper -------------------------------------------------------


class _Repl:
    """Reads lines and runs turns and slash commands until one needs a new session."""

    def __init__(self, portal: BlockingPortal, session: Session, view: _View, home: Home) -> None:
        self.portal = portal
        self.home = home
        self.session = session
        self.view = view
        self.name = session.name

    def run(self) -> _Outcome:
        prompt = "you> " if sys.stdin.isatty() else ""  # no prompts in a transcript
        while True:
            try:
                line = self.view.console.input(prompt).strip()
            except EOFError:
                if prompt:
                    self.view.say("")  # end the prompt's line
                return _Leave()
            except KeyboardInterrupt:
                self.view.say("")
                return _Leave()
            if not line:
                continue
            outcome = self.command(line) if line.startswith("/") else self.turn(line)
            if outcome is not None:
                return outcome

    def turn(self, text: str) -> _Outcome | None:
        self.view.replied = False
        future = self.portal.start_task_soon(self.session.send, text)
        try:
            with self.view.thinking():
                report = future.result()
        except KeyboardInterrupt:
            future.cancel()
            self.view.say("  (interrupted: the agent finishes this turn before your next message)")
            raise _TurnCut from None
        except MemvisorError as exc:
            self.view.say(f"  ! the turn failed: {exc}", "red")
            return _Reopen()
        failed = any(isinstance(e, ErrorEvent) for e in report.events)
        if not self.view.replied and not failed:
            self.view.say(f"  ({self.name} did not reply)", "dim")
        return None

    def command(self, line: str) -> _Outcome | None:
        word, _, arg = line.partition(" ")
        entry = _COMMANDS.get(word.lower())
        if entry is None:
            self.view.say(f"unknown command {word}: /help lists the commands")
            return None
        handler, _, _ = entry
        return handler(self, arg.strip())

    def state(self) -> tuple[list[Event], AgentState]:
        return self.portal.call(read_agent, self.session.log, self.name)

    # --- the slash commands -------------------------------------------------------------

    def help(self, arg: str) -> None:
        for word, (_, usage, text) in _COMMANDS.items():
            self.view.say(f"  {word + usage:<18} {text}")
        self.view.say("  anything else is sent to the agent; Ctrl-C stops a turn")

    def leave(self, arg: str) -> _Outcome:
        return _Leave()

    def memory(self, arg: str) -> None:
        _, state = self.state()
        for block in state.memory.blocks:
            rules = " read-only" if block.read_only else ""
            self.view.say(f"<{block.label}> {len(block.value)}/{block.limit} chars{rules}", "bold")
            self.view.say(block.value or "(empty)")

    def context(self, arg: str) -> None:
        _, state = self.state()
        usage = context_usage(state, schema_tokens=self.session.schema_tokens)
        reported = usage.last_prompt_tokens
        self.view.say(
            f"~{usage.total:,} of {usage.context_window:,} tokens ({usage.fraction:.0%})"
            + (f"; last reported prompt: {reported:,}" if reported is not None else ""),
            "bold",
        )
        for part in usage.parts:
            label = part.label if part.messages is None else f"{part.label} ({part.messages})"
            self.view.say(f"  {label:<40} {part.tokens:>8,}")
        self.view.say(f"  {'total':<40} {usage.total:>8,}")

    def search(self, arg: str) -> None:
        if not arg:
            self.view.say("usage: /search WORDS")
            return
        query = RecallQuery(text=arg, page_size=_SEARCH_PAGE)
        page = self.portal.call(self.session.log.search_recall, self.name, query)
        self.view.say(format_recall_page(page))

    def dump(self, arg: str) -> None:
        count = _count(arg, default=10)
        if count is None:
            self.view.say("usage: /dump [N] (a positive number of messages)")
            return
        _, state = self.state()
        messages = compile_context(state, archival_count=state.archival_count).messages
        for message in messages[-count:]:
            self.view.say(_header(message), "bold")
            if message.content:
                self.view.say(message.content)
            for call in message.tool_calls:
                self.view.say(f"  → {call.name}({call.arguments})  [{call.id}]")

    def pop(self, arg: str) -> None:
        count = _count(arg, default=1)
        if count is None:
            self.view.say("usage: /pop [N] (a positive number of messages)")
            return
        _, state = self.state()
        if not state.queue:
            self.view.say("the context window holds no messages")
            return
        count = min(count, len(state.queue))
        self.rewind(state.queue[-count].seq)
        self.view.say(
            "removed 1 message from the context window (it stays in recall)"
            if count == 1
            else f"removed {count} messages from the context window (they stay in recall)",
            "dim",
        )

    def retry(self, arg: str) -> _Outcome | None:
        events, _ = self.state()
        last = next((e for e in reversed(events) if isinstance(e, UserMessage)), None)
        if last is None:
            self.view.say("no message to retry")
            return None
        self.rewind(last.seq)
        self.view.say(f"retrying: {last.text}", "dim")
        return self.turn(last.text)

    def attach(self, arg: str) -> None:
        if not arg:
            self.view.say("usage: /attach SOURCE (see `memvisor sources`)")
            return
        _, state = self.state()
        if arg in state.sources:
            self.view.say(f"{arg!r} was already attached to {self.name!r}")
            return
        from ._cli_memory import source_passages

        passages = None
        try:
            passages = self.portal.call(source_passages, self.home, arg)
        except* (click.ClickException, MemvisorError) as group:
            self.view.say(f"cannot attach: {_first(group)}")
        if passages is None:
            return
        source = SourceAttached(agent=self.name, seq=0, at=0.0, source=arg, passages=passages)
        self.portal.call(self.session.amend, source)
        self.view.say(f"attached {arg!r} ({passages} passages) to {self.name!r}")

    def rewind(self, from_seq: int) -> None:
        rewound = ContextRewound(agent=self.name, seq=0, at=0.0, from_seq=from_seq)
        self.portal.call(self.session.amend, rewound)


_Handler = Callable[[_Repl, str], "_Outcome | None"]

_COMMANDS: dict[str, tuple[_Handler, str, str]] = {
    "/memory": (_Repl.memory, "", "core memory blocks"),
    "/context": (_Repl.context, "", "what fills the context window, in tokens"),
    "/search": (_Repl.search, " WORDS", "search recall (every message, ever)"),
    "/dump": (_Repl.dump, " [N]", "the last N messages as the model sees them (10)"),
    "/pop": (_Repl.pop, " [N]", "take the last N messages out of the context (1)"),
    "/retry": (_Repl.retry, "", "send your last message again, its answer taken out"),
    "/attach": (_Repl.attach, " SOURCE", "make a data source searchable (`memvisor load`)"),
    "/help": (_Repl.help, "", "this list"),
    "/exit": (_Repl.leave, "", "leave (or Ctrl-D)"),
}
"""Each command: its handler, its arguments, what it does."""


def _count(arg: str, *, default: int) -> int | None:
    if not arg:
        return default
    try:
        value = int(arg)
    except ValueError:
        return None
    return value if value > 0 else None


def _header(message: ChatMessage) -> str:
    if message.role == "tool":
        return f"[tool {message.name} {message.tool_call_id}]"
    return f"[{message.role}]"


# --- sessions, and what happens between them -----------------------------------------


class _Chat(msgspec.Struct, frozen=True, kw_only=True):
    home: Home
    name: str
    model: str | None
    tools: list[FunctionSpec]


def _converse(portal: BlockingPortal, chat: _Chat, view: _View) -> None:
    greet = True
    while not isinstance(_session(portal, chat, view, greet=greet), _Leave):
        greet = False  # a turn was cut short or broke: a new session, no greeting


def _session(portal: BlockingPortal, chat: _Chat, view: _View, *, greet: bool) -> _Outcome:
    session_cm = agent_session(
        chat.home, chat.name, model=chat.model, observe=view.observe, tools=chat.tools
    )
    try:
        with portal.wrap_async_context_manager(session_cm) as session:
            repl = _Repl(portal, session, view, chat.home)
            if greet:
                _, state = repl.state()
                model = llm_settings(chat.model, state.model).model
                view.say(
                    f"chatting with {chat.name} (model {model}): /help lists the commands,"
                    " /exit or Ctrl-D leaves",
                    "dim",
                )
            return repl.run()
    except* _TurnCut:
        pass  # the session was left at once; the turn is finished in the next one
    return _Reopen()


def _first(error: BaseException) -> BaseException:
    """The first error that is not a group."""
    while isinstance(error, BaseExceptionGroup):
        error = error.exceptions[0]
    return error


# --- the command ------------------------------------------------------------------------


@click.command()
@click.argument("name")
@model_option
@tool_option
@click.pass_obj
def chat(home: Home, *, name: str, model: str | None, tools: tuple[str, ...]) -> None:
    """Talk with agent NAME; slash commands look into its memory (/help).

    Each reply is shown as NAME: text, each function call the agent makes as a
    dim line while it works. Needs an OpenAI-compatible server, like `send`.
    """
    from rich.console import Console

    console = Console(highlight=False, soft_wrap=True, emoji=False)
    view = _View(console, name)
    with user_errors():
        check_name(name)
        specs = load_tools(tools)
        try:
            with anyio.from_thread.start_blocking_portal("trio") as portal:
                _converse(portal, _Chat(home=home, name=name, model=model, tools=specs), view)
        except* KeyboardInterrupt:
            view.say("")
            sys.exit(130)
