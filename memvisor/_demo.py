"""``memvisor demo``: a scripted model pages its own memory, through the real machinery.

No LLM can be bundled, so a small Python policy plays the model. Everything
else is what ``memvisor send`` runs: the runtime, the agent and processor
actors, the SQLite log in the home directory, compaction and recall search.

```
turn 1    the user tells a fact (a locker code)     the model saves her name in core memory
turns 2…  talk about a trip fills the context       memory-pressure alert, then compaction:
                                                     old messages -> a summary without the code
last      "what was my locker code?"                the code is not in the prompt any more:
                                                     conversation_search finds it in recall
```

The policy is honest: it answers from what its prompt holds, and searches only
when the code is not there. The demo prints the conversation and what happened
to memory, and checks at the end that the code was recovered by a search.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable

import click
import msgspec

from ._cli_session import recording_prompts
from ._cli_support import Home
from .actors import open_runtime
from .agent import AgentConfig, Deliver, new_agent, spawn_agent
from .events import (
    AgentCreated,
    AssistantMessage,
    ContextCompacted,
    CoreMemoryEdited,
    Event,
    LLMResponded,
    MemoryPressure,
    TokenUsage,
    ToolCalled,
    ToolReturned,
    UserMessage,
    open_sqlite_log,
)
from .llm import LLMRequest, LLMResponse, ScriptedLLM, reply_with_call, reply_with_text
from .memory._tokens import estimate_messages

__all__ = ["DemoReport", "run_demo"]

CONTEXT_WINDOW = 3072
_CODE = "4-7-1-9"
_FACT = f"Hi! I'm Priya. Before I forget: my gym locker code is {_CODE}."
_QUESTION = "I'm at the gym and my mind is blank. What was my locker code again?"
_TRIP = [
    "I'm planning a week in Lisbon in May. I want to see the Alfama district, ride tram 28,"
    " and find the best pastel de nata in town. Any thoughts on how to split the days?",
    "Day trips matter too: Sintra for the palaces, maybe Cascais for the beach. I hear Sintra"
    " gets crowded, so I would go early on a weekday and take the train from Rossio station.",
    "Food list so far: grilled sardines, bifana sandwiches, ginjinha in a chocolate cup, and a"
    " proper seafood dinner at a place locals like. I also want to try a fado evening.",
    "For the flat I'm choosing between Baixa, which is central and flat, and Principe Real,"
    " which is quieter and has lovely gardens but means climbing hills every single day.",
    "Budget-wise I'd like to keep it under 1,500 euros including flights. Trains and trams"
    " are cheap; the Lisboa card might pay for itself if I visit enough museums.",
    "Museums: the tile museum, the Gulbenkian, and the MAAT by the river. I'd skip the"
    " big lines at Belem tower and just walk along the water at sunset instead.",
    "One more idea: a day in Evora, with its Roman temple and the chapel of bones. It is"
    " about an hour and a half by train, so it could work as a quiet final day.",
    "My friend Tomas says I must try a bica at a kiosk in a garden square and watch the"
    " city wake up. He also says to bring good walking shoes: those cobblestones are slippery.",
]


class DemoReport(msgspec.Struct, frozen=True, kw_only=True):
    """What the demo did."""

    agent: str
    events: int
    compactions: int
    recovered: bool
    """The last answer held the fact, found by a search of recall."""


# --- the scripted model --------------------------------------------------------------------


def _last_user_text(request: LLMRequest) -> str:
    for message in reversed(request.messages):
        if message.role == "user" and message.content and '"user_message"' in message.content:
            return message.content
    return ""


def _usage(request: LLMRequest) -> TokenUsage:
    # What a server would report: the prompt's tokens (the tool schemas included).
    tools = sum(len(t.description) + len(t.parameters) for t in request.tools) // 4
    prompt = estimate_messages(request.messages) + tools
    return TokenUsage(prompt_tokens=prompt, completion_tokens=30, total_tokens=prompt + 30)


def _policy(request: LLMRequest) -> LLMResponse:
    """Plays the model: reads its prompt, answers as a careful MemGPT agent would."""
    if not request.tools:  # the summarizer: keeps the gist, not every detail
        return reply_with_text(
            "Priya introduced herself and is planning a week in Lisbon in May: neighbourhoods,"
            " day trips, food, museums and a budget under 1,500 euros."
        )
    last = request.messages[-1]
    usage = _usage(request)
    if last.role == "tool":  # a function returned: finish the thought
        content = last.content or ""
        found = _CODE in content
        text = (
            f"Your locker code is {_CODE}: you told me when we first met." if found else "Noted."
        )
        return _say(text, usage)
    if "memory pressure" in (last.content or "").lower():
        thought = "My context is filling up; the trip details are safe in recall."
        return reply_with_text(thought, usage=usage)
    return _answer_user(request, _last_user_text(request), usage)


def _answer_user(request: LLMRequest, text: str, usage: TokenUsage) -> LLMResponse:
    if "locker code is" in text:
        args = {"name": "human", "content": "Name: Priya.", "request_heartbeat": True}
        thought = "A new person: save her name."
        return reply_with_call(
            "core_memory_append", json.dumps(args), content=thought, usage=usage
        )
    if "locker code again" not in text:
        return _say("Sounds lovely. " + _reply_for(text), usage)
    prompt = " ".join(m.content or "" for m in request.messages[:-1])
    if _CODE in prompt:
        return _say(f"It's {_CODE}.", usage)
    args = {"query": "locker code", "page": 0, "request_heartbeat": True}
    thought = "The code is not in my context any more: search recall."
    return reply_with_call("conversation_search", json.dumps(args), content=thought, usage=usage)


def _reply_for(text: str) -> str:
    for word, reply in (
        ("Sintra", "Go early on a weekday, as you say."),
        ("Food", "The seafood dinner could be your last night."),
        ("Budget", "The Lisboa card is worth it with three museums."),
        ("Evora", "A calm last day sounds right."),
    ):
        if word in text:
            return reply
    return "Tell me more."


def _say(text: str, usage: TokenUsage) -> LLMResponse:
    return reply_with_call("send_message", json.dumps({"message": text}), usage=usage)


# --- the run -------------------------------------------------------------------------------


def run_demo(home: Home, *, echo: Callable[[str], None] = click.echo) -> DemoReport:
    """Play the demo conversation with a new agent in ``home`` and print it."""
    import trio

    return trio.run(_run, home, echo)


async def _run(home: Home, echo: Callable[[str], None]) -> DemoReport:
    home.path.mkdir(parents=True, exist_ok=True)
    async with open_sqlite_log(home.log) as log:
        existing = set(await log.agents())
        name = next(n for n in _names() if n not in existing)
        await log.append([_created(name, home)])
        llm = ScriptedLLM(_policy)

        def observe(event: Event) -> None:
            if isinstance(event, AssistantMessage) and event.to is None:
                echo(click.style(f"{name}: ", bold=True, fg="cyan") + event.text)
                answers.append(event.text)
            line = _memory_line(event)
            if line:
                echo(click.style(f"   {line}", dim=True))

        answers: list[str] = []
        async with recording_prompts(home) as prompts, open_runtime() as runtime:
            agent = spawn_agent(
                runtime,
                name,
                log=log,
                llm=llm,
                config=AgentConfig(),
                observe=observe,
                prompts=prompts,
            )
            for text in [_FACT, *_TRIP, _QUESTION]:
                echo(click.style("Priya: ", bold=True) + text)
                await agent.ask(
                    Deliver(event=UserMessage(agent=name, seq=0, at=0.0, text=text)),
                    timeout=None,
                )
        events = await log.read(name)
    searched = any(isinstance(e, ToolCalled) and e.name == "conversation_search" for e in events)
    return DemoReport(
        agent=name,
        events=len(events),
        compactions=sum(isinstance(e, ContextCompacted) for e in events),
        recovered=searched and bool(answers) and _CODE in answers[-1],
    )


def _names() -> list[str]:
    return ["demo", *(f"demo-{i}" for i in range(2, 10_000))]


def _created(name: str, home: Home) -> AgentCreated:
    return new_agent(
        name, at=time.time(), model="scripted-demo", context_window=CONTEXT_WINDOW, home=home.path
    )


def _memory_line(event: Event) -> str:
    line = ""
    match event:
        case CoreMemoryEdited():
            line = f"[core memory] {event.block!r} now reads: {event.value!r}"
        case MemoryPressure():
            share = event.prompt_tokens / event.context_window
            line = (
                f"[memory pressure] the prompt fills {share:.0%} of the {event.context_window}"
                "-token window: the agent is told to save what matters"
            )
        case ContextCompacted():
            line = (
                f"[compaction] {event.evicted} old messages left the context window for a"
                f" summary ({event.tokens_before} -> {event.tokens_after} tokens); they stay"
                " in recall"
            )
        case ToolCalled(name=name) if name.startswith(("conversation_", "archival_")):
            line = f"[{name}] {_short(event.arguments)}"
        case ToolReturned(name=name) if name.startswith("conversation_"):
            line = "[recall] " + " | ".join(event.content.splitlines()[:3])
        case LLMResponded(content=content) if content:
            line = f"(thinks) {content}"
        case _:
            pass
    return line


def _short(arguments: str) -> str:
    return re.sub(r"\s+", " ", arguments)[:120]
