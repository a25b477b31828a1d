"""Running scenarios: virtual time, the examples, and the same seed giving the same logs."""

from __future__ import annotations

import json
from pathlib import Path

import anyio
import pytest
from click.testing import CliRunner

from memvisor import ConfigError
from memvisor.cli import cli
from memvisor.events import AssistantMessage, ExternalEvent, encode_event, open_sqlite_log
from memvisor.sim import load_scenario, run_scenario

EXAMPLES = Path(__file__).parent.parent.parent / "examples"


async def _logs(path: Path) -> dict[str, list[bytes]]:
    async with open_sqlite_log(path) as log:
        return {
            name: [encode_event(e) for e in await log.read(name)] for name in await log.agents()
        }


def test_the_support_example_answers_every_ticket_in_virtual_time(tmp_path: Path) -> None:
    summary = run_scenario(load_scenario(EXAMPLES / "support.toml"), tmp_path / "run")
    assert summary.virtual_seconds == 86_400
    assert summary.wall_seconds < summary.virtual_seconds
    logs = anyio.run(_logs, tmp_path / "run" / "events.sqlite3")
    from memvisor.events import decode_event

    events = [decode_event(b) for b in logs["support"]]
    tickets = [e for e in events if isinstance(e, ExternalEvent)]
    answers = [e for e in events if isinstance(e, AssistantMessage)]
    assert len(tickets) == 72 + 8  # every 20 minutes, and every 3 hours, for a day
    assert len(answers) == len(tickets)
    assert json.loads((tmp_path / "run" / "summary.json").read_text())["agents"] == 1


def test_the_same_seed_gives_the_same_logs(tmp_path: Path) -> None:
    scenario = load_scenario(EXAMPLES / "rumour.toml", scale=30)
    run_scenario(scenario, tmp_path / "a")
    run_scenario(scenario, tmp_path / "b")
    first = anyio.run(_logs, tmp_path / "a" / "events.sqlite3")
    second = anyio.run(_logs, tmp_path / "b" / "events.sqlite3")
    assert first == second


def test_a_run_never_overwrites_an_earlier_one(tmp_path: Path) -> None:
    scenario = load_scenario(EXAMPLES / "negotiation.toml")
    run_scenario(scenario, tmp_path)
    with pytest.raises(ConfigError, match="already holds a run"):
        run_scenario(scenario, tmp_path)


def test_the_sim_command_prints_the_summary(tmp_path: Path) -> None:
    out = tmp_path / "run"
    result = CliRunner().invoke(
        cli, ["sim", str(EXAMPLES / "rumour.toml"), "--out", str(out), "--scale", "5"]
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["agents"] == 5
    assert summary["scenario"] == "rumour"
    missing = CliRunner().invoke(cli, ["sim", str(tmp_path / "nope.toml")])
    assert missing.exit_code == 1
    assert "cannot read the scenario" in missing.output


def test_news_told_to_one_villager_reaches_every_other(tmp_path: Path) -> None:
    summary = run_scenario(load_scenario(EXAMPLES / "rumour.toml", scale=60), tmp_path)
    assert summary.messages_exchanged == 59  # each villager told once, by its parent
    logs = anyio.run(_logs, tmp_path / "events.sqlite3")
    from memvisor.events import AgentMessage, decode_event

    heard = {
        name
        for name, frames in logs.items()
        if any(isinstance(decode_event(f), AgentMessage) for f in frames)
    }
    assert heard == {f"villager-{i}" for i in range(1, 60)}


def test_the_negotiators_agree_within_both_limits(tmp_path: Path) -> None:
    run_scenario(load_scenario(EXAMPLES / "negotiation.toml"), tmp_path)
    logs = anyio.run(_logs, tmp_path / "events.sqlite3")
    from memvisor.events import decode_event

    said = [
        e.text
        for e in map(decode_event, logs["buyer"])
        if isinstance(e, AssistantMessage) and e.to is None
    ]
    assert said == ["Deal with seller at 120."]
