"""A simulation scenario: who takes part, what happens to them and when, for how long.

```toml
name = "rumour"
seed = 7
duration = "7d"                        # virtual time: 30s, 15m, 12h, 7d, 1d12h
start = 2025-01-06T09:00:00Z           # optional; the virtual clock's first reading

[[agents]]
name = "villager"                      # with count: villager-0 … villager-999
count = 1000
policy = "rumour"                      # a scripted policy (see policies.py), or:
# model = "gpt-4o-mini"                # a real model (OPENAI_BASE_URL …)
tags = ["village"]
persona = "You live in a small village."
params = { fanout = 3 }                # the policy's parameters

[[inputs]]                             # one thing that happens to one agent
at = "1h"                              # after the start
agent = "villager-0"
message = "The mill closes on Friday." # a user message; or:
# event = { source = "watch:inbox", text = "...", payload = {...} }
# every = "1d"                         # repeat (a timer-like input)
```

Unknown keys are errors naming the key, like memvisor.toml.
"""

# No ``from __future__ import annotations``: these Structs are re-exported under
# ``memvisor.sim``, where string annotations could not be resolved.

import re
from datetime import UTC, datetime
from pathlib import Path

import msgspec

from .._config import read_toml
from .._exceptions import ConfigError

__all__ = [
    "AgentGroup",
    "EventInput",
    "Input",
    "Scenario",
    "load_scenario",
    "parse_duration",
]

_DURATION_RE = re.compile(r"(\d+(?:\.\d+)?)(d|h|m|s)")
_UNITS = {"d": 86_400.0, "h": 3_600.0, "m": 60.0, "s": 1.0}


def parse_duration(text: str) -> float:
    """``"1d12h"``, ``"15m"``, ``"30s"``, ``"2.5h"`` in seconds.

    Raises:
        ConfigError: not a duration.
    """
    compact = text.replace(" ", "")
    parts = _DURATION_RE.findall(compact)
    if not parts or "".join(n + u for n, u in parts) != compact:
        raise ConfigError(f"not a duration: {text!r} (write e.g. 30s, 15m, 12h, 7d or 1d12h)")
    return sum(float(n) * _UNITS[u] for n, u in parts)


class EventInput(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """An external event, as a webhook or a file watcher would deliver it."""

    source: str
    text: str = ""
    payload: object = None


class Input(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Something that happens to an agent at a virtual time (and, with ``every``, again)."""

    agent: str
    at: str = "0s"
    message: str | None = None
    event: EventInput | None = None
    every: str | None = None
    name: str | None = None
    """The sender's name for a message (the human's)."""

    @property
    def offset(self) -> float:
        """Seconds after the start."""
        return parse_duration(self.at)

    @property
    def interval(self) -> float | None:
        """Seconds between repeats, if it repeats."""
        return None if self.every is None else parse_duration(self.every)


class AgentGroup(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """One agent, or ``count`` alike agents named ``name-0`` … ``name-(count-1)``."""

    name: str
    count: int | None = None
    policy: str | None = None
    model: str | None = None
    tags: tuple[str, ...] = ()
    persona: str = ""
    human: str = ""
    context_window: int = 8192
    params: dict[str, str | int | float | bool] = {}

    @property
    def names(self) -> list[str]:
        """The agents' names."""
        if self.count is None:
            return [self.name]
        return [f"{self.name}-{i}" for i in range(self.count)]


class Scenario(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A whole simulation."""

    name: str
    duration: str
    seed: int = 0
    start: datetime = datetime(2025, 1, 6, 9, 0, tzinfo=UTC)
    description: str = ""
    agents: tuple[AgentGroup, ...] = ()
    inputs: tuple[Input, ...] = ()

    @property
    def seconds(self) -> float:
        """The virtual time the simulation covers."""
        return parse_duration(self.duration)

    @property
    def epoch(self) -> float:
        """The start as epoch seconds."""
        start = self.start if self.start.tzinfo else self.start.replace(tzinfo=UTC)
        return start.timestamp()

    def all_names(self) -> list[str]:
        """Every agent's name, in order."""
        return [name for group in self.agents for name in group.names]


def load_scenario(path: Path, *, scale: int | None = None) -> Scenario:
    """Read and check a scenario file.

    Args:
        path: The TOML file.
        scale: Replace every group's ``count`` with this (for small runs in CI).

    Raises:
        ConfigError: unreadable, not TOML, or not a valid scenario (naming the key).
    """
    scenario = read_toml(path, Scenario, what="scenario")
    if scale is not None:
        groups = tuple(
            g if g.count is None else msgspec.structs.replace(g, count=scale)
            for g in scenario.agents
        )
        scenario = msgspec.structs.replace(scenario, agents=groups)
    _check(scenario, path)
    return scenario


def _check(scenario: Scenario, path: Path) -> None:
    parse_duration(scenario.duration)
    names = scenario.all_names()
    if len(set(names)) != len(names):
        raise ConfigError(f"{path}: two agents have the same name")
    known = set(names)
    for i, group in enumerate(scenario.agents):
        if (group.policy is None) == (group.model is None):
            raise ConfigError(f"{path}: agents[{i}] ({group.name}): give a policy or a model")
        if group.count is not None and group.count < 1:
            raise ConfigError(f"{path}: agents[{i}]: count must be at least 1")
    for i, item in enumerate(scenario.inputs):
        if item.agent not in known:
            raise ConfigError(f"{path}: inputs[{i}] names agent {item.agent!r}, not in [[agents]]")
        if (item.message is None) == (item.event is None):
            raise ConfigError(f"{path}: inputs[{i}]: give a message or an event")
        item.offset  # noqa: B018 (parses, or raises ConfigError)
        if item.every is not None and item.interval is not None and item.interval <= 0:
            raise ConfigError(f"{path}: inputs[{i}]: every must be positive")
