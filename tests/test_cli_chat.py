"""``memvisor chat``: the REPL against a fake OpenAI server, in process (CliRunner) and for
Ctrl-C in a real process.

The fake model (:func:`model`) reads the last message it is shown: a user saying
``search X`` gets a ``conversation_search`` for X, then a reply naming what was
found; anything else is echoed back with ``send_message``.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
import trio
from click.testing import CliRunner, Result

from memvisor._cli_support import Home
from memvisor.agent import builtin_registry, tools_tokens
from memvisor.cli import cli
from memvisor.events import (
    AssistantMessage,
    ContextRewound,
    Event,
    SourceAttached,
    UserMessage,
    open_sqlite_log,
)
from memvisor.memory import fold_all
from memvisor.memory._usage import context_usage

from .llm.fake_openai import Answer, FakeOpenAI, completion, fake_openai, function_call, status

NAME = "ada"


def model(body: dict[str, object]) -> Answer:
    """The fake model's policy (see the module docstring)."""
    messages = body["messages"]
    assert isinstance(messages, list)
    last = messages[-1]
    if last["role"] == "user":
        said = json.loads(last["content"])
        text = str(said.get("message", ""))
        if text.startswith("search "):
            query = text.removeprefix("search ")
            return function_call(
                "conversation_search", {"query": query, "request_heartbeat": True}
            )
        return function_call("send_message", {"message": f"You said: {text}"})
    if last["role"] == "tool" and _called(messages, last["tool_call_id"]) == "conversation_search":
        found = json.loads(last["content"])["message"].splitlines()[0]
        return function_call("send_message", {"message": f"Found: {found}"})
    return completion("Nothing more to do.")


def _called(messages: list[dict[str, object]], call_id: object) -> str:
    """The function of call ``call_id`` (the wire format's tool messages do not name it)."""
    for message in messages:
        for call in message.get("tool_calls") or ():  # type: ignore[attr-defined]
            if call["id"] == call_id:
                return str(call["function"]["name"])
    raise AssertionError(f"no call {call_id}")


@pytest.fixture
def server() -> Iterator[FakeOpenAI]:
    with fake_openai() as fake:
        fake.policy = model
        yield fake
        assert fake.errors == []


def environment(server: FakeOpenAI | None) -> dict[str, str | None]:
    return {
        "OPENAI_BASE_URL": server.base_url if server is not None else None,
        "OPENAI_API_KEY": "sk-test" if server is not None else None,
        "MEMVISOR_MODEL": None,
        "MEMVISOR_EMBEDDER": "none",
        "MEMVISOR_HOME": None,
    }


@pytest.fixture
def home(tmp_path: Path) -> Path:
    result = CliRunner().invoke(
        cli,
        [
            "--home",
            str(tmp_path),
            "agents",
            "create",
            NAME,
            "--model",
            "fake-model",
            "--persona",
            "I am Ada.",
            "--human",
            "Bob.",
            "--system",
            "You are Ada.",
        ],
        env=environment(None),
    )
    assert result.exit_code == 0, result.output
    return tmp_path


def chat(home: Path, server: FakeOpenAI | None, *lines: str, name: str = NAME) -> Result:
    """Run ``memvisor chat NAME`` in this process with ``lines`` on its stdin."""
    return CliRunner().invoke(
        cli,
        ["--home", str(home), "chat", name],
        input="".join(f"{line}\n" for line in lines),
        env=environment(server),
    )


def read_log(home: Path) -> list[Event]:
    async def read() -> list[Event]:
        async with open_sqlite_log(Home(home).log) as log:
            return await log.read(NAME)

    return trio.run(read)


def user_texts(messages: Sequence[object]) -> list[str]:
    """The texts of the user messages among a request's messages."""
    texts = []
    for message in messages:
        assert isinstance(message, dict)
        if message["role"] == "user":
            said = json.loads(message["content"])
            if said["type"] == "user_message":
                texts.append(said["message"])
    return texts


def last_request(server: FakeOpenAI) -> list[object]:
    messages = server.requests[-1]["messages"]
    assert isinstance(messages, list)
    return messages


# --- talking ----------------------------------------------------------------------------


def test_each_reply_is_printed_as_name_and_text(home: Path, server: FakeOpenAI) -> None:
    result = chat(home, server, "Hi, I'm Bob.", "How are you?")
    assert result.exit_code == 0, result.output
    out = result.stdout.splitlines()
    assert out[0].startswith("chatting with ada (model fake-model)")
    assert "ada: You said: Hi, I'm Bob." in out
    assert "ada: You said: How are you?" in out
    assert result.stderr == ""
    replies = [e.text for e in read_log(home) if isinstance(e, AssistantMessage)]
    assert replies == ["You said: Hi, I'm Bob.", "You said: How are you?"]


def test_function_calls_are_shown_as_they_happen_then_the_reply(
    home: Path, server: FakeOpenAI
) -> None:
    result = chat(home, server, "I like pizza", "search pizza")
    assert result.exit_code == 0, result.output
    out = result.stdout.splitlines()
    call = out.index('  → conversation_search(query="pizza")')
    # "search pizza" itself is in recall by then, beside the first exchange.
    assert out[call + 1] == "ada: Found: Showing 3 of 3 results (page 1/1):"
    assert "send_message" not in result.stdout  # a reply is shown as the reply


