"""``memvisor agents create|list|show|delete``: in process with CliRunner, and one real process."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import pytest
import trio
from click.testing import CliRunner, Result

from memvisor._agent_report import agent_report
from memvisor._cli_support import Home
from memvisor.cli import cli
from memvisor.events import (
    AgentCreated,
    BlockSpec,
    ContextCompacted,
    Event,
    LLMResponded,
    SourceAttached,
    TimerSet,
    TokenUsage,
    UserMessage,
    open_sqlite_log,
)
from memvisor.memory import Passage, compile_context, fold_all, open_archival

T0 = 1_735_689_600.0  # 2025-01-01T00:00:00Z
_CLEAN_ENV: dict[str, str | None] = {"MEMVISOR_MODEL": None, "MEMVISOR_HOME": None}


def agents(home: Path, *args: str, input: str | None = None, **env: str | None) -> Result:
    """``memvisor --home HOME agents ARGS…`` in this process."""
    return CliRunner().invoke(
        cli, ["--home", str(home), "agents", *args], input=input, env={**_CLEAN_ENV, **env}
    )


def run_process(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """The real console entry point in a child process, with nothing on its stdin."""
    return subprocess.run(
        [
            sys.executable,
            "-c",
            "from memvisor.cli import main; main()",
            "--home",
            str(home),
            *args,
        ],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


def read_log(home: Path, name: str) -> list[Event]:
    async def read() -> list[Event]:
        async with open_sqlite_log(Home(home).log) as log:
            return await log.read(name)

    return trio.run(read)


def append(home: Path, events: Sequence[Event]) -> None:
    async def write() -> None:
        async with open_sqlite_log(Home(home).log) as log:
            await log.append(events)

    trio.run(write)


def created(home: Path, name: str) -> AgentCreated:
    events = read_log(home, name)
    assert events, f"no agent {name}"
    first = events[0]
    assert isinstance(first, AgentCreated)
    return first


# --- create -------------------------------------------------------------------------------


def test_create_logs_agent_created_with_the_given_texts_model_and_window(
    tmp_path: Path,
) -> None:
    (tmp_path / "human.txt").write_text("Bob, who likes cats.\n", encoding="utf-8")
    (tmp_path / "system.txt").write_text("You are terse.", encoding="utf-8")
    result = agents(
        tmp_path,
        "create",
        "ada",
        "--persona",
        "I am Ada.",
        "--human",
        f"@{tmp_path / 'human.txt'}",
        "--system",
        f"@{tmp_path / 'system.txt'}",
        "--model",
        "gpt-test",
        "--context-window",
        "16000",
    )
    assert result.exit_code == 0, result.output
    assert "created agent 'ada'" in result.stdout
    event = created(tmp_path, "ada")
    assert event.seq == 1
    assert event.model == "gpt-test"
    assert event.system == "You are terse."
    assert event.context_window == 16000
    assert event.blocks == (
        BlockSpec(label="persona", value="I am Ada."),
        BlockSpec(label="human", value="Bob, who likes cats."),
    )
    assert event.at > T0


def test_create_defaults_come_from_home_prompts_then_memvisors_and_the_model_from_env(
    tmp_path: Path,
) -> None:
    (tmp_path / "prompts").mkdir()
    (tmp_path / "prompts" / "persona.txt").write_text("I am the house persona.\n")
    result = agents(tmp_path, "create", "ada", MEMVISOR_MODEL="env-model")
    assert result.exit_code == 0, result.output
    event = created(tmp_path, "ada")
    assert event.model == "env-model"
    assert event.context_window == 8192
    blocks = {b.label: b.value for b in event.blocks}
    assert blocks["persona"] == "I am the house persona."
    assert blocks["human"]  # memvisor's own default
    assert "memory" in event.system


def test_create_without_any_model_says_what_send_and_chat_will_need(tmp_path: Path) -> None:
    result = agents(tmp_path, "create", "ada")
    assert result.exit_code == 0, result.output
    assert created(tmp_path, "ada").model is None
    assert "MEMVISOR_MODEL" in result.stderr


def test_a_literal_text_may_start_with_an_at_sign_when_doubled(tmp_path: Path) -> None:
    assert agents(tmp_path, "create", "ada", "--human", "@@bob on the forum").exit_code == 0
    blocks = {b.label: b.value for b in created(tmp_path, "ada").blocks}
    assert blocks["human"] == "@bob on the forum"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["bad name"], "invalid agent name 'bad name'"),
        (["ada/../bob"], "invalid agent name"),
        (["ada", "--persona", "@missing.txt"], "--persona: no file 'missing.txt'"),
        (["ada", "--system", "@"], "--system @FILE: name a file after the @"),
        (["ada", "--persona", "x" * 2001], "the persona is 2,001 characters, over the 2,000"),
        (["ada", "--human", "y" * 5000], "the human is 5,000 characters"),
    ],
)
def test_create_errors_are_one_line_and_create_nothing(
    tmp_path: Path, args: list[str], message: str
) -> None:
    result = agents(tmp_path, "create", *args)
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr.startswith("memvisor: error: ")
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not Home(tmp_path).log.exists()


def test_create_refuses_an_existing_name_and_changes_nothing(tmp_path: Path) -> None:
    assert agents(tmp_path, "create", "ada", "--model", "one").exit_code == 0
    again = agents(tmp_path, "create", "ada", "--model", "two")
    assert again.exit_code == 1
    assert "an agent named 'ada' exists already" in again.stderr
    assert [e.seq for e in read_log(tmp_path, "ada")] == [1]
    assert created(tmp_path, "ada").model == "one"


def test_a_context_window_below_1024_is_a_usage_error(tmp_path: Path) -> None:
    result = agents(tmp_path, "create", "ada", "--context-window", "1000")
    assert result.exit_code == 2
    assert "1024" in result.output
    assert not Home(tmp_path).log.exists()


# --- list ---------------------------------------------------------------------------------


def test_list_shows_each_agent_with_model_messages_and_last_activity(tmp_path: Path) -> None:
    assert agents(tmp_path, "create", "ada", "--model", "m1").exit_code == 0
    assert agents(tmp_path, "create", "bob").exit_code == 0
    append(
        tmp_path,
        [
            UserMessage(agent="ada", seq=2, at=T0, text="hi"),
            UserMessage(agent="ada", seq=3, at=T0 + 60, text="again"),
        ],
    )
    plain = agents(tmp_path, "list")
    assert plain.exit_code == 0, plain.output
    rows = [line.split("\t") for line in plain.stdout.splitlines()]
    assert rows[0] == ["ada", "m1", "2 messages", "2025-01-01T00:01:00Z"]
    assert rows[1][:3] == ["bob", "-", "0 messages"]
    as_json = agents(tmp_path, "list", "--json")
    objects = [json.loads(line) for line in as_json.stdout.splitlines()]
    assert objects[0] == {
        "name": "ada",
        "model": "m1",
        "events": 3,
        "messages": 2,
        "last_activity": T0 + 60,
    }
    assert [o["name"] for o in objects] == ["ada", "bob"]


def test_list_with_no_log_prints_a_hint_on_stderr_and_creates_nothing(tmp_path: Path) -> None:
    result = agents(tmp_path, "list")
    assert result.exit_code == 0
    assert result.stdout == ""
    assert "agents create" in result.stderr
    assert agents(tmp_path, "list", "--json").stdout == ""
    assert not Home(tmp_path).log.exists()


# --- show ---------------------------------------------------------------------------------


def _busy_log() -> list[Event]:
    return [
        AgentCreated(
            agent="ada",
            seq=1,
            at=T0,
            model="m1",
            system="You are Ada.",
            blocks=(
                BlockSpec(label="persona", value="I am Ada.", limit=500),
                BlockSpec(label="human", value="Bob", read_only=True),
            ),
            context_window=4096,
        ),
        UserMessage(agent="ada", seq=2, at=T0 + 1, text="hello"),
        LLMResponded(
            agent="ada",
            seq=3,
            at=T0 + 2,
            model="m1",
            content="hm",
            usage=TokenUsage(prompt_tokens=700, completion_tokens=30, total_tokens=730),
        ),
        UserMessage(agent="ada", seq=4, at=T0 + 3, text="more"),
        LLMResponded(
            agent="ada",
            seq=5,
            at=T0 + 4,
            model="m1",
            content="ok",
            usage=TokenUsage(prompt_tokens=900, completion_tokens=20),
        ),
        ContextCompacted(
            agent="ada", seq=6, at=T0 + 5, through_seq=3, evicted=2, summary="Bob said hello."
        ),
        TimerSet(agent="ada", seq=7, at=T0 + 6, timer_id="t-1", due=T0 + 3600, text="check in"),
        SourceAttached(agent="ada", seq=8, at=T0 + 7, source="docs", passages=12),
    ]


def test_show_prints_blocks_counts_tokens_summary_timers_sources(tmp_path: Path) -> None:
    append(tmp_path, _busy_log())
    result = agents(tmp_path, "show", "ada")
    assert result.exit_code == 0, result.output
    out = result.stdout
    state = fold_all(_busy_log())
    estimate = compile_context(state, archival_count=12).estimated_tokens
    for expected in [
        "persona  9/500 chars",
        "I am Ada.",
        "human  3/2000 chars, read-only",
        "in context window  2",
        "in recall          4",
        "archival passages  12",
        f"prompt now (est.)  {estimate:,} of 4,096",
        "used in all        1,650 over 2 LLM calls",
        "Bob said hello.",
        "t-1  due 2025-01-01T01:00:00Z  check in",
        "sources      docs",
        "compactions  1",
    ]:
        assert expected in out, expected
    assert "last reported      none yet" in out  # a compaction resets the report


def test_show_json_is_one_object_with_every_figure(tmp_path: Path) -> None:
    append(tmp_path, _busy_log()[:5])
    result = agents(tmp_path, "show", "ada", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["name"] == "ada"
    assert report["blocks"][0] == {
        "label": "persona",
        "chars": 9,
        "limit": 500,
        "read_only": False,
        "shared": None,
        "value": "I am Ada.",
    }
    assert report["tokens"]["context_window"] == 4096
    assert report["tokens"]["last_prompt"] == 900
    assert report["tokens"]["used"] == 730 + 920
    assert report["messages_in_context"] == 4
    assert report["summary"] is None
    assert report["created_at"] == T0


def test_the_report_of_an_agent_not_created_by_memvisor_has_defaults() -> None:
    events: list[Event] = [UserMessage(agent="sim-0", seq=1, at=T0, text="tick")]
    report = agent_report("sim-0", events, fold_all(events))
    assert report.model is None
    assert report.created_at is None
    assert report.blocks == ()
    assert report.messages_in_recall == 1


def test_show_of_an_unknown_agent_is_a_one_line_error(tmp_path: Path) -> None:
    for _ in range(2):  # with no log, then with a log holding another agent
        result = agents(tmp_path, "show", "ghost")
        assert result.exit_code == 1
        assert result.stderr.strip().splitlines() == [
            "memvisor: error: no agent named 'ghost' (create one with `memvisor agents create`)"
        ]
        agents(tmp_path, "create", "ada")


# --- delete -------------------------------------------------------------------------------


def test_delete_with_yes_removes_every_event_and_the_name_can_be_used_again(
    tmp_path: Path,
) -> None:
    append(tmp_path, _busy_log())
    assert agents(tmp_path, "create", "bob").exit_code == 0
    result = agents(tmp_path, "delete", "ada", "--yes")
    assert result.exit_code == 0, result.output
    assert "deleted agent 'ada': 8 events" in result.stdout
    assert read_log(tmp_path, "ada") == []
    assert [e.seq for e in read_log(tmp_path, "bob")] == [1]
    assert agents(tmp_path, "list").stdout.startswith("bob\t")
    assert agents(tmp_path, "create", "ada", "--model", "new").exit_code == 0
    assert created(tmp_path, "ada").model == "new"


def test_delete_without_yes_asks_and_refuses_without_an_answer(tmp_path: Path) -> None:
    assert agents(tmp_path, "create", "ada").exit_code == 0
    unanswered = agents(tmp_path, "delete", "ada")  # no input: as in a script or cron job
    assert unanswered.exit_code == 1
    assert "pass --yes" in unanswered.stderr
    assert len(read_log(tmp_path, "ada")) == 1
    declined = agents(tmp_path, "delete", "ada", input="n\n")
    assert declined.exit_code == 0
    assert "kept 'ada'" in declined.stdout
    assert len(read_log(tmp_path, "ada")) == 1
    confirmed = agents(tmp_path, "delete", "ada", input="y\n")
    assert confirmed.exit_code == 0, confirmed.output
    assert "delete agent 'ada' and its 1 events?" in confirmed.stdout
    assert read_log(tmp_path, "ada") == []


def test_delete_of_an_unknown_agent_is_an_error(tmp_path: Path) -> None:
    result = agents(tmp_path, "delete", "ghost", "--yes")
    assert result.exit_code == 1
    assert "no agent named 'ghost'" in result.stderr
    assert not Home(tmp_path).log.exists()


def test_delete_removes_the_agents_archival_passages_and_keeps_sources(tmp_path: Path) -> None:
    assert agents(tmp_path, "create", "ada").exit_code == 0
    archival = Home(tmp_path).archival

    async def fill() -> None:
        async with open_archival(archival, embedder=None) as store:
            await store.insert(
                [
                    Passage(id="ada:5", owner="ada", text="Bob likes cats", at=T0),
                    Passage(id="ada:9", owner="ada", text="Bob has a dog", at=T0),
                    Passage(id="bob:2", owner="bob", text="Eve likes tea", at=T0),
                    Passage(id="source:docs:x:0", owner="source:docs", text="a doc", at=T0),
                ]
            )

    async def owners() -> list[str]:
        async with open_archival(archival, embedder=None) as store:
            return await store.owners()

    trio.run(fill)
    result = agents(tmp_path, "delete", "ada", "--yes")
    assert result.exit_code == 0, result.output
    assert "1 events and 2 archival passages" in result.stdout
    assert trio.run(owners) == ["bob", "source:docs"]


# --- the real command --------------------------------------------------------------------


@pytest.mark.parametrize("command", ["create", "list", "show", "delete"])
def test_every_agents_command_has_help(command: str) -> None:
    result = CliRunner().invoke(cli, ["agents", command, "--help"])
    assert result.exit_code == 0
    assert "Usage:" in result.output


def test_agents_in_a_real_process(tmp_path: Path) -> None:
    made = run_process(tmp_path, "agents", "create", "ada", "--model", "m1")
    assert made.returncode == 0, made.stderr
    listing = run_process(tmp_path, "agents", "list")
    assert listing.stdout.split("\t")[:3] == ["ada", "m1", "0 messages"]
    refused = run_process(tmp_path, "agents", "delete", "ada")
    assert refused.returncode == 1
    assert refused.stderr.strip().splitlines()[-1].startswith("memvisor: error: not deleting")
    assert "Traceback" not in refused.stderr
    gone = run_process(tmp_path, "agents", "delete", "ada", "--yes")
    assert gone.returncode == 0, gone.stderr
    assert run_process(tmp_path, "agents", "list").stdout == ""
