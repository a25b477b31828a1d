"""Running a scenario in virtual time, and what it produced.

```
run_scenario(scenario, out)
  trio.run(…, clock=MockClock(autojump_threshold=0))   a week passes in seconds
    OUT/events.sqlite3          every agent's log (SQLite on the loop's thread, so no
                                virtual time passes while it writes)
    runtime(clock_start = scenario.start)
      agents: the real agent actors; scripted ones play a policy, others a real model
      inputs: runtime timers deliver each message or event at its virtual time
    sleep(duration) ─► leave the runtime (mailboxes drain) ─► summary from the log
```

The same scenario and seed give the same logs: policies draw from generators
seeded by the scenario's seed and the agent's name, inputs are delivered at
fixed virtual times, and messages between agents take a delay fixed by their
sender, recipient and seq (see ``messaging_delay``), so two never arrive at the
same instant in an order the scheduler would choose.
"""

# No ``from __future__ import annotations``: these Structs are re-exported under
# ``memvisor.sim``, where string annotations could not be resolved.

import time
from collections.abc import Callable
from pathlib import Path

import msgspec

from .._exceptions import ConfigError
from ..actors import ActorRef, Runtime, open_runtime
from ..agent import (
    AgentConfig,
    AgentDirectory,
    AgentRequest,
    Deliver,
    Inbound,
    ToolLimits,
    TurnReport,
    new_agent,
    spawn_agent,
)
from ..events import (
    AgentCreated,
    AgentMessage,
    ExternalEvent,
    LLMResponded,
    UserMessage,
    open_sqlite_log,
)
from ..llm import LLMClient, ScriptedLLM
from ._policies import PolicyContext, policy_named, with_summaries
from ._scenario import AgentGroup, Input, Scenario

__all__ = ["SimulationSummary", "run_scenario"]

LOG_NAME = "events.sqlite3"


class Spread(msgspec.Struct, frozen=True, kw_only=True):
    """How a count is spread over the agents."""

    min: int
    mean: float
    max: int


class SimulationSummary(msgspec.Struct, frozen=True, kw_only=True):
    """What a run produced (``summary.json`` beside the log)."""

    scenario: str
    seed: int
    agents: int
    virtual_seconds: float
    wall_seconds: float
    events: int
    events_per_agent: Spread
    llm_calls: int
    tokens: int
    messages_exchanged: int
    """``agent_message`` events: messages agents received from each other."""
    steps_per_s: float
    """LLM steps (all agents) per second of wall time."""
    log: str


def run_scenario(
    scenario: Scenario,
    out: Path,
    *,
    llm: Callable[[AgentGroup], LLMClient] | None = None,
    progress: Callable[[str], None] | None = None,
) -> SimulationSummary:
    """Run ``scenario`` and write its logs and ``summary.json`` under ``out``.

    Args:
        scenario: What to simulate.
        out: A directory that holds no earlier run (created if missing).
        llm: Makes the client of agents that name a model (default: refuse them,
            a simulation with real models needs one passed in).
        progress: Told what is happening, now and then.

    Raises:
        ConfigError: ``out`` holds an earlier run, or a policy cannot be loaded.
    """
    import trio
    import trio.testing

    out.mkdir(parents=True, exist_ok=True)
    if (out / LOG_NAME).exists():
        raise ConfigError(f"{out} already holds a run ({LOG_NAME}): choose another --out")
    started = time.perf_counter()
    trio.run(
        _simulate,
        scenario,
        out / LOG_NAME,
        llm,
        progress or (lambda _: None),
        clock=trio.testing.MockClock(autojump_threshold=0),
    )
    wall = time.perf_counter() - started
    summary = trio.run(_summarize, scenario, out / LOG_NAME, wall)
    (out / "summary.json").write_bytes(msgspec.json.format(msgspec.json.encode(summary)))
    return summary


