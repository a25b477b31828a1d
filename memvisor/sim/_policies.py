"""Scripted policies: Python plays the model, so populations run without an LLM.

```
policy factory(PolicyContext) ──► handler(LLMRequest) -> LLMResponse     one per agent
                                   (wrapped in ScriptedLLM: the real agent, log and memory)

built-in     what it does
echo         answers every input with send_message("heard: …")
rumour       on hearing news it did not know: keeps it in core memory, tells
             `fanout` random agents (send_message_to_agent); known news: nothing
negotiator   haggles with `peer` (role buyer or seller, `limit`, `opening`):
             offers, counter-offers halfway, agrees when the offer is within its limit
support      answers each ticket (an external event) by send_message; notes the
             customer's name in core memory the first time it sees it
```

A policy reads what an agent sees: the last message of its prompt (an input
rendered as JSON by the memory layer, or a function's result). Its randomness
comes from ``PolicyContext.rng``, seeded from the scenario's seed and the
agent's name, so the same seed gives the same decisions.
"""

# No ``from __future__ import annotations``: these Structs are re-exported under
# ``memvisor.sim``, where string annotations could not be resolved.

import hashlib
import importlib
import json
import random
import re
from collections.abc import Callable, Mapping

import msgspec

from .._exceptions import ConfigError
from ..events import ToolCall
from ..llm import LLMRequest, LLMResponse, reply_with_text
from ..llm._scripted import Handler

__all__ = ["POLICIES", "Policy", "PolicyContext", "policy_named", "with_summaries"]


class PolicyContext(msgspec.Struct, frozen=True, kw_only=True):
    """What a policy knows of its agent."""

    agent: str
    params: Mapping[str, str | int | float | bool]
    peers: tuple[str, ...]
    """Every other agent of the simulation."""
    seed: int

    @property
    def rng(self) -> random.Random:
        """A generator seeded by the scenario's seed and the agent's name."""
        digest = hashlib.sha256(f"{self.seed}:{self.agent}".encode()).digest()
        return random.Random(int.from_bytes(digest[:8], "big"))


Policy = Callable[[PolicyContext], Handler]
"""Makes one agent's handler."""


class _Input(msgspec.Struct, kw_only=True):
    """The fields of a rendered input that policies read (see memory/_messages.py)."""

    type: str = ""
    message: str = ""
    payload: object = None
    sender: str = msgspec.field(default="", name="from")


_decoder = msgspec.json.Decoder(_Input)
_OFFER_RE = re.compile(r"offer (\d+)")


def _last_input(request: LLMRequest) -> _Input | None:
    """The input the agent has not acted on yet: the last user-role message, looking
    past system alerts (a memory-pressure alert must not hide a ticket); ``None``
    when the agent has spoken or called since."""
    for message in reversed(request.messages):
        if message.role != "user":
            return None
        if not message.content or not message.content.startswith("{"):
            return None
        try:
            seen = _decoder.decode(message.content)
        except msgspec.DecodeError:
            return None
        if seen.type != "system_alert":
            return seen
    return None


def with_summaries(handler: Handler) -> Handler:
    """``handler``, and when asked for a summary (a request without tools), a plain
    digest of what it is given: scripted agents compact like real ones."""

    def handle(request: LLMRequest) -> LLMResponse:
        if request.tools:
            return handler(request)
        given = request.messages[-1].content or ""
        lines = [line for line in given.splitlines() if line.strip()][:12]
        return reply_with_text("Earlier: " + " / ".join(lines)[:1500])

    return handle


def _calls(*calls: tuple[str, Mapping[str, object]], tag: str) -> LLMResponse:
    return LLMResponse(
        tool_calls=tuple(
            ToolCall(id=f"{tag}-{i}", name=name, arguments=json.dumps(arguments))
            for i, (name, arguments) in enumerate(calls)
        ),
        finish_reason="tool_calls",
    )


def echo(context: PolicyContext) -> Handler:
    """Answers every input with ``send_message("heard: …")``."""
    count = 0

    def handle(request: LLMRequest) -> LLMResponse:
        nonlocal count
        seen = _last_input(request)
        if seen is None:
            return reply_with_text("Nothing to answer.")
        count += 1
        said = seen.message or json.dumps(seen.payload)
        return _calls(("send_message", {"message": f"heard: {said}"}), tag=f"echo{count}")

    return handle


