"""Embedders: the OpenAI-compatible endpoint against a fake server, and a real local model."""

from __future__ import annotations

import hashlib
import http.server
import json
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

from memvisor import ConfigError, EmbeddingError, UsageError
from memvisor.memory._archival import Passage, open_archival
from memvisor.memory._embedders import (
    DEFAULT_EMBEDDING_MODEL,
    LocalEmbedder,
    OpenAIEmbedder,
    check_vectors,
)

ROOT = Path(__file__).resolve().parents[2]
MODEL_DIR = ROOT.parent / "shared" / "models" / "all-MiniLM-L6-v2"
FAKE_DIM = 8


def fake_vector(text: str, dim: int = FAKE_DIM) -> list[float]:
    digest = hashlib.sha256(text.encode()).digest()
    return [digest[i] / 255.0 for i in range(dim)]


@dataclass
class FakeServer:
    """A tiny OpenAI-compatible ``/v1/embeddings`` server on 127.0.0.1, in a thread.

    ``script`` holds what to do with the next requests: ``"ok"``, an HTTP status
    (``500``, ``401``, ``404``), ``"short"`` (one vector too few), ``"ragged"``
    (vectors of different lengths); when it is empty every request is ``"ok"``.
    Vectors come back in reverse order, each with its ``index``, as servers may.
    """

    requests: list[dict[str, object]] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)
    script: list[object] = field(default_factory=list)
    url: str = ""

    def answer(self, body: dict[str, object]) -> tuple[int, dict[str, object]]:
        action = self.script.pop(0) if self.script else "ok"
        if isinstance(action, int):
            return action, {"error": {"message": f"scripted {action}", "type": "server_error"}}
        texts = body["input"]
        assert isinstance(texts, list)
        dim = int(body.get("dimensions") or FAKE_DIM)  # type: ignore[call-overload]
        data = [
            {"object": "embedding", "index": i, "embedding": fake_vector(t, dim)}
            for i, t in enumerate(texts)
        ]
        if action == "short":
            data = data[:-1]
        if action == "ragged":
            data[0]["embedding"] = [0.5]
        return 200, {
            "object": "list",
            "data": data[::-1],
            "model": body["model"],
            "usage": {"prompt_tokens": 1, "total_tokens": 1},
        }


@pytest.fixture
def server() -> Iterator[FakeServer]:
    fake = FakeServer()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("content-length", 0))
            body = json.loads(self.rfile.read(length))
            fake.requests.append(body)
            fake.headers.append(dict(self.headers))
            answer: dict[str, object]
            if self.path != "/v1/embeddings":
                status, answer = 404, {"error": {"message": "no such endpoint"}}
            else:
                status, answer = fake.answer(body)
            payload = json.dumps(answer).encode()
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: object) -> None:
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    fake.url = f"http://127.0.0.1:{httpd.server_address[1]}/v1"
    try:
        yield fake
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()


@pytest.fixture(autouse=True)
def _no_embedding_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "MEMVISOR_EMBEDDING_MODEL",
        "MEMVISOR_EMBEDDING_BASE_URL",
        "MEMVISOR_EMBEDDING_API_KEY",
        "OPENAI_BASE_URL",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-llm-key")


def embedder(server: FakeServer, **kw: object) -> OpenAIEmbedder:
    return OpenAIEmbedder(base_url=server.url, api_key="sk-test", max_retries=0, **kw)  # type: ignore[arg-type]


# --- OpenAI-compatible endpoint --------------------------------------------------------------


@pytest.mark.anyio
async def test_texts_go_in_batches_and_come_back_in_order(server: FakeServer) -> None:
    texts = [f"text {i}" for i in range(7)]
    async with embedder(server, batch_size=3) as e:
        assert e.dim == 0
        vectors = await e.embed(texts)
    assert [len(r["input"]) for r in server.requests] == [3, 3, 1]  # type: ignore[arg-type]
    assert all(r["encoding_format"] == "float" for r in server.requests)
    assert all(r["model"] == DEFAULT_EMBEDDING_MODEL for r in server.requests)
    assert "dimensions" not in server.requests[0]
    assert vectors.dtype == np.float32
    assert vectors.shape == (7, FAKE_DIM)
    np.testing.assert_allclose(vectors, np.array([fake_vector(t) for t in texts]), rtol=1e-6)
    assert e.dim == FAKE_DIM
    assert e.name == f"openai:{DEFAULT_EMBEDDING_MODEL}"


