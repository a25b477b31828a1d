"""``memvisor replay``: an agent's state at any seq, from its log alone."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
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


def _demo_home(tmp_path: Path) -> list[str]:
    home = ["--home", str(tmp_path)]
    assert CliRunner().invoke(cli, [*home, "demo"]).exit_code == 0
    return home


def test_check_passes_on_the_demo_s_recorded_run(tmp_path: Path) -> None:
    home = _demo_home(tmp_path)
    result = CliRunner().invoke(cli, [*home, "replay", "demo", "--check"])
    assert result.exit_code == 0, result.output
    assert "replayed with the same decisions" in result.output
    assert "1 compaction planned the same" in result.output


def test_check_shows_a_changed_system_prompt_as_a_diff(tmp_path: Path) -> None:
    home = _demo_home(tmp_path)
    prompt = tmp_path / "terse.txt"
    prompt.write_text("Be terse.\n")
    result = CliRunner().invoke(cli, [*home, "replay", "demo", "--check", "--system", str(prompt)])
    assert result.exit_code == 1, result.output
    lines = result.output.splitlines()
    assert lines[0].startswith("demo diverges at seq 3 ")
    assert lines[1].startswith("  logged:   llm_responded")
    assert "+Be terse." in lines
    assert "-You are a persistent conversational agent with a memory that outlives your" in (
        result.output
    )


def test_check_catches_a_change_of_the_code_that_renders_prompts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = _demo_home(tmp_path)
    import memvisor.memory._context as context

    section = context._statistics_section
    monkeypatch.setattr(
        context,
        "_statistics_section",
        lambda *args: section(*args).replace("in recall memory", "in recall storage"),
    )
    result = CliRunner().invoke(cli, [*home, "replay", "demo", "--check"])
    assert result.exit_code == 1, result.output
    assert result.output.startswith("demo diverges at seq 3 ")
    removed = [line for line in result.output.splitlines() if line.startswith("-1 message")]
    added = [line for line in result.output.splitlines() if line.startswith("+1 message")]
    assert "in recall memory" in removed[0]
    assert "in recall storage" in added[0]


def test_check_catches_a_change_that_moves_a_compaction(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = _demo_home(tmp_path)
    import memvisor.memory._context as context

    header = context._SUMMARY_HEADER
    monkeypatch.setattr(context, "_SUMMARY_HEADER", header + "Read it first.\n")
    result = CliRunner().invoke(cli, [*home, "replay", "demo", "--check"])
    assert result.exit_code == 1, result.output
    compacted = next(e["seq"] for e in _events(home) if e["type"] == "context_compacted")
    # A longer summary header leaves less room: the same eviction, other token counts.
    assert result.output.startswith(f"demo diverges at seq {compacted} ")
    assert "logged:   context_compacted: tokens_after=" in result.output


def test_check_without_the_stored_prompt_shows_the_compiled_one(tmp_path: Path) -> None:
    home = _demo_home(tmp_path)
    (tmp_path / "prompts.sqlite3").unlink()
    prompt = tmp_path / "terse.txt"
    prompt.write_text("Be terse.\n")
    result = CliRunner().invoke(cli, [*home, "replay", "demo", "--check", "--system", str(prompt)])
    assert result.exit_code == 1
    assert "is not in" in result.output
    assert "── 0 system" in result.output
    assert "Be terse." in result.output


def test_system_without_check_is_a_usage_error(tmp_path: Path) -> None:
    home = _demo_home(tmp_path)
    prompt = tmp_path / "terse.txt"
    prompt.write_text("Be terse.\n")
    result = CliRunner().invoke(cli, [*home, "replay", "demo", "--system", str(prompt)])
    assert result.exit_code == 2
    assert "--system goes with --check" in result.output


def _events(home: list[str]) -> list[dict[str, object]]:
    output = CliRunner().invoke(cli, [*home, "log", "demo", "--json"]).output
    return [json.loads(line) for line in output.splitlines()]


def test_a_damaged_prompt_store_does_not_stop_the_agents(tmp_path: Path) -> None:
    (tmp_path / "prompts.sqlite3").write_bytes(b"not a database, not anything")
    result = CliRunner().invoke(cli, ["--home", str(tmp_path), "demo"])
    assert result.exit_code == 0, result.output
    assert "warning: prompts are not recorded this time" in result.output
    assert "the fact was recovered from recall" in result.output
    checked = CliRunner().invoke(cli, ["--home", str(tmp_path), "replay", "demo", "--check"])
    assert checked.exit_code == 1  # reading it is refused in one line, not a traceback
    assert "not a memvisor prompt store" in checked.output
