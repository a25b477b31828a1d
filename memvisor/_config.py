"""``memvisor.toml``: what ``memvisor serve`` hosts, read into typed Structs.

```toml
[server]                 host, port, max_body
[[agents]]               name, persona, human, system, model, context_window, tags
[[webhooks]]             agent, secret_env | token_env
[[watch]]                agent, path, glob, debounce, max_chars
[[timers]]               agent, every | cron, text
```

Unknown keys are errors (a typo never silently does nothing), and every value is
checked when the file is read, before anything is created or logged; every
error names the file and the key. Relative paths are relative to the config file. Secrets
are never in the file: ``secret_env``/``token_env`` name environment variables.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, TypeVar

import msgspec

from ._exceptions import ConfigError, UsageError
from ._names import check_name
from .sources._schedule import parse_cron, parse_every
from .sources._watch_rules import WatchSpec

__all__ = [
    "LOOPBACK",
    "AgentEntry",
    "Config",
    "ServerEntry",
    "TimerEntry",
    "WatchEntry",
    "WebhookEntry",
    "load_config",
    "read_toml",
]


LOOPBACK = ("127.0.0.1", "localhost", "::1")
"""Hosts only this machine can reach."""


class ServerEntry(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    host: str = "127.0.0.1"
    port: Annotated[int, msgspec.Meta(ge=0, le=65535)] = 8765
    """0 lets the system choose a free port."""
    max_body: Annotated[int, msgspec.Meta(ge=1)] = 1 << 20
    """Largest request body accepted, in bytes."""


class AgentEntry(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    name: str
    persona: str | None = None
    human: str | None = None
    system: str | None = None
    model: str | None = None
    context_window: Annotated[int, msgspec.Meta(ge=1024)] = 8192
    tags: tuple[str, ...] = ()


class WebhookEntry(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    agent: str
    secret_env: str | None = None
    """Environment variable holding the HMAC-SHA256 secret."""
    token_env: str | None = None
    """Environment variable holding the bearer token."""


class WatchEntry(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    agent: str
    path: str
    glob: str = "*"
    debounce: float = 0.5
    max_chars: int = 4000


class TimerEntry(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    agent: str
    text: str
    every: str | None = None
    """An interval such as ``"1h"`` or ``"15m"``."""
    cron: str | None = None
    """A 5-field cron expression, e.g. ``"0 9 * * MON-FRI"`` (UTC)."""


class Config(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    server: ServerEntry = ServerEntry()
    agents: tuple[AgentEntry, ...] = ()
    webhooks: tuple[WebhookEntry, ...] = ()
    watch: tuple[WatchEntry, ...] = ()
    timers: tuple[TimerEntry, ...] = ()
    base: Path = Path()
    """The config file's directory (set by :func:`load_config`)."""

    def resolve(self, path: str) -> Path:
        """``path`` relative to the config file's directory."""
        return (self.base / Path(path).expanduser()).resolve()

    def webhook_secret(self, entry: WebhookEntry) -> tuple[bytes | None, str | None]:
        """The secret and token an entry names, read from the environment.

        Raises:
            ConfigError: a named variable is not set.
        """
        secret = _env(entry.secret_env) if entry.secret_env else None
        token = _env(entry.token_env) if entry.token_env else None
        return (None if secret is None else secret.encode()), token

    def watch_specs(self) -> list[WatchSpec]:
        """The ``[[watch]]`` entries, as the watchers take them (paths resolved).

        Raises:
            ConfigError: an entry is not a valid watcher (the message names it).
        """
        specs = []
        for i, entry in enumerate(self.watch):
            try:
                spec = WatchSpec(
                    agent=entry.agent,
                    root=self.resolve(entry.path),
                    glob=entry.glob,
                    debounce=entry.debounce,
                    max_chars=entry.max_chars,
                )
            except ConfigError as exc:
                raise ConfigError(f"watch[{i}]: {exc}") from None
            specs.append(spec)
        return specs


def _env(name: str) -> str:
    value = os.environ.get(name)
    if not value:
        raise ConfigError(f"environment variable {name} is not set (the config names it)")
    return value


T = TypeVar("T")


def read_toml(path: Path, kind: type[T], *, what: str) -> T:
    """``path`` decoded as a ``kind``.

    Raises:
        ConfigError: the file is missing, not TOML, or does not fit ``kind`` (the
            message names the file, and the key at fault).
    """
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read the {what} {path}: {exc.strerror or exc}") from None
    try:
        return msgspec.toml.decode(data, type=kind)
    except msgspec.ValidationError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    except msgspec.DecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}") from None


def load_config(path: Path) -> Config:
    """Read and check ``path``.

    Raises:
        ConfigError: the file is missing, not TOML, or not a valid config (the
            message names the key).
    """
    config = read_toml(path, Config, what="config")
    config = msgspec.structs.replace(config, base=path.resolve().parent)
    _check(config, path)
    return config


def _check(config: Config, path: Path) -> None:
    names = [a.name for a in config.agents]
    for i, name in enumerate(names):
        try:
            check_name(name)
        except UsageError as exc:
            raise ConfigError(f"{path}: agents[{i}]: {exc}") from None
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ConfigError(f"{path}: agents named more than once: {', '.join(duplicates)}")
    known = set(names)
    sections: list[tuple[str, list[str]]] = [
        ("webhooks", [w.agent for w in config.webhooks]),
        ("watch", [w.agent for w in config.watch]),
        ("timers", [t.agent for t in config.timers]),
    ]
    for section, agents in sections:
        for i, agent in enumerate(agents):
            if agent not in known:
                raise ConfigError(
                    f"{path}: {section}[{i}] names agent {agent!r}, which is not in"
                    f" [[agents]] ({', '.join(names) or 'none'})"
                )
    _check_webhooks(config, path)
    _check_timers(config, path)
    try:
        config.watch_specs()
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None


def _check_webhooks(config: Config, path: Path) -> None:
    seen: set[str] = set()
    for i, webhook in enumerate(config.webhooks):
        if webhook.agent in seen:
            raise ConfigError(
                f"{path}: webhooks[{i}]: agent {webhook.agent!r} has a webhook already"
                " (one [[webhooks]] entry per agent)"
            )
        seen.add(webhook.agent)
        if webhook.secret_env and webhook.token_env:
            raise ConfigError(f"{path}: webhooks[{i}]: give secret_env or token_env, not both")
        open_door = not (webhook.secret_env or webhook.token_env)
        if open_door and config.server.host not in LOOPBACK:
            raise ConfigError(
                f"{path}: webhooks[{i}] for {webhook.agent!r} has no secret_env or token_env,"
                f" and [server] host {config.server.host!r} is reachable from other machines:"
                " give it a secret or a token, or serve on 127.0.0.1"
            )


def _check_timers(config: Config, path: Path) -> None:
    for i, timer in enumerate(config.timers):
        if (timer.every is None) == (timer.cron is None):
            raise ConfigError(f"{path}: timers[{i}]: give exactly one of every and cron")
        try:
            if timer.every is not None:
                parse_every(timer.every)
            else:
                parse_cron(timer.cron or "")
        except ConfigError as exc:
            raise ConfigError(f"{path}: timers[{i}]: {exc}") from None
