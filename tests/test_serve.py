"""``memvisor serve`` as a user runs it: a process, a config, real HTTP, files, signals."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import anyio
import httpx2 as httpx
import pytest

from memvisor.events import (
    AgentCreated,
    AgentMessage,
    AssistantMessage,
    Event,
    ExternalEvent,
    TimerCancelled,
    TimerSet,
    open_sqlite_log,
)
from memvisor.memory import fold_all
from memvisor.sources import webhook_signature

from .llm.fake_openai import Answer, FakeOpenAI, fake_openai, function_call

pytestmark = pytest.mark.slow

MEMVISOR = Path(sys.executable).parent / "memvisor"
SECRET = "s3cret-for-tests"

CONFIG = """
[server]
host = "127.0.0.1"
port = {port}

[[agents]]
name = "support"
persona = "You are the support agent of a small bookshop."
model = "fake-model"

[[webhooks]]
agent = "support"
secret_env = "SUPPORT_WEBHOOK_SECRET"

[[watch]]
agent = "support"
path = "./inbox"
glob = "*.txt"

[[timers]]
agent = "support"
every = "1h"
text = "Look through the inbox for anything unanswered."
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_for(check: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.05)


def events_of(home: Path, agent: str) -> list[Event]:
    async def read() -> list[Event]:
        async with open_sqlite_log(home / "events.sqlite3") as log:
            return list(await log.read(agent))

    return anyio.run(read)


@pytest.fixture
def server() -> Iterator[FakeOpenAI]:
    with fake_openai() as fake:
        fake.policy = lambda body: function_call("send_message", {"message": "Thanks, noted."})
        yield fake


def start(tmp_path: Path, server: FakeOpenAI, port: int) -> subprocess.Popen[str]:
    env = {
        **os.environ,
        "OPENAI_BASE_URL": server.base_url,
        "OPENAI_API_KEY": "sk-test",
        "SUPPORT_WEBHOOK_SECRET": SECRET,
        "MEMVISOR_HOME": str(tmp_path / "home"),
    }
    proc = subprocess.Popen(
        [str(MEMVISOR), "serve", "--config", str(tmp_path / "memvisor.toml")],
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )

    def healthy() -> bool:
        assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
        try:
            return httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200
        except httpx.TransportError:
            return False

    wait_for(healthy)
    return proc


def stop(proc: subprocess.Popen[str]) -> str:
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    return err


def signed_post(
    port: int, body: dict[str, object], key: str | None = None, *, agent: str = "support"
) -> httpx.Response:
    raw = json.dumps(body).encode()
    headers = {
        "content-type": "application/json",
        "x-memvisor-signature": webhook_signature(SECRET.encode(), raw),
    }
    if key is not None:
        headers["idempotency-key"] = key
    url = f"http://127.0.0.1:{port}/agents/{agent}/events"
    return httpx.post(url, content=raw, headers=headers, timeout=10)


def test_serve_takes_webhooks_files_and_timers_and_stops_cleanly(
    tmp_path: Path, server: FakeOpenAI
) -> None:
    port = free_port()
    (tmp_path / "memvisor.toml").write_text(CONFIG.format(port=port))
    home = tmp_path / "home"
    proc = start(tmp_path, server, port)
    try:
        accepted = signed_post(port, {"text": "Where is order 1042?"}, key="order-1042")
        assert accepted.status_code == 202, accepted.text
        again = signed_post(port, {"text": "Where is order 1042?"}, key="order-1042")
        assert again.status_code == 200
        assert again.json()["duplicate"] is True
        forged = httpx.post(
            f"http://127.0.0.1:{port}/agents/support/events",
            content=b'{"text": "x"}',
            headers={"content-type": "application/json", "x-memvisor-signature": "sha256=00"},
        )
        assert forged.status_code == 401
        target = "/agents/support/messages?after=0&wait=20"
        read = httpx.get(
            f"http://127.0.0.1:{port}{target}",
            headers={"x-memvisor-signature": webhook_signature(SECRET.encode(), target.encode())},
            timeout=30,
        )
        assert read.status_code == 200, read.text
        assert [m["text"] for m in read.json()["messages"]] == ["Thanks, noted."]
        (tmp_path / "inbox" / "note.txt").write_text("Please call Ada back.")

        def saw_the_file() -> bool:
            return any(
                isinstance(e, ExternalEvent) and e.source.startswith("watch:")
                for e in events_of(home, "support")
            )

        wait_for(saw_the_file)
    finally:
        err = stop(proc)
    assert "stopped" in err
    events = events_of(home, "support")
    webhooks = [e for e in events if isinstance(e, ExternalEvent) and e.source == "webhook"]
    assert [e.text for e in webhooks] == ["Where is order 1042?"]  # exactly once
    assert any(
        getattr(e, "type", None) == "timer_set" or type(e).__name__ == "TimerSet" for e in events
    )

    # A second start reuses the agent and its timer, and takes new events.
    proc = start(tmp_path, server, port)
    try:
        assert signed_post(port, {"text": "Thanks!"}).status_code == 202
        wait_for(
            lambda: (
                len([e for e in events_of(home, "support") if isinstance(e, ExternalEvent)]) >= 3
            )
        )
    finally:
        stop(proc)
    events = events_of(home, "support")
    assert sum(isinstance(e, AgentCreated) for e in events) == 1
    assert sum(type(e).__name__ == "TimerSet" for e in events) == 1