async def _simulate(
    scenario: Scenario,
    path: Path,
    llm: Callable[[AgentGroup], LLMClient] | None,
    progress: Callable[[str], None],
) -> None:
    import trio

    names = scenario.all_names()
    async with open_sqlite_log(path, durability="normal", threads=False) as log:
        for group in scenario.agents:
            for name in group.names:
                await log.append([_created(group, name, scenario)])
        progress(f"{len(names)} agents created; simulating {scenario.duration} of virtual time")
        async with open_runtime(clock_start=scenario.epoch, mailbox_size=256) as runtime:
            directory = AgentDirectory(runtime)
            refs = {}
            for group in scenario.agents:
                for name in group.names:
                    directory.register(name, group.tags)
                    refs[name] = spawn_agent(
                        runtime,
                        name,
                        log=log,
                        llm=_client(group, name, names, scenario, llm),
                        config=AgentConfig(
                            model=group.model or "scripted",
                            tools=ToolLimits(threads=False),
                        ),
                        directory=directory,
                    )
            for item in scenario.inputs:
                _schedule(runtime, refs[item.agent], item, scenario)
            await trio.sleep(scenario.seconds)
            progress("virtual time is up; letting the agents finish what they started")


def _created(group: AgentGroup, name: str, scenario: Scenario) -> AgentCreated:
    return new_agent(
        name,
        at=scenario.epoch,
        model=group.model or f"policy:{group.policy}",
        persona=group.persona,
        human=group.human,
        context_window=group.context_window,
        tags=group.tags,
    )


def _client(
    group: AgentGroup,
    name: str,
    names: list[str],
    scenario: Scenario,
    llm: Callable[[AgentGroup], LLMClient] | None,
) -> LLMClient:
    if group.policy is None:
        if llm is None:
            raise ConfigError(
                f"agent group {group.name!r} names a model: simulations run scripted"
                " policies here (give it a policy)"
            )
        return llm(group)
    context = PolicyContext(
        agent=name,
        params=group.params,
        peers=tuple(n for n in names if n != name),
        seed=scenario.seed,
    )
    return ScriptedLLM(with_summaries(policy_named(group.policy)(context)), record=False)


def _schedule(
    runtime: Runtime, ref: ActorRef[AgentRequest, TurnReport], item: Input, scenario: Scenario
) -> None:
    event: Inbound
    if item.message is not None:
        event = UserMessage(agent="", seq=0, at=0.0, text=item.message, name=item.name)
    else:
        assert item.event is not None
        event = ExternalEvent(
            agent="",
            seq=0,
            at=0.0,
            source=item.event.source,
            text=item.event.text,
            payload=item.event.payload,
        )
    message = Deliver(event=event)
    interval = item.interval
    if interval is None:
        runtime.call_at(scenario.epoch + item.offset, ref, message)
    else:
        first = scenario.epoch + item.offset - runtime.clock.now()
        runtime.call_every(interval, ref, message, first=first)


async def _summarize(scenario: Scenario, path: Path, wall: float) -> SimulationSummary:
    counts: list[int] = []
    llm_calls = tokens = exchanged = 0
    async with open_sqlite_log(path) as log:
        for name in scenario.all_names():
            events = await log.read(name)
            counts.append(len(events))
            for event in events:
                if isinstance(event, LLMResponded):
                    llm_calls += 1
                    tokens += event.usage.total_tokens
                elif isinstance(event, AgentMessage):
                    exchanged += 1
    total = sum(counts)
    return SimulationSummary(
        scenario=scenario.name,
        seed=scenario.seed,
        agents=len(counts),
        virtual_seconds=scenario.seconds,
        wall_seconds=round(wall, 3),
        events=total,
        events_per_agent=Spread(
            min=min(counts, default=0),
            mean=round(total / len(counts), 2) if counts else 0.0,
            max=max(counts, default=0),
        ),
        llm_calls=llm_calls,
        tokens=tokens,
        messages_exchanged=exchanged,
        steps_per_s=round(llm_calls / wall, 1) if wall > 0 else 0.0,
        log=str(path),
    )
