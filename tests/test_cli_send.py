"""``memvisor send``: each run a real process, talking to a fake OpenAI server over HTTP.

The agent is created by appending its ``agent_created`` to the home's log (not
through ``memvisor agents create``); everything after that goes through the
command: a fact told, pushed out of the context by long talk and found again in
recall, and turns killed with SIGKILL at random points and finished by the next run.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import trio

from memvisor.events import (
    AgentCreated,
    AssistantMessage,
    BlockSpec,
    ContextCompacted,
    Event,
    LLMResponded,
    ToolCalled,
    ToolReturned,
    UserMessage,
    event_type,
    open_sqlite_log,
)
from memvisor.memory import fold_all

from .llm.fake_openai import (
    Answer,
    FakeOpenAI,
    completion,
    fake_openai,
    function_call,
    status,
    tool_call,
)

NAME = "ada"
T0 = 1_735_689_600.0  # 2025-01-01T00:00:00Z
# No `python -m memvisor` (there is no __main__): the console script beside this Python.
MEMVISOR = Path(sys.executable).parent / "memvisor"
RUN_TIMEOUT = 120.0  # seconds a run may take before the test gives up on it (not a measure)


# --- helpers ----------------------------------------------------------------------------


@pytest.fixture
def server() -> Iterator[FakeOpenAI]:
    with fake_openai() as fake:
        yield fake
        assert fake.errors == []


def create_agent(home: Path, *, context_window: int = 8192) -> None:
    """Log an ``agent_created`` in ``home`` (what ``memvisor agents create`` will do)."""
    created = AgentCreated(
        agent=NAME,
        seq=1,
        at=T0,
        model="fake-model",
        system="You are Ada, a friendly assistant.",
        blocks=(
            BlockSpec(label="persona", value="I am Ada."),
            BlockSpec(label="human", value="Unknown."),
        ),
        context_window=context_window,
    )

    async def append() -> None:
        async with open_sqlite_log(home / "events.sqlite3") as log:
            await log.append([created])

    trio.run(append)


def read_log(home: Path) -> list[Event]:
    async def read() -> list[Event]:
        async with open_sqlite_log(home / "events.sqlite3") as log:
            return await log.read(NAME)

    return trio.run(read)


def check_log(events: list[Event]) -> None:
    """No seq gaps, every started call has its result, and the log folds."""
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    called = {e.seq for e in events if isinstance(e, ToolCalled)}
    answered = {e.cause for e in events if isinstance(e, ToolReturned)}
    assert called == answered
    fold_all(events)


def turn_of(events: list[Event], event: Event) -> int:
    """The seq of the user message whose turn logged ``event`` (following causes)."""
    while not isinstance(event, UserMessage):
        cause = getattr(event, "cause", None)
        assert isinstance(cause, int), event
        event = events[cause - 1]
    return event.seq


def environment(home: Path, server: FakeOpenAI | None) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"OPENAI_BASE_URL", "OPENAI_API_KEY", "MEMVISOR_MODEL", "MEMVISOR_HOME"}
    }
    env["MEMVISOR_HOME"] = str(home)
    if server is not None:
        env["OPENAI_BASE_URL"] = server.base_url
    return env


def send(
    home: Path, server: FakeOpenAI | None, message: str, *options: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(MEMVISOR), "send", NAME, message, *options],
        env=environment(home, server),
        capture_output=True,
        text=True,
        check=False,
        timeout=RUN_TIMEOUT,
    )


def messages_of(body: dict[str, object]) -> list[dict[str, object]]:
    messages = body["messages"]
    assert isinstance(messages, list)
    return messages


def said(message: dict[str, object]) -> tuple[str, str]:
    """(type, text) of a ``user`` message as the agent renders inputs, e.g.
    ``("user_message", "hi")`` or ``("system_alert", "Memory pressure: …")``."""
    payload = json.loads(str(message["content"]))
    return str(payload["type"]), str(payload.get("message", ""))


def answered_call(messages: list[dict[str, object]]) -> str:
    """The function whose result is the last (``tool``) message."""
    call_id = messages[-1]["tool_call_id"]
    for message in reversed(messages):
        for call in message.get("tool_calls") or ():  # type: ignore[attr-defined]
            if call["id"] == call_id:
                return str(call["function"]["name"])
    raise AssertionError(f"no call {call_id} before its result")


def usage_of(body: dict[str, object]) -> tuple[int, int]:
    """What a real server would report: about one token per four bytes of the request."""
    return len(json.dumps(body)) // 4, 20


def reply(text: str, body: dict[str, object], *, delay: float = 0.0) -> Answer:
    return function_call("send_message", {"message": text}, usage=usage_of(body), delay=delay)


# --- replies, errors --------------------------------------------------------------------


def test_each_reply_is_printed_on_its_own_line(tmp_path: Path, server: FakeOpenAI) -> None:
    create_agent(tmp_path)
    server.script.append(
        completion(
            "Two things to say.",
            [
                tool_call("send_message", '{"message": "Hello Bob!"}', "c1"),
                tool_call("send_message", '{"message": "How can I help?"}', "c2"),
            ],
            finish_reason="tool_calls",
        )
    )
    result = send(tmp_path, server, "Hi, I'm Bob.")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "Hello Bob!\nHow can I help?\n"
    assert result.stderr == ""
    # The model was asked with the agent's model and saw the message.
    assert server.requests[0]["model"] == "fake-model"
    assert "Hi, I'm Bob." in json.dumps(server.requests[0]["messages"])


def test_json_prints_one_object_per_reply(tmp_path: Path, server: FakeOpenAI) -> None:
    create_agent(tmp_path)
    server.script.append(
        completion(
            None,
            [
                tool_call("send_message", '{"message": "One"}', "c1"),
                tool_call("send_message", '{"message": "Two\\nlines"}', "c2"),
            ],
            finish_reason="tool_calls",
        )
    )
    result = send(tmp_path, server, "Hi", "--json")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    replies = [json.loads(line) for line in lines]
    assert [r["text"] for r in replies] == ["One", "Two\nlines"]
    logged = [e for e in read_log(tmp_path) if isinstance(e, AssistantMessage)]
    assert replies == [{"agent": NAME, "seq": e.seq, "at": e.at, "text": e.text} for e in logged]


def test_without_an_llm_configured_it_says_how_to_set_one_and_exits_2(tmp_path: Path) -> None:
    create_agent(tmp_path)
    result = send(tmp_path, None, "Hi")
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1
    assert "OPENAI_BASE_URL" in lines[0]
    assert "Traceback" not in result.stderr


def test_a_refusing_server_fails_the_turn_in_one_line_and_exit_1(
    tmp_path: Path, server: FakeOpenAI
) -> None:
    create_agent(tmp_path)
    server.script.append(status(401, "Incorrect API key provided"))
    result = send(tmp_path, server, "Hi")
    assert result.returncode == 1
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert "401" in lines[0]
    assert "OPENAI_API_KEY" in lines[0]
    assert len(server.requests) == 1  # not retried
    # The turn's failure is in the log, and the agent answers the next message.
    assert [type(e).__name__ for e in read_log(tmp_path)][-1] == "ErrorEvent"
    server.script.append(completion(None, [tool_call("send_message", '{"message": "Hi!"}')]))
    again = send(tmp_path, server, "Hi again")
    assert again.returncode == 0, again.stderr
    assert again.stdout == "Hi!\n"


@pytest.mark.parametrize("log_exists", [False, True], ids=["no-log", "other-agent"])
def test_an_unknown_agent_is_one_line_and_exit_1(
    tmp_path: Path, server: FakeOpenAI, log_exists: bool
) -> None:
    if log_exists:
        create_agent(tmp_path)
    result = subprocess.run(
        [str(MEMVISOR), "send", "nobody", "Hi"],
        env=environment(tmp_path, server),
        capture_output=True,
        text=True,
        check=False,
        timeout=RUN_TIMEOUT,
    )
    assert result.returncode == 1
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert "nobody" in lines[0]
    assert server.requests == []


# --- deep memory retrieval --------------------------------------------------------------

FACT = "By the way, my sister's name is Zelda."
QUESTION = "What is my sister's name?"
SUMMARY = "Ada and the user talked at length about the weather and their gardens."
FILLER = (
    "Let me tell you about the weather this week. On Monday it rained from dawn until"
    " late in the evening, and the garden path turned to mud. Tuesday was grey and cold,"
    " with a sharp wind from the north that bent the young apple trees. Wednesday"
    " brought a little sun around noon, enough to dry the washing, but by four o'clock"
    " the clouds were back. "
)


def remembering_model(body: dict[str, object]) -> Answer:
    """A model with no memory of its own: it answers from its prompt, and searches
    recall when asked about something the prompt does not hold."""
    messages = messages_of(body)
    if "tools" not in body:  # the summarizer
        return completion(SUMMARY, usage=usage_of(body))
    if messages[-1]["role"] == "tool":
        searched = answered_call(messages) == "conversation_search"
        found = searched and "Zelda" in str(messages[-1]["content"])
        return reply("Your sister's name is Zelda." if found else "I could not find that.", body)
    kind, text = said(messages[-1])
    if kind == "system_alert":  # memory pressure: nothing worth saving here
        return completion("My context is filling up; nothing to save.", usage=usage_of(body))
    if text != QUESTION:
        return reply("I see.", body)
    if "Zelda" in json.dumps(messages):
        return reply("Zelda, you told me.", body)
    search = {"query": "sister", "request_heartbeat": True}
    return function_call("conversation_search", search, usage=usage_of(body))


@pytest.mark.slow
def test_a_fact_pushed_out_of_the_context_is_found_again_in_recall(
    tmp_path: Path, server: FakeOpenAI
) -> None:
    server.policy = remembering_model
    create_agent(tmp_path, context_window=4096)
    told = send(tmp_path, server, FACT)
    assert told.returncode == 0, told.stderr
    # Long talk, one process per turn, until the fact has left the context.
    for turn in range(10):
        result = send(tmp_path, server, f"Turn {turn}. " + FILLER * 8)
        assert result.returncode == 0, result.stderr
        if any(isinstance(e, ContextCompacted) for e in read_log(tmp_path)):
            break
    events = read_log(tmp_path)
    fact = next(e for e in events if isinstance(e, UserMessage) and e.text == FACT)
    compactions = [e for e in events if isinstance(e, ContextCompacted)]
    assert compactions, "the filler never filled the context"
    assert compactions[-1].through_seq > fact.seq  # the fact was evicted …
    assert "Zelda" not in compactions[-1].summary  # … and the summary dropped it
    assert "tools" not in server.requests[-1]  # (the summary was the last call)

    asked = send(tmp_path, server, QUESTION)
    assert asked.returncode == 0, asked.stderr
    assert asked.stdout.splitlines() == ["Your sister's name is Zelda."]
    # The question's step had the fact nowhere in view: it came from recall.
    question = next(
        body
        for body in server.requests
        if "tools" in body
        and messages_of(body)[-1]["role"] == "user"
        and said(messages_of(body)[-1])[1] == QUESTION
    )
    assert "Zelda" not in json.dumps(messages_of(question))
    events = read_log(tmp_path)
    searches = [e for e in events if isinstance(e, ToolCalled) and e.name == "conversation_search"]
    assert len(searches) == 1
    found = next(e for e in events if isinstance(e, ToolReturned) and e.cause == searches[0].seq)
    assert found.status == "ok"
    assert "Zelda" in found.content
    check_log(events)


# --- crashes ----------------------------------------------------------------------------


class ChainingModel:
    """For "Round N" it chains three steps, each asked for by a heartbeat:
    core_memory_append, conversation_search, send_message. Its last answer is held
    (for a minute, or until the server stops) while ``hold`` is set, so a process
    killed meanwhile is always in the middle of a turn. Anything else gets a reply."""

    def __init__(self) -> None:
        self.hold = False

    def __call__(self, body: dict[str, object]) -> Answer:
        messages = messages_of(body)
        last = messages[-1]
        if last["role"] == "tool":
            match answered_call(messages):
                case "core_memory_append":
                    return function_call(
                        "conversation_search", {"query": "Round", "request_heartbeat": True}
                    )
                case "conversation_search":
                    return reply("Round noted.", body, delay=60.0 if self.hold else 0.0)
                case _:
                    return reply("Something failed; moving on.", body)
        kind, text = said(last)
        if kind == "user_message" and text.startswith("Round"):
            return function_call(
                "core_memory_append",
                {"name": "human", "content": text.split(":")[0], "request_heartbeat": True},
            )
        return reply(f"Still here: {text}", body)


def wait_for_requests(server: FakeOpenAI, count: int, process: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + RUN_TIMEOUT
    while len(server.requests) < count:
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "the process never called the model"
        time.sleep(0.002)


@pytest.mark.slow
def test_a_turn_killed_anywhere_is_finished_by_the_next_run(
    tmp_path: Path, server: FakeOpenAI, rng: random.Random
) -> None:
    model = ChainingModel()
    server.policy = model
    create_agent(tmp_path)
    for round_ in range(3):
        # Kill after the process made its k-th model call (k = 1 … 3), a random
        # moment later: before the answer, mid-call, between appends…
        model.hold = True
        calls = rng.randint(1, 3)
        pause = rng.uniform(0.0, 0.008)
        seen = len(server.requests)
        text = f"Round {round_}: keep going"
        process = subprocess.Popen(
            [str(MEMVISOR), "send", NAME, text],
            env=environment(tmp_path, server),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            wait_for_requests(server, seen + calls, process)
            time.sleep(pause)
            assert process.poll() is None, process.communicate()  # still mid-turn
            process.send_signal(signal.SIGKILL)
        finally:
            process.kill()
            process.communicate()
        model.hold = False
        before = read_log(tmp_path)
        killed = next(e for e in before if isinstance(e, UserMessage) and e.text == text)
        tail = [event_type(e) for e in before if e.seq >= killed.seq]
        print(f"round {round_}: killed {pause:.3f}s after model call {calls}; logged {tail}")

        after_text = f"After round {round_}"
        result = send(tmp_path, server, after_text)
        assert result.returncode == 0, result.stderr
        assert result.stdout.splitlines()[-1] == f"Still here: {after_text}"

        events = read_log(tmp_path)
        assert events[: len(before)] == before  # nothing logged before the kill was lost
        check_log(events)
        new = next(e for e in events if isinstance(e, UserMessage) and e.text == after_text)
        # The interrupted turn stepped again (and replied) before the new message was logged.
        finishing = [
            e
            for e in events[len(before) : new.seq - 1]
            if isinstance(e, LLMResponded) and e.cause == killed.seq
        ]
        assert finishing, f"round {round_} (killed after call {calls}) was not finished"
        replies = [e for e in events if isinstance(e, AssistantMessage)]
        assert [r.text for r in replies if turn_of(events, r) == killed.seq] == ["Round noted."]
        assert [r.text for r in replies if turn_of(events, r) == new.seq] == [
            f"Still here: {after_text}"
        ]
        # Its memory edit was made exactly once, however the kill fell.
        human = fold_all(events).memory.get("human")
        assert human is not None
        assert human.value.count(f"Round {round_}") == 1, (calls, pause, human.value)

    # The log of killed and finished turns replays with the same decisions and prompts
    # (no LLM server: the replay needs none).
    check = subprocess.run(
        [str(MEMVISOR), "replay", NAME, "--check"],
        env=environment(tmp_path, None),
        capture_output=True,
        text=True,
        check=False,
        timeout=RUN_TIMEOUT,
    )
    assert check.returncode == 0, check.stdout + check.stderr
    assert "replayed with the same decisions" in check.stdout
