"""The `memvisor` command: help everywhere, the demo, the log viewer, readable errors."""

from __future__ import annotations

import json
import shlex
import sqlite3
import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from memvisor.cli import cli

COMMANDS = [
    [],
    ["demo"],
    ["send"],
    ["agents"],
    ["chat"],
    ["sim"],
    ["serve"],
    ["replay"],
    ["report"],
    ["log"],
    ["load"],
    ["attach"],
    ["sources"],
    ["fork"],
    ["diff"],
    ["export"],
    ["import"],
]
_MAIN = "from memvisor.cli import main; main()"


def run(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """The real console entry point, in a child process."""
    return subprocess.run(
        [sys.executable, "-c", _MAIN, "--home", str(home), *args],
        capture_output=True,
        text=True,
        check=False,
    )


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help(command: list[str]) -> None:
    result = CliRunner().invoke(cli, [*command, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage:" in result.output


def test_every_registered_command_is_covered_by_the_help_test() -> None:
    assert isinstance(cli, click.Group)
    assert {c[0] for c in COMMANDS if c} == set(cli.commands)


def test_log_shows_what_the_demo_logged(tmp_path: Path) -> None:
    demo = run(tmp_path, "demo")
    assert demo.returncode == 0, demo.stderr
    listing = run(tmp_path, "log")
    assert listing.returncode == 0
    agents = dict(line.split("\t") for line in listing.stdout.splitlines())
    assert set(agents) == {"demo"}
    count = int(agents["demo"].split()[0])
    shown = run(tmp_path, "log", "demo", "--json")
    lines = [json.loads(line) for line in shown.stdout.splitlines()]
    assert [line["seq"] for line in lines] == list(range(1, count + 1))
    assert {"seq", "type", "at", "agent"} <= set(lines[0])
    called = [line for line in lines if line["type"] == "tool_called"]
    assert {"name", "arguments"} <= set(called[0])
    later = run(tmp_path, "log", "demo", "--json", "--from", str(count - 2))
    assert [json.loads(x)["seq"] for x in later.stdout.splitlines()] == [
        count - 2,
        count - 1,
        count,
    ]


def test_log_filters_by_type_range_and_tail(tmp_path: Path) -> None:
    assert run(tmp_path, "demo").returncode == 0
    calls = run(tmp_path, "log", "demo", "--json", "--type", "tool_called").stdout.splitlines()
    assert calls
    assert all(json.loads(t)["type"] == "tool_called" for t in calls)
    window = run(tmp_path, "log", "demo", "--json", "--from", "2", "--until", "4")
    assert [json.loads(x)["seq"] for x in window.stdout.splitlines()] == [2, 3, 4]
    tail = run(tmp_path, "log", "demo", "--tail", "2").stdout.splitlines()
    assert len(tail) == 2


def test_unknown_agent_and_unknown_type_are_readable_errors(tmp_path: Path) -> None:
    assert run(tmp_path, "demo").returncode == 0
    missing = run(tmp_path, "log", "nobody")
    assert missing.returncode != 0
    assert "no agent named 'nobody'" in missing.stderr
    assert "Traceback" not in missing.stderr
    bad_type = run(tmp_path, "log", "demo", "--type", "nonsense")
    assert bad_type.returncode == 2
    assert "unknown event type 'nonsense'" in bad_type.stderr


def test_no_log_yet_is_a_readable_error(tmp_path: Path) -> None:
    result = run(tmp_path, "log")
    assert result.returncode != 0
    assert "no event log" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("content", [b"not a database at all\n", b"\x00" * 64])
def test_a_foreign_file_at_the_log_path_is_refused_and_untouched(
    tmp_path: Path, content: bytes
) -> None:
    (tmp_path / "events.sqlite3").write_bytes(content)
    for args in (["log"], ["demo"]):
        result = run(tmp_path, *args)
        assert result.returncode == 1
        assert "not a memvisor log" in result.stderr
        assert "Traceback" not in result.stderr
    assert (tmp_path / "events.sqlite3").read_bytes() == content


def test_another_programs_sqlite_database_is_refused_and_untouched(tmp_path: Path) -> None:
    path = tmp_path / "events.sqlite3"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE invoices (id INTEGER PRIMARY KEY)")
    conn.close()
    before = path.read_bytes()
    result = run(tmp_path, "log")
    assert result.returncode == 1
    assert "another program" in result.stderr
    assert path.read_bytes() == before


def test_home_comes_from_the_environment(tmp_path: Path) -> None:
    env_home = tmp_path / "from-env"
    result = subprocess.run(
        [sys.executable, "-c", _MAIN, "demo"],
        capture_output=True,
        text=True,
        check=False,
        env={"MEMVISOR_HOME": str(env_home), "PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 0, result.stderr
    assert (env_home / "events.sqlite3").exists()


def test_demo_and_log_in_process(tmp_path: Path) -> None:
    runner = CliRunner()
    home = ["--home", str(tmp_path)]
    demo = runner.invoke(cli, [*home, "demo"])
    assert demo.exit_code == 0, demo.output
    listing = runner.invoke(cli, [*home, "log"])
    assert listing.exit_code == 0
    assert listing.output.startswith("demo\t")
    shown = runner.invoke(cli, [*home, "log", "demo", "--type", "tool_called", "--tail", "3"])
    assert shown.exit_code == 0
    assert all("tool_called" in line for line in shown.output.splitlines())
    missing = runner.invoke(cli, [*home, "log", "nobody"])
    assert missing.exit_code == 1
    assert "no agent named 'nobody'" in missing.output


def test_load_attach_and_sources_from_the_command_line(tmp_path: Path) -> None:
    runner = CliRunner()
    home = ["--home", str(tmp_path / "home")]
    docs = tmp_path / "docs"
    (docs / "deep").mkdir(parents=True)
    (docs / "a.md").write_text("Archival memory keeps passages. " * 80)
    (docs / "deep" / "b.txt").write_text("Recall memory keeps every message. " * 80)
    (docs / "deep" / "broken.txt").write_bytes(b"\x00\x01\x02")
    (docs / "image.png").write_bytes(b"\x89PNG not taken")
    load = [*home, "load", "manual", str(docs), "--chunk-tokens", "50", "--embedder", "none"]

    first = runner.invoke(cli, load)
    assert first.exit_code == 0, first.output
    assert "2 files" in first.output
    assert "skipped" in first.output
    assert "broken.txt" in first.output
    added = int(first.output.split(" new")[0].rsplit(" ", 1)[1])
    assert added > 2

    again = runner.invoke(cli, load)
    assert again.exit_code == 0
    assert ", 0 new" in again.output  # loading the same files twice adds nothing

    listing = runner.invoke(cli, [*home, "sources"])
    assert f"manual\t{added} passages" in listing.output

    assert runner.invoke(cli, [*home, "agents", "create", "sim-0"]).exit_code == 0
    attached = runner.invoke(cli, [*home, "attach", "sim-0", "manual"])
    assert attached.exit_code == 0
    assert f"attached 'manual' ({added} passages) to 'sim-0'" in attached.output
    twice = runner.invoke(cli, [*home, "attach", "sim-0", "manual"])
    assert "already attached" in twice.output
    shown = runner.invoke(cli, [*home, "log", "sim-0", "--type", "source_attached", "--json"])
    assert [json.loads(line)["source"] for line in shown.output.splitlines()] == ["manual"]
    assert [json.loads(line)["passages"] for line in shown.output.splitlines()] == [added]

    unknown_source = runner.invoke(cli, [*home, "attach", "sim-0", "nope"])
    assert unknown_source.exit_code == 1
    assert "no data source named 'nope'" in unknown_source.output
    unknown_agent = runner.invoke(cli, [*home, "attach", "ghost", "manual"])
    assert unknown_agent.exit_code == 1
    assert "no agent named 'ghost'" in unknown_agent.output


def test_a_bad_embedder_spec_or_chunk_size_is_a_readable_error(tmp_path: Path) -> None:
    runner = CliRunner()
    (tmp_path / "a.txt").write_text("hello")
    home = ["--home", str(tmp_path / "home")]
    bad = runner.invoke(cli, [*home, "load", "s", str(tmp_path / "a.txt"), "--embedder", "magic"])
    assert bad.exit_code == 1
    assert "unknown embedder 'magic'" in bad.output
    chunk = runner.invoke(
        cli,
        [*home, "load", "s", str(tmp_path / "a.txt"), "--chunk-tokens", "10", "--overlap", "10"],
    )
    assert chunk.exit_code == 1
    assert "overlap must be" in chunk.output


def test_the_demo_recovers_a_fact_compacted_out_of_the_context(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["--home", str(tmp_path), "demo"])
    assert result.exit_code == 0, result.output
    assert "scripted" in result.output.splitlines()[0] or "Python script" in result.output
    assert "[compaction]" in result.output
    assert "the fact was recovered from recall" in result.output
    answer = [line for line in result.output.splitlines() if line.startswith("demo:")][-1]
    assert "4-7-1-9" in answer
    events = CliRunner().invoke(cli, ["--home", str(tmp_path), "log", "demo", "--json"])
    types = [json.loads(line)["type"] for line in events.output.splitlines()]
    assert "context_compacted" in types
    assert "memory_pressure" in types
    # A second run makes a second agent and leaves the first one's log alone.
    again = CliRunner().invoke(cli, ["--home", str(tmp_path), "demo"])
    assert again.exit_code == 0
    assert "'demo-2'" in again.output


def test_the_demo_s_next_steps_all_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    demo = CliRunner().invoke(cli, ["--home", str(tmp_path), "demo"])
    assert demo.exit_code == 0, demo.output
    hints = [line for line in demo.output.splitlines() if f"--home {tmp_path} " in line]
    commands = [shlex.split(line.removeprefix("next:").split("#")[0]) for line in hints]
    assert [c[3] for c in commands] == ["log", "report", "replay"]
    for command in commands:
        result = CliRunner().invoke(cli, command[1:])
        assert result.exit_code == 0, (command, result.output)
    assert (tmp_path / "demo.html").exists()