def rumour(context: PolicyContext) -> Handler:
    """Passes on news it had not heard to ``fanout`` peers (default 3): random ones,
    or, with ``root`` naming the agent that hears it first, its children in a
    gossip tree over every agent (an order drawn from the scenario's seed): the
    news then reaches everyone, each told once."""
    fanout = int(context.params.get("fanout", 3))
    rng = context.rng
    root = context.params.get("root")
    children = None if root is None else _tree_children(context, str(root), fanout)
    known: set[str] = set()
    count = 0

    def handle(request: LLMRequest) -> LLMResponse:
        nonlocal count
        seen = _last_input(request)
        if seen is None or not seen.message:
            return reply_with_text("Nothing new.")
        news = seen.message.removeprefix("Did you hear? ")
        if news in known:
            return reply_with_text("I knew that already.")
        known.add(news)
        count += 1
        if children is not None:
            chosen = children
        else:
            peers = [p for p in context.peers if p != seen.sender]
            chosen = rng.sample(peers, min(fanout, len(peers)))
        note = ("core_memory_append", {"name": "human", "content": f"News: {news}"})
        tells = [
            ("send_message_to_agent", {"agent": peer, "message": f"Did you hear? {news}"})
            for peer in chosen
        ]
        return _calls(note, *tells, tag=f"rumour{count}")

    return handle


def _tree_children(context: PolicyContext, root: str, fanout: int) -> list[str]:
    others = sorted(n for n in (*context.peers, context.agent) if n != root)
    random.Random(context.seed).shuffle(others)
    order = [root, *others]  # the same order for every agent: the same tree
    me = order.index(context.agent)
    first = fanout * me + 1
    return order[first : first + fanout]


def negotiator(context: PolicyContext) -> Handler:
    """Haggles with ``peer``: a buyer raises, a seller lowers, halfway each round."""
    role = str(context.params.get("role", "buyer"))
    peer = str(context.params["peer"]) if "peer" in context.params else ""
    limit = float(context.params.get("limit", 100))
    position = float(context.params.get("opening", limit / 2 if role == "buyer" else limit * 2))
    count = 0

    def handle(request: LLMRequest) -> LLMResponse:
        nonlocal position, count
        seen = _last_input(request)
        if seen is None or not peer:
            return reply_with_text("Waiting for the other side.")
        count += 1
        if "deal at" in seen.message:
            return _calls(
                ("send_message", {"message": f"We agreed with {peer}: {seen.message}."}),
                tag=f"neg{count}",
            )
        match = _OFFER_RE.search(seen.message)
        if match is not None:
            offer = float(match.group(1))
            acceptable = offer <= limit if role == "buyer" else offer >= limit
            if acceptable:
                deal = ("send_message_to_agent", {"agent": peer, "message": f"deal at {offer:g}"})
                told = ("send_message", {"message": f"Deal with {peer} at {offer:g}."})
                return _calls(deal, told, tag=f"neg{count}")
            position = (position + offer) / 2
        text = f"offer {round(position)}"
        return _calls(
            ("send_message_to_agent", {"agent": peer, "message": text}), tag=f"neg{count}"
        )

    return handle


def support(context: PolicyContext) -> Handler:
    """Answers tickets (external events); notes each new customer in core memory."""
    customers: set[str] = set()
    count = 0

    def handle(request: LLMRequest) -> LLMResponse:
        nonlocal count
        seen = _last_input(request)
        if seen is None or seen.type != "external_event":
            return reply_with_text("No ticket to answer.")
        count += 1
        payload = seen.payload if isinstance(seen.payload, dict) else {}
        customer = str(payload.get("customer", "a customer"))
        subject = str(payload.get("subject", seen.message or "your request"))
        answer = ("send_message", {"message": f"Dear {customer}, about {subject}: on it."})
        if customer in customers:
            return _calls(answer, tag=f"sup{count}")
        customers.add(customer)
        note = ("core_memory_append", {"name": "human", "content": f"Customer: {customer}."})
        return _calls(note, answer, tag=f"sup{count}")

    return handle


POLICIES: dict[str, Policy] = {
    "echo": echo,
    "rumour": rumour,
    "negotiator": negotiator,
    "support": support,
}
"""The built-in policies by name."""


def policy_named(name: str) -> Policy:
    """A built-in policy, or ``module:function`` naming a factory of your own.

    Raises:
        ConfigError: no such policy.
    """
    if name in POLICIES:
        return POLICIES[name]
    module_name, _, attr = name.partition(":")
    if not attr:
        raise ConfigError(
            f"unknown policy {name!r}: use one of {', '.join(POLICIES)} or MODULE:FUNCTION"
        )
    try:
        factory: object = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        raise ConfigError(f"cannot load policy {name!r}: {exc}") from None
    if not callable(factory):
        raise ConfigError(f"policy {name!r} is not callable")
    return _as_policy(factory)


def _as_policy(factory: Callable[..., object]) -> Policy:  # type: ignore[explicit-any]
    def make(context: PolicyContext) -> Handler:
        handler = factory(context)
        if not callable(handler):
            raise ConfigError(f"policy factory {factory!r} did not return a handler")
        return handler

    return make
