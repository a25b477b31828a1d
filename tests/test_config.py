"""memvisor.toml: the example as written, and a clear error for every mistake."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from memvisor import ConfigError
from memvisor._config import load_config

EXAMPLE = Path(__file__).parent.parent / "examples" / "memvisor.toml"


def test_the_example_config_loads_as_written() -> None:
    config = load_config(EXAMPLE)
    assert (config.server.host, config.server.port) == ("127.0.0.1", 8765)
    assert [a.name for a in config.agents] == ["support"]
    assert config.webhooks[0].secret_env == "SUPPORT_WEBHOOK_SECRET"
    assert config.resolve(config.watch[0].path) == EXAMPLE.parent.resolve() / "inbox"
    assert config.timers[0].every == "1h"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[server]\nport = 'x'", "Expected `int`, got `str` - at `$.server.port`"),
        ("[[agents]]\nname = 'a'\nmodle = 'm'", "unknown field `modle`"),
        ("[[agents]]\nname = 'a'\n[[agents]]\nname = 'a'", "agents named more than once: a"),
        ("[[agents]]\nname = 'a'\n[[watch]]\nagent = 'b'\npath = '.'", "watch[0] names agent 'b'"),
        ("[[agents]]\nname = 'a'\n[[timers]]\nagent = 'a'\ntext = 't'", "exactly one of every"),
        (
            "[[agents]]\nname = 'a'\n[[webhooks]]\nagent = 'a'\nsecret_env = 'S'\ntoken_env = 'T'",
            "not both",
        ),
        ("[server", "is not valid TOML"),
        ("[server]\nport = 70000", "Expected `int` <= 65535 - at `$.server.port`"),
        ("[server]\nmax_body = 0", "Expected `int` >= 1 - at `$.server.max_body`"),
        ("[[agents]]\nname = 'a'\ncontext_window = 10", "`int` >= 1024 - at `$.agents[0]"),
        ("[[agents]]\nname = 'a/b'", "agents[0]: invalid agent name 'a/b'"),
        (
            "[[agents]]\nname = 'a'\n[[webhooks]]\nagent = 'a'\nsecret_env = 'S'"
            "\n[[webhooks]]\nagent = 'a'",
            "webhooks[1]: agent 'a' has a webhook already",
        ),
        (
            "[server]\nhost = '0.0.0.0'\n[[agents]]\nname = 'a'\n[[webhooks]]\nagent = 'a'",
            "webhooks[0] for 'a' has no secret_env or token_env",
        ),
        (
            "[[agents]]\nname = 'a'\n[[watch]]\nagent = 'a'\npath = '.'\ndebounce = -1",
            "watch[0]: debounce must be a positive number",
        ),
        (
            "[[agents]]\nname = 'a'\n[[watch]]\nagent = 'a'\npath = '.'\nmax_chars = 0",
            "watch[0]: max_chars must be at least 1",
        ),
    ],
)
def test_a_bad_config_is_a_config_error_naming_the_key(
    tmp_path: Path, text: str, message: str
) -> None:
    path = tmp_path / "memvisor.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=r"memvisor\.toml") as info:
        load_config(path)
    assert message in str(info.value)


def test_a_missing_file_and_a_missing_secret_are_config_errors(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(ConfigError, match="cannot read the config"):
        load_config(tmp_path / "nope.toml")
    monkeypatch.delenv("SUPPORT_WEBHOOK_SECRET", raising=False)
    config = load_config(EXAMPLE)
    with pytest.raises(ConfigError, match="SUPPORT_WEBHOOK_SECRET is not set"):
        config.webhook_secret(config.webhooks[0])
    monkeypatch.setenv("SUPPORT_WEBHOOK_SECRET", "s3cret")
    assert config.webhook_secret(config.webhooks[0]) == (b"s3cret", None)


@pytest.mark.parametrize(
    ("timer", "message"),
    [('every = "soon"', "timers[0]"), ('cron = "61 * * * *"', "timers[0]")],
)
def test_a_bad_schedule_is_named(tmp_path: Path, timer: str, message: str) -> None:
    path = tmp_path / "memvisor.toml"
    path.write_text(f"[[agents]]\nname = 'a'\n[[timers]]\nagent = 'a'\ntext = 't'\n{timer}")
    with pytest.raises(ConfigError, match=re.escape(message)):
        load_config(path)


def test_a_webhook_without_auth_is_fine_on_loopback(tmp_path: Path) -> None:
    path = tmp_path / "memvisor.toml"
    path.write_text("[[agents]]\nname = 'a'\n[[webhooks]]\nagent = 'a'")
    assert load_config(path).webhooks[0].secret_env is None


def test_the_watch_specs_are_resolved_against_the_config_file(tmp_path: Path) -> None:
    (spec,) = load_config(EXAMPLE).watch_specs()
    assert (spec.agent, spec.root, spec.glob) == (
        "support",
        EXAMPLE.parent.resolve() / "inbox",
        "*.txt",
    )
