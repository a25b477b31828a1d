"""``memvisor replay``: an agent's state at any seq, from its log alone."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from memvisor.cli import cli


def test_replay_shows_the_agent_as_it_was_at_a_seq(tmp_path: Path) -> None:
    runner = CliRunner()
    home = ["--home", str(tmp_path)]
    assert runner.invoke(cli, [*home, "demo"]).exit_code == 0
    events = [
        json.loads(x)
        for x in runner.invoke(cli, [*home, "log", "demo", "--json"]).output.splitlines()
    ]
    compacted = next(e["seq"] for e in events if e["type"] == "context_compacted")

    before = runner.invoke(cli, [*home, "replay", "demo", "--until", str(compacted - 1)])
    assert before.exit_code == 0, before.output
    assert "4-7-1-9" in before.output  # the code is still in the window
    assert f"context window at seq {compacted - 1}" in before.output

    after = runner.invoke(cli, [*home, "replay", "demo", "--until", str(compacted)])
    assert after.exit_code == 0, after.output
    assert "4-7-1-9" not in after.output  # compacted out: only recall has it
    assert "Lisbon" in after.output  # the summary is in the system message
    assert "[system" in after.output

    now = runner.invoke(cli, [*home, "replay", "demo"])
    assert f"context window at seq {len(events)}" in now.output


def test_replay_past_the_end_or_of_nobody_is_a_readable_error(tmp_path: Path) -> None:
    runner = CliRunner()
    home = ["--home", str(tmp_path)]
    assert runner.invoke(cli, [*home, "demo"]).exit_code == 0
    past = runner.invoke(cli, [*home, "replay", "demo", "--until", "100000"])
    assert past.exit_code == 1
    assert "past the end" in past.output
    nobody = runner.invoke(cli, [*home, "replay", "nobody"])
    assert nobody.exit_code == 1
    assert "no agent named 'nobody'" in nobody.output
