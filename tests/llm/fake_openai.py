"""A fake OpenAI-compatible ``/v1/chat/completions`` server on 127.0.0.1, in a thread.

Tests drive the real openai SDK against it over real HTTP. ``script`` says how
to answer the next requests, one :class:`Answer` each; once it is empty, the
``policy`` (if set) answers each request from its JSON body, so a test can play
a model that reacts to what it is shown; without one every request gets
:data:`DEFAULT`. Every request's JSON body and headers are kept.

    with fake_openai() as server:
        server.script.append(status(429, headers={"Retry-After": "1"}))
        server.policy = lambda body: completion("Hi")
        client = OpenAIClient(base_url=server.base_url, api_key="sk-test")

An answer's ``delay`` is cut short when the server stops, so a test may hold a
response far longer than it runs (a client killed while it waits).
"""

from __future__ import annotations

import http.server
import itertools
import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

__all__ = [
    "DEFAULT",
    "Answer",
    "FakeOpenAI",
    "Policy",
    "completion",
    "fake_openai",
    "function_call",
    "status",
    "tool_call",
]


@dataclass(frozen=True)
class Answer:
    """One scripted answer: status, raw body, headers, and a delay before it is sent."""

    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


def tool_call(name: str, arguments: str, call_id: str = "call-1") -> dict[str, object]:
    """One ``tool_calls`` entry, the way OpenAI writes it."""
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}


def completion(
    content: str | None = "ok",
    tool_calls: list[dict[str, object]] | None = None,
    *,
    finish_reason: str = "stop",
    usage: tuple[int, int] = (10, 2),
    model: str = "fake-model",
    delay: float = 0.0,
) -> Answer:
    """A 200 with a chat completion."""
    message: dict[str, object] = {"role": "assistant", "content": content}
    if tool_calls is not None:
        message["tool_calls"] = tool_calls
    body = {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 0,
        "model": model,
        "choices": [{"index": 0, "message": message, "finish_reason": finish_reason}],
        "usage": {
            "prompt_tokens": usage[0],
            "completion_tokens": usage[1],
            "total_tokens": sum(usage),
        },
    }
    return Answer(body=json.dumps(body).encode(), delay=delay)


_call_ids = itertools.count(1)


def function_call(
    name: str,
    arguments: dict[str, object] | str,
    *,
    content: str | None = None,
    usage: tuple[int, int] = (10, 2),
    delay: float = 0.0,
) -> Answer:
    """A 200 whose message calls ``name`` once (a fresh call id each time).

    ``arguments`` given as a dict are written as JSON; a string is sent as is
    (malformed, if a test wants that).
    """
    text = arguments if isinstance(arguments, str) else json.dumps(arguments)
    call = tool_call(name, text, call_id=f"call-{next(_call_ids)}")
    return completion(content, [call], finish_reason="tool_calls", usage=usage, delay=delay)


def status(
    code: int,
    message: str = "scripted failure",
    *,
    error_code: str | None = None,
    headers: dict[str, str] | None = None,
) -> Answer:
    """An error answer in OpenAI's format."""
    error = {"message": message, "type": "server_error", "code": error_code}
    return Answer(status=code, body=json.dumps({"error": error}).encode(), headers=headers or {})


DEFAULT = completion()

Policy = Callable[[dict[str, object]], Answer]
"""Plays the model once the script is empty: a request's JSON body in, its answer out."""


@dataclass
class FakeOpenAI:
    """The server's state: what to answer next and what it was sent."""

    base_url: str = ""
    script: list[Answer] = field(default_factory=list)
    requests: list[dict[str, object]] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)
    """Each request's headers, names in lower case."""
    paths: list[str] = field(default_factory=list)
    times: list[float] = field(default_factory=list)
    policy: Policy | None = None
    """Answers the requests the script does not (called under ``lock``, in order)."""
    errors: list[Exception] = field(default_factory=list)
    """What the policy raised (each such request was answered 500): a test checks it is empty."""
    lock: threading.Lock = field(default_factory=threading.Lock)
    stopping: threading.Event = field(default_factory=threading.Event)
    """Set when the server stops: answers still being delayed are sent at once."""

    def next_answer(self, path: str, body: dict[str, object], headers: dict[str, str]) -> Answer:
        with self.lock:
            self.requests.append(body)
            self.headers.append(headers)
            self.paths.append(path)
            self.times.append(time.monotonic())
            if path != "/v1/chat/completions":
                return status(404, f"no such endpoint: {path}")
            if self.script:
                return self.script.pop(0)
            if self.policy is None:
                return DEFAULT
            try:
                return self.policy(body)
            except Exception as exc:  # a bug in the test's model: keep it for the test
                self.errors.append(exc)
                return status(500, f"the fake model's policy raised {exc!r}")


@contextmanager
def fake_openai() -> Iterator[FakeOpenAI]:
    """Start a fake server; yield it (``base_url`` ends in ``/v1``); stop it after."""
    fake = FakeOpenAI()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("content-length", 0))
            body = json.loads(self.rfile.read(length))
            headers = {k.lower(): v for k, v in self.headers.items()}
            answer = fake.next_answer(self.path, body, headers)
            if answer.delay:
                fake.stopping.wait(answer.delay)
            try:
                self.send_response(answer.status)
                self.send_header("content-type", "application/json")
                for name, value in answer.headers.items():
                    self.send_header(name, value)
                self.send_header("content-length", str(len(answer.body)))
                self.end_headers()
                self.wfile.write(answer.body)
            except OSError:  # the client gave up waiting (a timeout test)
                pass

        def log_message(self, format: str, *args: object) -> None:
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    fake.base_url = f"http://127.0.0.1:{httpd.server_address[1]}/v1"
    try:
        yield fake
    finally:
        fake.stopping.set()
        httpd.shutdown()
        httpd.server_close()
        thread.join()