def test_a_turn_without_a_reply_says_so(home: Path, server: FakeOpenAI) -> None:
    server.script.append(completion("I will stay quiet."))
    result = chat(home, server, "Hello?")
    assert result.exit_code == 0, result.output
    assert "  (ada did not reply)" in result.stdout.splitlines()


def test_an_llm_error_is_shown_and_the_chat_goes_on(home: Path, server: FakeOpenAI) -> None:
    server.script.append(status(400, "no such model"))
    result = chat(home, server, "one", "two")
    assert result.exit_code == 0, result.output
    out = result.stdout.splitlines()
    assert out[1].startswith("  ! llm_error: ")
    assert out[1].endswith("no such model")
    assert "  (ada did not reply)" not in out  # the error says why
    assert out[2:] == ["ada: You said: two"]


def test_ctrl_d_and_exit_end_the_chat_cleanly(home: Path, server: FakeOpenAI) -> None:
    for lines in [(), ("/exit", "never sent")]:
        result = chat(home, server, *lines)
        assert result.exit_code == 0, result.output
        assert "never sent" not in result.stdout
    assert server.requests == []


# --- slash commands ---------------------------------------------------------------------


def test_memory_shows_each_block_with_its_size(home: Path, server: FakeOpenAI) -> None:
    result = chat(home, server, "/memory")
    assert result.exit_code == 0, result.output
    out = result.stdout.splitlines()
    assert out[1:5] == ["<persona> 9/2000 chars", "I am Ada.", "<human> 4/2000 chars", "Bob."]


def test_context_breaks_the_window_down_and_adds_up(home: Path, server: FakeOpenAI) -> None:
    result = chat(home, server, "Hi there", "/context")
    assert result.exit_code == 0, result.output
    schemas = tools_tokens(builtin_registry().tool_schemas())  # what every request carries
    usage = context_usage(fold_all(read_log(home)), schema_tokens=schemas)
    out = result.stdout.splitlines()
    start = next(i for i, line in enumerate(out) if line.startswith("~"))
    assert out[start] == (
        f"~{usage.total:,} of 8,192 tokens ({usage.fraction:.0%}); last reported prompt: 10"
    )
    table = {line[:42].strip(): int(line[42:].replace(",", "")) for line in out[start + 1 :]}
    assert table["user messages (1)"] > 0
    assert table["assistant (thoughts and calls) (1)"] > 0
    assert table["function results (1)"] > 0
    assert table["system prompt"] > 0
    assert table["total"] == usage.total == sum(v for k, v in table.items() if k != "total")


def test_search_finds_messages_in_recall(home: Path, server: FakeOpenAI) -> None:
    result = chat(home, server, "My cat is called Tom", "/search cat Tom", "/search zebra")
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "Showing 2 of 2 results (page 1/1):" in out
    assert "user: My cat is called Tom" in out
    assert "assistant: You said: My cat is called Tom" in out
    assert "No results found." in out
    assert len(server.requests) == 1  # searching is not a turn


def test_dump_shows_the_last_messages_as_the_model_sees_them(
    home: Path, server: FakeOpenAI
) -> None:
    result = chat(home, server, "Hello", "/dump 2", "/dump")
    assert result.exit_code == 0, result.output
    out = result.stdout.splitlines()
    first = out.index("[assistant]")
    assert out[first + 1].startswith('  → send_message({"message": "You said: Hello"})')
    assert out[first + 2].startswith("[tool send_message call-")
    assert json.loads(out[first + 3])["status"] == "OK"
    assert "[system]" in out  # /dump 10 reaches back to the system message
    assert "You are Ada." in out


def test_pop_takes_the_last_messages_out_of_the_context(home: Path, server: FakeOpenAI) -> None:
    result = chat(home, server, "Hello", "/pop 2", "Again")
    assert result.exit_code == 0, result.output
    assert "removed 2 messages from the context window (they stay in recall)" in result.stdout
    events = read_log(home)
    rewinds = [e for e in events if isinstance(e, ContextRewound)]
    assert len(rewinds) == 1
    # Hello (2), llm_responded (3), tool_called, assistant_message, tool_returned (6):
    # the queue holds 2, 3 and 6, so popping two starts at the response.
    assert rewinds[0].from_seq == 3
    seen = last_request(server)
    assert user_texts(seen) == ["Hello", "Again"]
    assert [m["role"] for m in seen if isinstance(m, dict)] == ["system", "user", "user"]
    assert len([e for e in events if isinstance(e, AssistantMessage)]) == 2  # still in recall


def test_pop_with_nothing_in_the_context_or_a_bad_count_changes_nothing(
    home: Path, server: FakeOpenAI
) -> None:
    result = chat(home, server, "/pop", "/pop zero", "/dump -1")
    assert result.exit_code == 0, result.output
    assert "the context window holds no messages" in result.stdout
    assert "usage: /pop [N]" in result.stdout
    assert "usage: /dump [N]" in result.stdout
    assert len(read_log(home)) == 1