@pytest.mark.anyio
async def test_nothing_to_embed_sends_nothing(server: FakeServer) -> None:
    async with embedder(server) as e:
        assert (await e.embed([])).shape == (0, 0)
    assert server.requests == []


@pytest.mark.anyio
async def test_asked_dimensions_are_sent_and_named(server: FakeServer) -> None:
    async with embedder(server, model="text-embedding-3-large", dimensions=4) as e:
        assert (e.name, e.dim) == ("openai:text-embedding-3-large:4", 4)
        vectors = await e.embed(["a"])
    assert server.requests[0]["dimensions"] == 4
    assert vectors.shape == (1, 4)


@pytest.mark.anyio
async def test_a_server_error_is_an_embedding_error(server: FakeServer) -> None:
    server.script = [500]
    async with embedder(server) as e:
        with pytest.raises(EmbeddingError, match="answered 500"):
            await e.embed(["a"])


@pytest.mark.anyio
async def test_a_server_error_is_retried_by_the_sdk(server: FakeServer) -> None:
    server.script = [500, 500]
    async with OpenAIEmbedder(base_url=server.url, api_key="k", max_retries=2) as e:
        vectors = await e.embed(["a"])
    assert vectors.shape == (1, FAKE_DIM)
    assert len(server.requests) == 3


@pytest.mark.anyio
@pytest.mark.parametrize(("status", "message"), [(401, "refused the API key"), (404, "no such")])
async def test_a_bad_key_or_model_is_a_config_error(
    server: FakeServer, status: int, message: str
) -> None:
    server.script = [status]
    async with embedder(server) as e:
        with pytest.raises(ConfigError, match=message):
            await e.embed(["a"])


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("action", "message"), [("short", "2 vectors for 3"), ("ragged", "lengths")]
)
async def test_a_malformed_answer_is_an_embedding_error(
    server: FakeServer, action: str, message: str
) -> None:
    server.script = [action]
    async with embedder(server) as e:
        with pytest.raises(EmbeddingError, match=message):
            await e.embed(["a", "b", "c"])


@pytest.mark.anyio
async def test_vectors_changing_length_between_answers_are_refused(server: FakeServer) -> None:
    async with embedder(server, batch_size=1) as e:
        await e.embed(["a"])
        server.script = ["ok"]
        e._dim = 3  # as if the server had answered 3-long vectors before
        with pytest.raises(EmbeddingError, match="expected 3"):
            await e.embed(["b"])