def test_a_timer_edited_in_the_config_replaces_the_old_one(
    tmp_path: Path, server: FakeOpenAI
) -> None:
    port = free_port()
    config = tmp_path / "memvisor.toml"
    config.write_text(CONFIG.format(port=port))
    home = tmp_path / "home"
    stop(start(tmp_path, server, port))
    config.write_text(CONFIG.format(port=port).replace('every = "1h"', 'cron = "0 9 * * *"'))
    stop(start(tmp_path, server, port))
    events = events_of(home, "support")
    (first, second) = [e for e in events if isinstance(e, TimerSet)]
    (cancelled,) = [e for e in events if isinstance(e, TimerCancelled)]
    assert cancelled.timer_id == first.timer_id != second.timer_id
    assert (first.every, second.cron) == (3600.0, "0 9 * * *")
    assert [t.timer_id for t in fold_all(events).timers] == [second.timer_id]


def test_a_port_in_use_is_one_line_naming_it(tmp_path: Path, server: FakeOpenAI) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        (tmp_path / "memvisor.toml").write_text(CONFIG.format(port=port))
        env = {
            **os.environ,
            "OPENAI_BASE_URL": server.base_url,
            "SUPPORT_WEBHOOK_SECRET": SECRET,
            "MEMVISOR_HOME": str(tmp_path / "home"),
        }
        result = subprocess.run(
            [str(MEMVISOR), "serve", "--config", str(tmp_path / "memvisor.toml")],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert result.returncode == 1, result.stderr
    assert f"cannot listen on 127.0.0.1:{port}" in result.stderr
    assert "Traceback" not in result.stderr


def test_serve_without_an_llm_says_how_to_configure_one(tmp_path: Path) -> None:
    (tmp_path / "memvisor.toml").write_text(CONFIG.format(port=free_port()))
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENAI_")}
    result = subprocess.run(
        [
            str(MEMVISOR),
            "--home",
            str(tmp_path),
            "serve",
            "--config",
            str(tmp_path / "memvisor.toml"),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert "OPENAI_BASE_URL" in result.stderr
    assert "Traceback" not in result.stderr


# --- shutdown and crashes ---------------------------------------------------------------------


def logged_inbox_ids(home: Path) -> list[int]:
    """The inbox ids of the events the agent has logged, in log order."""
    return [
        e.inbox
        for e in events_of(home, "support")
        if isinstance(e, ExternalEvent) and e.inbox is not None
    ]


def test_sigterm_lets_the_turn_in_flight_finish(tmp_path: Path, server: FakeOpenAI) -> None:
    port = free_port()
    (tmp_path / "memvisor.toml").write_text(CONFIG.format(port=port))
    home = tmp_path / "home"
    reply: dict[str, object] = {"message": "Order 7 ships today."}
    server.policy = lambda body: function_call("send_message", reply, delay=2.0)  # slow model
    proc = start(tmp_path, server, port)
    try:
        assert signed_post(port, {"text": "Where is order 7?"}).status_code == 202
        wait_for(lambda: len(server.requests) >= 1)  # the model is thinking: a turn in flight
    except BaseException:
        proc.kill()
        raise
    err = stop(proc)  # SIGTERM, then exit 0
    assert "stopped" in err
    events = events_of(home, "support")
    replies = [e.text for e in events if isinstance(e, AssistantMessage) and e.to is None]
    assert replies == ["Order 7 ships today."]
    assert logged_inbox_ids(home) == [1]


def test_a_killed_serve_hands_every_accepted_event_to_its_agent_after_a_restart(
    tmp_path: Path, server: FakeOpenAI
) -> None:
    port = free_port()
    (tmp_path / "memvisor.toml").write_text(CONFIG.format(port=port))
    home = tmp_path / "home"
    reply: dict[str, object] = {"message": "Thanks, noted."}
    server.policy = lambda body: function_call("send_message", reply, delay=5.0)  # slow model
    proc = start(tmp_path, server, port)
    try:
        accepted = []
        for i in range(8):
            answer = signed_post(port, {"text": f"ticket {i}"}, key=f"ticket-{i}")
            assert answer.status_code == 202, answer.text
            accepted.append(answer.json()["id"])
    finally:
        proc.kill()  # SIGKILL: no clean shutdown at all
        proc.communicate(timeout=30)
    assert accepted == list(range(1, 9))
    assert len(logged_inbox_ids(home)) < len(accepted)  # most were still in the inbox only

    server.policy = lambda body: function_call("send_message", reply)
    proc = start(tmp_path, server, port)
    try:
        wait_for(lambda: set(accepted) <= set(logged_inbox_ids(home)), timeout=60)
        again = signed_post(port, {"text": "ticket 0"}, key="ticket-0")
        assert again.status_code == 200  # the keys survived the crash too
        assert again.json() == {"duplicate": True, "id": 1}
    finally:
        stop(proc)
    assert logged_inbox_ids(home) == accepted  # each exactly once, in order
    texts = [
        e.text for e in events_of(home, "support") if isinstance(e, ExternalEvent) and e.inbox
    ]
    assert texts == [f"ticket {i}" for i in range(8)]


TWO_AGENTS = """
[server]
host = "127.0.0.1"
port = {port}

[[agents]]
name = "front"
persona = "You are the front desk."
model = "fake-model"

[[agents]]
name = "back"
persona = "You are the back office."
model = "fake-model"

[[webhooks]]
agent = "front"
secret_env = "SUPPORT_WEBHOOK_SECRET"
"""


def passing_on(back_delay: float) -> Callable[[dict[str, object]], Answer]:
    """front passes each ticket to back; back answers after ``back_delay`` seconds."""

    def policy(body: dict[str, object]) -> Answer:
        messages = body["messages"]
        assert isinstance(messages, list)
        if "front desk" in messages[0]["content"]:
            ticket = json.loads(messages[-1]["content"]).get("message", "")
            arguments = {"agent": "back", "message": ticket, "request_heartbeat": False}
            return function_call("send_message_to_agent", arguments)
        return function_call("send_message", {"message": "Handled."}, delay=back_delay)

    return policy


def passed_on(home: Path) -> tuple[list[int], list[int]]:
    """The seqs of front's messages to back, and the causes of what back logged of them."""
    sent = [e.seq for e in events_of(home, "front") if isinstance(e, AssistantMessage) and e.to]
    got = [e.cause for e in events_of(home, "back") if isinstance(e, AgentMessage)]
    return sent, [cause for cause in got if cause is not None]


def test_a_killed_serve_loses_no_message_between_agents(
    tmp_path: Path, server: FakeOpenAI
) -> None:
    port = free_port()
    (tmp_path / "memvisor.toml").write_text(TWO_AGENTS.format(port=port))
    home = tmp_path / "home"
    server.policy = passing_on(back_delay=30.0)  # back is busy with the first one
    proc = start(tmp_path, server, port)
    try:
        for i in range(6):
            answer = signed_post(port, {"text": f"ticket {i}"}, key=f"t{i}", agent="front")
            assert answer.status_code == 202, answer.text
        wait_for(lambda: len(passed_on(home)[0]) == 6, timeout=60)
    finally:
        proc.kill()  # SIGKILL: what waited in back's mailbox was in memory only
        proc.communicate(timeout=30)
    sent, got = passed_on(home)
    assert len(got) < len(sent)

    server.policy = passing_on(back_delay=0.0)
    proc = start(tmp_path, server, port)
    try:
        wait_for(lambda: len(passed_on(home)[1]) >= 6, timeout=60)
        time.sleep(0.5)  # anything delivered twice would be logged by now
    finally:
        stop(proc)
    sent, got = passed_on(home)
    assert got == sent  # each message exactly once, in order