def test_retry_rewinds_to_the_last_user_message_and_sends_it_again(
    home: Path, server: FakeOpenAI
) -> None:
    result = chat(home, server, "First", "Second", "/retry")
    assert result.exit_code == 0, result.output
    assert "retrying: Second" in result.stdout
    assert result.stdout.count("ada: You said: Second") == 2
    events = read_log(home)
    seconds = [e for e in events if isinstance(e, UserMessage) and e.text == "Second"]
    assert len(seconds) == 2
    rewind = next(e for e in events if isinstance(e, ContextRewound))
    assert rewind.from_seq == seconds[0].seq
    assert rewind.seq < seconds[1].seq
    assert user_texts(last_request(server)) == ["First", "Second"]  # the first answer is gone
    assert fold_all(events).queue[-1].seq > seconds[1].seq


def test_retry_with_no_message_yet_says_so(home: Path, server: FakeOpenAI) -> None:
    result = chat(home, server, "/retry")
    assert result.exit_code == 0, result.output
    assert "no message to retry" in result.stdout
    assert server.requests == []


def test_attach_makes_a_loaded_source_searchable(
    home: Path, server: FakeOpenAI, tmp_path: Path
) -> None:
    doc = tmp_path / "notes.txt"
    doc.write_text("The office moves to Lisbon in May.", encoding="utf-8")
    loaded = CliRunner().invoke(
        cli,
        ["--home", str(home), "load", "notes", str(doc), "--embedder", "none"],
        env=environment(None),
    )
    assert loaded.exit_code == 0, loaded.output
    result = chat(home, server, "/attach nowhere", "/attach notes", "/attach notes")
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "cannot attach: no data source named 'nowhere'" in out
    assert "attached 'notes' (1 passages) to 'ada'" in out
    assert "'notes' was already attached to 'ada'" in out
    attached = [e for e in read_log(home) if isinstance(e, SourceAttached)]
    assert [(e.source, e.passages) for e in attached] == [("notes", 1)]


def test_help_lists_the_commands_and_an_unknown_one_gets_a_hint(
    home: Path, server: FakeOpenAI
) -> None:
    result = chat(home, server, "/help", "/frobnicate now")
    assert result.exit_code == 0, result.output
    for word in ["/memory", "/context", "/search", "/dump", "/pop", "/retry", "/attach", "/exit"]:
        assert f"  {word}" in result.stdout
    assert "unknown command /frobnicate: /help lists the commands" in result.stdout
    assert server.requests == []


# --- failing before the REPL starts -----------------------------------------------------


def test_no_llm_configured_exits_2_with_one_sentence_before_any_prompt(home: Path) -> None:
    result = chat(home, None, "Hello")
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        "memvisor: error: no LLM is configured: set OPENAI_BASE_URL to an OpenAI-compatible"
        " server (e.g. http://localhost:11434/v1 for Ollama) or OPENAI_API_KEY for OpenAI,"
        " and choose a model with --model or MEMVISOR_MODEL"
    ]
    assert len(read_log(home)) == 1


def test_an_unknown_agent_is_a_one_line_error(home: Path, server: FakeOpenAI) -> None:
    result = chat(home, server, "Hello", name="ghost")
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        "memvisor: error: no agent named 'ghost' (create one with `memvisor agents create`)"
    ]


# --- Ctrl-C, in a real process ----------------------------------------------------------


def test_ctrl_c_during_a_turn_stops_it_without_a_traceback(home: Path) -> None:
    with fake_openai() as server:
        server.script.append(function_call("send_message", {"message": "late"}, delay=60.0))
        server.policy = model
        env = {k: v for k, v in os.environ.items() if k not in {"MEMVISOR_MODEL"}}
        env |= {"OPENAI_BASE_URL": server.base_url, "OPENAI_API_KEY": "sk-test"}
        env |= {"MEMVISOR_EMBEDDER": "none", "MEMVISOR_HOME": str(home)}
        child = subprocess.Popen(
            [sys.executable, "-c", "from memvisor.cli import main; main()", "chat", NAME],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        assert child.stdin is not None
        child.stdin.write("Hello\n")
        child.stdin.flush()
        deadline = time.monotonic() + 30
        while not server.requests:
            assert time.monotonic() < deadline, "the model was never asked"
            time.sleep(0.05)
        time.sleep(0.2)
        started = time.monotonic()
        child.send_signal(signal.SIGINT)
        out, err = child.communicate("After\n", timeout=30)
        assert time.monotonic() - started < 20  # not waiting out the 60 s answer
    assert child.returncode == 0, err
    assert "Traceback" not in err
    assert "(interrupted: the agent finishes this turn before your next message)" in out
    assert "ada: You said: After" in out  # the chat went on
    assert "late" not in out
    messages = [e.text for e in read_log(home) if isinstance(e, UserMessage)]
    assert messages == ["Hello", "After"]
