"""``memvisor fork|diff|export|import`` on what ``memvisor demo`` logged (about 60 events,
a compaction, calls and their results)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import msgspec
import pytest
import trio
from click.testing import CliRunner, Result

from memvisor._cli_support import Home
from memvisor.cli import cli
from memvisor.events import (
    AgentCreated,
    Event,
    LLMResponded,
    ToolCalled,
    UserMessage,
    open_sqlite_log,
    rename,
)

_CLEAN_ENV: dict[str, str | None] = {"MEMVISOR_MODEL": None, "MEMVISOR_HOME": None}


def memvisor(home: Path, *args: str, input: bytes | None = None) -> Result:
    """``memvisor --home HOME ARGS…`` in this process."""
    return CliRunner().invoke(cli, ["--home", str(home), *args], input=input, env=_CLEAN_ENV)


def read_log(home: Path, name: str) -> list[Event]:
    async def read() -> list[Event]:
        async with open_sqlite_log(Home(home).log) as log:
            return await log.read(name)

    return trio.run(read)


def agent_names(home: Path) -> list[str]:
    async def names() -> list[str]:
        async with open_sqlite_log(Home(home).log) as log:
            return await log.agents()

    return trio.run(names)


def append(home: Path, events: Sequence[Event]) -> None:
    async def write() -> None:
        async with open_sqlite_log(Home(home).log) as log:
            await log.append(events)

    trio.run(write)


@pytest.fixture(scope="module")
def demo_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("demo")
    result = memvisor(home, "demo")
    assert result.exit_code == 0, result.output
    return home


@pytest.fixture
def home(demo_home: Path, tmp_path: Path) -> Path:
    """A home of its own holding agent "demo", as the demo left it."""
    copy = tmp_path / "home"
    shutil.copytree(demo_home, copy)
    return copy


def plain(events: Sequence[Event]) -> list[Event]:
    """Events with agent names set aside."""
    return rename(events, "-")


# --- fork -----------------------------------------------------------------------------


def test_fork_copies_the_log_up_to_seq_and_leaves_the_original_untouched(home: Path) -> None:
    original = read_log(home, "demo")
    at = 40
    result = memvisor(home, "fork", "demo", "--at", str(at), "--as", "bob")
    assert result.exit_code == 0, result.output
    assert f"forked 'demo' at seq {at} (of {len(original)}) as 'bob': {at} events" in result.output
    assert read_log(home, "demo") == original
    shown = memvisor(home, "log", "bob", "--json")
    assert shown.exit_code == 0, shown.output
    lines = [json.loads(line) for line in shown.output.splitlines()]
    assert [line["seq"] for line in lines] == list(range(1, at + 1))
    assert {line["agent"] for line in lines} == {"bob"}
    assert lines[0]["type"] == "agent_created"
    assert lines[0]["forked_from"] == f"demo@{at}"
    fork = read_log(home, "bob")
    first = fork[0]
    assert isinstance(first, AgentCreated)
    assert plain([msgspec.structs.replace(first, forked_from=None), *fork[1:]]) == plain(
        original[:at]
    )


def test_a_fork_inside_a_call_says_the_new_agent_will_recover_it(home: Path) -> None:
    events = read_log(home, "demo")
    called = next(e for e in events if isinstance(e, ToolCalled))
    result = memvisor(home, "fork", "demo", "--at", str(called.seq), "--as", "bob")
    assert result.exit_code == 0, result.output
    assert f"tool_called {called.name!r} (seq {called.seq}) has no tool_returned" in result.output
    assert "'bob' recovers it" in result.output
    whole = memvisor(home, "fork", "demo", "--at", str(len(events)), "--as", "carl")
    assert "note:" not in whole.output


def test_a_fork_mid_turn_says_what_the_new_agent_will_do_first(home: Path) -> None:
    events = read_log(home, "demo")
    asked = next(e for e in events if isinstance(e, LLMResponded) and e.tool_calls)
    result = memvisor(home, "fork", "demo", "--at", str(asked.seq), "--as", "bob")
    assert result.exit_code == 0, result.output
    call = asked.tool_calls[0].name
    assert f"the llm_responded at seq {asked.seq} asked for calls not made yet ({call})" in (
        result.output
    )
    told = next(e for e in events if isinstance(e, UserMessage) and e.seq > 1)
    result = memvisor(home, "fork", "demo", "--at", str(told.seq), "--as", "carl")
    assert result.exit_code == 0, result.output
    assert "the fork ends in the middle of a turn: 'carl' takes its next step" in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--at", "999", "--as", "bob"], "cannot fork 'demo' at seq 999: its log runs from seq 1"),
        (["--at", "3", "--as", "demo"], "an agent named 'demo' exists already"),
        (["--at", "3", "--as", "no way"], "invalid agent name 'no way'"),
    ],
)
def test_fork_refusals_are_one_line_and_change_nothing(
    home: Path, args: list[str], message: str
) -> None:
    before = read_log(home, "demo")
    result = memvisor(home, "fork", "demo", *args)
    assert result.exit_code == 1
    assert message in result.output
    assert read_log(home, "demo") == before
    assert agent_names(home) == ["demo"]


def test_fork_of_an_unknown_agent_creates_no_log(tmp_path: Path) -> None:
    result = memvisor(tmp_path, "fork", "ghost", "--at", "1", "--as", "bob")
    assert result.exit_code == 1
    assert "no agent named 'ghost'" in result.output
    assert not Home(tmp_path).log.exists()


# --- diff -----------------------------------------------------------------------------


def test_diff_of_a_fork_and_its_original_names_the_first_event_after_the_fork(
    home: Path,
) -> None:
    events = read_log(home, "demo")
    at = 20
    assert memvisor(home, "fork", "demo", "--at", str(at), "--as", "bob").exit_code == 0
    result = memvisor(home, "diff", "demo", "bob")
    assert result.exit_code == 1, result.output
    lines = result.output.splitlines()
    assert lines[0] == f"first difference at seq {at + 1}:"
    assert f"A demo  {type(events[at]).__struct_config__.tag}" in lines[1]
    assert f"B bob   (its log ends at seq {at})" in result.output
    assert f"A demo  {len(events) - at} events from seq {at + 1} on (" in result.output
    assert "B bob   none (its log ends at seq 20)" in result.output


def test_diff_shows_both_events_and_the_fields_that_differ(home: Path) -> None:
    events = read_log(home, "demo")
    at = next(e.seq for e in events if isinstance(e, UserMessage) and e.seq > 30) - 1
    assert memvisor(home, "fork", "demo", "--at", str(at), "--as", "bob").exit_code == 0
    append(home, [UserMessage(agent="bob", seq=at + 1, at=0.0, text="Something else entirely")])
    result = memvisor(home, "diff", "demo", "bob")
    assert result.exit_code == 1
    original = events[at]
    assert isinstance(original, UserMessage)
    assert f"* text: {original.text!r}" in result.output
    assert "* text: 'Something else entirely'" in result.output
    assert "differs in: text" in result.output
    assert f"B bob   1 event from seq {at + 1} on (1 user_message)" in result.output


def test_diff_of_the_same_logs_exits_0_and_an_error_exits_2(home: Path) -> None:
    events = read_log(home, "demo")
    assert memvisor(home, "fork", "demo", "--at", str(len(events)), "--as", "bob").exit_code == 0
    same = memvisor(home, "diff", "demo", "bob")
    assert same.exit_code == 0, same.output
    assert f"'demo' and 'bob' are the same: {len(events)} events" in same.output
    missing = memvisor(home, "diff", "demo", "nobody")
    assert missing.exit_code == 2
    assert "no agent named 'nobody'" in missing.output


# --- export and import ----------------------------------------------------------------


def test_export_then_import_on_a_fresh_home_gives_the_same_events(
    home: Path, tmp_path: Path
) -> None:
    file = tmp_path / "demo.jsonl"
    result = memvisor(home, "export", "demo", "-o", str(file))
    assert result.exit_code == 0, result.output
    events = read_log(home, "demo")
    assert f"exported {len(events)} events of 'demo'" in result.output
    fresh = tmp_path / "elsewhere"
    imported = memvisor(fresh, "import", str(file), "--as", "copy")
    assert imported.exit_code == 0, imported.output
    assert "imported agent 'copy' (exported as 'demo')" in imported.output
    assert read_log(fresh, "copy") == rename(events, "copy")
    again = memvisor(fresh, "import", str(file))
    assert again.exit_code == 0, again.output
    assert read_log(fresh, "demo") == events


def test_an_export_with_prompts_lets_another_home_show_a_prompt_s_diff(
    home: Path, tmp_path: Path
) -> None:
    file = tmp_path / "demo.jsonl"
    result = memvisor(home, "export", "demo", "-o", str(file), "--prompts")
    assert result.exit_code == 0, result.output
    steps = sum(isinstance(e, LLMResponded) for e in read_log(home, "demo"))
    assert result.output.rstrip().endswith(f"with {steps} prompts")
    elsewhere = tmp_path / "elsewhere"
    imported = memvisor(elsewhere, "import", str(file), "--as", "rec")
    assert imported.exit_code == 0, imported.output
    assert f"and {steps} prompts" in imported.output
    assert memvisor(elsewhere, "replay", "rec", "--check").exit_code == 0
    prompt = tmp_path / "terse.txt"
    prompt.write_text("Be terse.\n")
    changed = memvisor(elsewhere, "replay", "rec", "--check", "--system", str(prompt))
    assert changed.exit_code == 1
    assert "The prompt as it was sent (-) and as it is compiled now (+):" in changed.output
    assert "+Be terse." in changed.output


def test_an_export_says_which_prompts_the_store_lacked(home: Path, tmp_path: Path) -> None:
    (home / "prompts.sqlite3").unlink()
    result = memvisor(home, "export", "demo", "-o", str(tmp_path / "d.jsonl"), "--prompts")
    assert result.exit_code == 0, result.output
    steps = sum(isinstance(e, LLMResponded) for e in read_log(home, "demo"))
    assert f"with 0 prompts ({steps} were not in" in result.output


def test_an_export_line_is_a_log_json_line(home: Path) -> None:
    exported = memvisor(home, "export", "demo", "-o", "-")
    assert exported.exit_code == 0
    lines = exported.stdout_bytes.decode().splitlines()
    header = json.loads(lines[0])
    assert (header["format"], header["version"], header["agent"]) == ("memvisor-events", 2, "demo")
    assert lines[1:] == memvisor(home, "log", "demo", "--json").output.splitlines()


def test_import_reads_standard_input(home: Path, tmp_path: Path) -> None:
    data = memvisor(home, "export", "demo", "-o", "-").stdout_bytes
    result = memvisor(tmp_path, "import", "-", "--as", "piped", input=data)
    assert result.exit_code == 0, result.output
    assert read_log(tmp_path, "piped") == rename(read_log(home, "demo"), "piped")


def test_import_refuses_an_agent_that_exists(home: Path, tmp_path: Path) -> None:
    file = tmp_path / "demo.jsonl"
    assert memvisor(home, "export", "demo", "-o", str(file)).exit_code == 0
    before = read_log(home, "demo")
    result = memvisor(home, "import", str(file))
    assert result.exit_code == 1
    assert "an agent named 'demo' exists already: import it under another name with --as" in (
        result.output
    )
    assert read_log(home, "demo") == before


def _damaged(lines: list[bytes], how: str) -> tuple[list[bytes], int]:
    """The lines with line 10 damaged, and the number of the line at fault."""
    copy = list(lines)
    if how == "truncate":
        copy[9] = copy[9][: len(copy[9]) // 2] + b"\n"
    elif how == "flip":
        line = bytearray(copy[9])
        line[len(line) // 2] ^= 0x01
        copy[9] = bytes(line)
    elif how == "cut the file":
        return copy[:12], 13
    else:
        copy[9] = copy[9].replace(b'"seq":9,', b'"seq":90,')
    return copy, 10


@pytest.mark.parametrize("how", ["truncate", "flip", "renumber", "cut the file"])
def test_a_damaged_file_is_refused_with_its_line_and_nothing_is_imported(
    home: Path, tmp_path: Path, how: str
) -> None:
    file = tmp_path / "demo.jsonl"
    assert memvisor(home, "export", "demo", "-o", str(file)).exit_code == 0
    lines, number = _damaged(file.read_bytes().splitlines(keepends=True), how)
    file.write_bytes(b"".join(lines))
    fresh = tmp_path / "fresh"
    result = memvisor(fresh, "import", str(file), "--as", "copy")
    assert result.exit_code == 1
    assert f"cannot import {file}: line {number}: " in result.output
    assert "(nothing was imported)" in result.output
    assert not Home(fresh).log.exists()
    result = memvisor(home, "import", str(file), "--as", "copy")
    assert result.exit_code == 1
    assert agent_names(home) == ["demo"]


def test_export_refusals_are_readable(home: Path, tmp_path: Path) -> None:
    missing = memvisor(home, "export", "nobody", "-o", str(tmp_path / "x.jsonl"))
    assert missing.exit_code == 1
    assert "no agent named 'nobody'" in missing.output
    assert not (tmp_path / "x.jsonl").exists()
    unwritable = memvisor(home, "export", "demo", "-o", str(tmp_path / "no" / "dir" / "x.jsonl"))
    assert unwritable.exit_code == 1
    assert "cannot write" in unwritable.output
    assert [path.name for path in tmp_path.iterdir()] == ["home"]


def test_import_of_a_missing_file_is_one_line(tmp_path: Path) -> None:
    result = memvisor(tmp_path, "import", str(tmp_path / "nothing.jsonl"))
    assert result.exit_code == 1
    assert "cannot read" in result.output


def test_help_says_the_archival_store_does_not_travel() -> None:
    for command in ("export", "import"):
        result = CliRunner().invoke(cli, [command, "--help"], terminal_width=200)
        assert "Archival passages" in result.output
        assert "not" in result.output


def test_a_damaged_import_in_a_real_process_is_one_line_on_stderr(
    home: Path, tmp_path: Path
) -> None:
    file = tmp_path / "bad.jsonl"
    assert memvisor(home, "export", "demo", "-o", str(file)).exit_code == 0
    file.write_bytes(file.read_bytes().replace(b'"seq":5,', b'"seq":5', 1))
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            "from memvisor.cli import main; main()",
            *("--home", str(tmp_path / "fresh"), "import", str(file)),
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 1
    assert result.stderr.startswith(f"memvisor: error: cannot import {file}: line 6: not JSON")
    assert len(result.stderr.splitlines()) == 1
    assert "Traceback" not in result.stderr