@pytest.mark.anyio
async def test_an_own_embedding_server_gets_its_own_key_never_the_llms(
    server: FakeServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MEMVISOR_EMBEDDING_BASE_URL", server.url)
    monkeypatch.setenv("MEMVISOR_EMBEDDING_MODEL", "nomic-embed-text")
    async with OpenAIEmbedder(max_retries=0) as e:
        await e.embed(["a"])
    monkeypatch.setenv("MEMVISOR_EMBEDDING_API_KEY", "sk-embedding-key")
    async with OpenAIEmbedder(max_retries=0) as e:
        await e.embed(["b"])
    auth = [h.get("authorization", h.get("Authorization")) for h in server.headers]
    assert auth == ["Bearer none", "Bearer sk-embedding-key"]
    assert [r["model"] for r in server.requests] == ["nomic-embed-text"] * 2


@pytest.mark.anyio
async def test_the_llm_server_is_the_default(
    server: FakeServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", server.url)
    async with OpenAIEmbedder(max_retries=0) as e:
        assert e.base_url.startswith(server.url)
        await e.embed(["a"])
    assert server.headers[0].get("authorization") == "Bearer sk-llm-key"


def test_no_key_for_the_openai_api_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY")
    with pytest.raises(ConfigError, match="OPENAI_API_KEY"):
        OpenAIEmbedder()


@pytest.mark.parametrize("kw", [{"batch_size": 0}, {"dimensions": 0}])
def test_bad_options_are_usage_errors(kw: dict[str, int]) -> None:
    with pytest.raises(UsageError):
        OpenAIEmbedder(api_key="k", **kw)  # type: ignore[arg-type]


@pytest.mark.anyio
async def test_an_archive_embeds_through_the_server(server: FakeServer, tmp_path: Path) -> None:
    async with (
        embedder(server) as e,
        open_archival(tmp_path, embedder=e) as store,
    ):
        passages = [Passage(id=f"a:{i}", owner="a", text=f"note {i}", at=1.0) for i in range(5)]
        assert await store.insert(passages) == 5
        assert await store.insert(passages) == 0
        page = await store.search("note 3", owners=["a"], mode="semantic")
        assert page.hits[0].passage.id == "a:3"  # the same text has the same vector
    assert sum(len(r["input"]) for r in server.requests) == 6  # type: ignore[misc, arg-type]


def test_check_vectors_refuses_what_cannot_be_stored() -> None:
    strided = np.ones((3, 2), dtype=np.float32).T  # not C-contiguous
    assert check_vectors(strided, 2, source="x").flags.c_contiguous
    with pytest.raises(EmbeddingError, match="3 vectors for 2"):
        check_vectors(np.ones((3, 3), dtype=np.float32), 2, source="x")
    with pytest.raises(EmbeddingError, match="empty"):
        check_vectors(np.ones((2, 0), dtype=np.float32), 2, source="x")
    with pytest.raises(EmbeddingError, match="NaN"):
        check_vectors(np.array([[1.0, np.nan]], dtype=np.float32), 1, source="x")


# --- local model -----------------------------------------------------------------------------


def test_a_missing_model_directory_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="never downloads"):
        LocalEmbedder(tmp_path / "no-such-model")


@pytest.mark.anyio
async def test_a_directory_that_is_no_model_is_a_config_error(tmp_path: Path) -> None:
    pytest.importorskip("sentence_transformers")
    (tmp_path / "junk.txt").write_text("not a model")
    with pytest.raises(ConfigError, match="cannot load"):
        await LocalEmbedder(tmp_path).embed(["a"])


@pytest.mark.anyio
async def test_without_the_local_extra_the_error_says_what_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "sentence_transformers", None)
    with pytest.raises(ConfigError, match=r"pip install 'memvisor\[local\]'.*torch==2\.13\.0"):
        await LocalEmbedder(tmp_path).embed(["a"])


needs_model = pytest.mark.skipif(
    not MODEL_DIR.is_dir(), reason=f"no local model at {MODEL_DIR} (the shared models directory)"
)


@pytest.fixture(scope="module")
def local_embedder() -> LocalEmbedder:
    pytest.importorskip("sentence_transformers", reason="the 'local' extra is not installed")
    return LocalEmbedder(MODEL_DIR)


@needs_model
@pytest.mark.anyio
async def test_the_local_model_puts_similar_sentences_closer(
    local_embedder: LocalEmbedder,
) -> None:
    vectors = await local_embedder.embed(
        [
            "The cat is sleeping on the sofa.",
            "A kitten naps on the couch.",
            "Quarterly tax returns are due in April.",
        ]
    )
    assert vectors.shape == (3, 384)
    assert local_embedder.dim == 384
    assert local_embedder.name == "local:all-MiniLM-L6-v2"
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, rtol=1e-4)
    similar, unrelated = float(vectors[0] @ vectors[1]), float(vectors[0] @ vectors[2])
    assert similar > unrelated + 0.3


@needs_model
@pytest.mark.anyio
async def test_archival_finds_a_paraphrase_with_the_local_model(
    local_embedder: LocalEmbedder, tmp_path: Path
) -> None:
    notes = [
        "The user's dog is called Biscuit and loves the beach.",
        "Meeting with the accountant moved to Thursday.",
        "The user prefers green tea over coffee in the morning.",
    ]
    async with open_archival(tmp_path, embedder=local_embedder) as store:
        await store.insert(
            [Passage(id=f"a:{i}", owner="a", text=t, at=float(i)) for i, t in enumerate(notes)]
        )
        page = await store.search(
            "what does the user like to drink", owners=["a"], mode="semantic"
        )
        assert page.hits[0].passage.id == "a:2"
        page = await store.search("pet name", owners=["a"])
        assert page.hits[0].passage.id == "a:0"
