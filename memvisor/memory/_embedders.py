"""Embedders: text in, vectors out, for archival memory's semantic search.

```
Embedder.embed(texts) ──► float32 array, shape (len(texts), dim), row i ↔ texts[i]
  OpenAIEmbedder   POST /v1/embeddings (openai SDK), in batches      any compatible server
  LocalEmbedder    sentence-transformers from a local directory      a worker thread
  (none)           archival search is full-text only, and says so
```

Invariants:

* ``embed`` returns a C-contiguous ``float32`` array with one row per text, in
  the order given, every value finite; anything else a server sends is an
  :class:`EmbeddingError`, never a silently wrong vector.
* ``name`` identifies the model and, where it was chosen, the vector length. An
  archive stores the name of the embedder that filled it and refuses another:
  vectors of two models are not comparable.
* ``dim`` is the vector length, ``0`` until the embedder has learned it (from the
  first response, or from loading the model).
* Nothing here blocks the event loop or downloads a model: a local model loads
  from a directory, in a worker thread, with the Hugging Face hub switched off.
* There is deliberately no fake "semantic" embedder: without a real one, search
  is full-text only. Tests bring their own deterministic embedder.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Protocol, Self, cast

import anyio
import numpy as np
import numpy.typing as npt
import openai

from .._exceptions import ConfigError, EmbeddingError, UsageError

__all__ = ["DEFAULT_EMBEDDING_MODEL", "Embedder", "LocalEmbedder", "OpenAIEmbedder", "Vectors"]

Vectors = npt.NDArray[np.float32]
"""Embeddings: a ``float32`` array of shape ``(number of texts, dim)``."""

DEFAULT_EMBEDDING_MODEL = "text-embedding-3-small"
_NO_KEY = "none"  # servers that ask for no key still need the SDK to send one


class Embedder(Protocol):
    """Turns texts into vectors: :class:`OpenAIEmbedder`, :class:`LocalEmbedder`."""

    @property
    def name(self) -> str:
        """The model (and chosen vector length), e.g. ``"openai:text-embedding-3-small"``."""
        ...

    @property
    def dim(self) -> int:
        """The vector length; ``0`` until known."""
        ...

    async def embed(self, texts: Sequence[str]) -> Vectors:
        """One row per text, in order (see :data:`Vectors`).

        Raises:
            EmbeddingError: the model or server failed, or answered nonsense.
            ConfigError: the embedder cannot work as configured.
        """
        ...


def check_vectors(vectors: Vectors, count: int, *, source: str) -> Vectors:
    """Return ``vectors`` if they are ``count`` finite rows of one length, else raise.

    Raises:
        EmbeddingError: naming ``source`` and what is wrong.
    """
    if vectors.ndim != 2 or vectors.shape[0] != count:
        raise EmbeddingError(f"{source} returned {vectors.shape[0]} vectors for {count} texts")
    if vectors.shape[1] == 0:
        raise EmbeddingError(f"{source} returned empty vectors")
    if not np.isfinite(vectors).all():
        raise EmbeddingError(f"{source} returned vectors with NaN or infinite values")
    return np.ascontiguousarray(vectors, dtype=np.float32)


class OpenAIEmbedder:
    """Embeddings from an OpenAI-compatible ``/v1/embeddings`` endpoint, via the openai SDK.

    The server is the LLM's (``OPENAI_BASE_URL`` / ``OPENAI_API_KEY``, the SDK's
    own settings) unless ``MEMVISOR_EMBEDDING_BASE_URL`` names another one; that
    server gets ``MEMVISOR_EMBEDDING_API_KEY`` (never the LLM's key, which is
    not meant for it). The model is ``MEMVISOR_EMBEDDING_MODEL``, else
    ``text-embedding-3-small``.

    Texts go in batches of ``batch_size`` per request, one request at a time.
    The SDK retries 429 and 5xx answers ``max_retries`` times with backoff.
    Close it with :meth:`aclose` (or ``async with``) unless you passed ``client``.
    """

    def __init__(
        self,
        *,
        model: str | None = None,
        base_url: str | None = None,
        api_key: str | None = None,
        dimensions: int | None = None,
        batch_size: int = 256,
        timeout: float = 60.0,
        max_retries: int = 2,
        client: openai.AsyncOpenAI | None = None,
    ) -> None:
        """Configure the embedder; nothing is sent until :meth:`embed`.

        Args:
            model: The embedding model (default: see above).
            base_url: The server, e.g. ``http://localhost:11434/v1`` (default: see above).
            api_key: The key for that server (default: see above).
            dimensions: Ask for vectors of this length (OpenAI's ``text-embedding-3``
                models support it); otherwise the length is learned from the first answer.
            batch_size: Texts per request (OpenAI accepts up to 2,048).
            timeout: Seconds per request.
            max_retries: Retries of a failed request (429, 5xx, connection errors).
            client: An SDK client to use instead of making one (it is not closed here).

        Raises:
            ConfigError: no API key for a server that needs one.
            UsageError: ``batch_size`` or ``dimensions`` below 1.
        """
        if batch_size < 1:
            raise UsageError(f"batch_size must be at least 1, not {batch_size}")
        if dimensions is not None and dimensions < 1:
            raise UsageError(f"dimensions must be at least 1, not {dimensions}")
        self.model = model or os.environ.get("MEMVISOR_EMBEDDING_MODEL") or DEFAULT_EMBEDDING_MODEL
        self._dimensions = dimensions
        self._dim = dimensions or 0
        self._batch_size = batch_size
        self._owns_client = client is None
        self._client = client or _make_client(base_url, api_key, timeout, max_retries)

    @property
    def name(self) -> str:
        """``openai:MODEL``, plus ``:DIMENSIONS`` when a length was asked for."""
        suffix = f":{self._dimensions}" if self._dimensions else ""
        return f"openai:{self.model}{suffix}"

    @property
    def dim(self) -> int:
        """The vector length: as asked for, else learned from the first answer (0 before)."""
        return self._dim

    @property
    def base_url(self) -> str:
        """The server requests go to."""
        return str(self._client.base_url)

    async def embed(self, texts: Sequence[str]) -> Vectors:
        """Embed ``texts`` in batches (see :meth:`Embedder.embed`).

        Raises:
            ConfigError: the server refused the key, or does not know the model.
            EmbeddingError: the server failed (after retries) or answered nonsense.
        """
        texts = list(texts)
        parts = [
            await self._embed_batch(texts[i : i + self._batch_size])
            for i in range(0, len(texts), self._batch_size)
        ]
        if not parts:
            return np.zeros((0, self._dim), dtype=np.float32)
        return np.concatenate(parts) if len(parts) > 1 else parts[0]

    async def _embed_batch(self, texts: list[str]) -> Vectors:
        source = f"the embedding server at {self.base_url} (model {self.model!r})"
        try:
            response = await self._client.embeddings.create(
                input=texts,
                model=self.model,
                encoding_format="float",
                dimensions=self._dimensions or openai.omit,
            )
        except (openai.AuthenticationError, openai.PermissionDeniedError) as exc:
            raise ConfigError(f"{source} refused the API key: {_detail(exc)}") from exc
        except openai.NotFoundError as exc:
            raise ConfigError(f"{source} has no such model or endpoint: {_detail(exc)}") from exc
        except openai.APIStatusError as exc:
            raise EmbeddingError(f"{source} answered {exc.status_code}: {_detail(exc)}") from exc
        except openai.APIError as exc:
            raise EmbeddingError(f"{source} failed: {_detail(exc)}") from exc
        rows = sorted(response.data, key=lambda item: item.index)
        if [row.index for row in rows] != list(range(len(texts))):
            raise EmbeddingError(f"{source} returned {len(rows)} vectors for {len(texts)} texts")
        try:
            vectors = np.array([row.embedding for row in rows], dtype=np.float32)
        except (TypeError, ValueError):
            raise EmbeddingError(f"{source} returned vectors of different lengths") from None
        vectors = check_vectors(vectors, len(texts), source=source)
        if self._dim and vectors.shape[1] != self._dim:
            raise EmbeddingError(
                f"{source} returned vectors of length {vectors.shape[1]}, expected {self._dim}"
            )
        self._dim = int(vectors.shape[1])
        return vectors

    async def aclose(self) -> None:
        """Close the HTTP client, if this embedder made it."""
        if self._owns_client:
            await self._client.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()


def _make_client(
    base_url: str | None, api_key: str | None, timeout: float, max_retries: int
) -> openai.AsyncOpenAI:
    own_url = base_url or os.environ.get("MEMVISOR_EMBEDDING_BASE_URL")
    if own_url:  # a server of its own: never hand it the LLM's key
        api_key = api_key or os.environ.get("MEMVISOR_EMBEDDING_API_KEY") or _NO_KEY
    elif not (api_key or os.environ.get("OPENAI_API_KEY")):
        raise ConfigError(
            "the OpenAI embedder needs an API key: set OPENAI_API_KEY, or point"
            " MEMVISOR_EMBEDDING_BASE_URL at a server that needs none"
        )
    return openai.AsyncOpenAI(
        base_url=own_url, api_key=api_key, timeout=timeout, max_retries=max_retries
    )


def _detail(exc: openai.APIError) -> str:
    return str(exc.message or exc)[:300]


class _SentenceModel(Protocol):
    """The part of ``sentence_transformers.SentenceTransformer`` used here."""

    def encode(
        self,
        sentences: list[str],
        *,
        batch_size: int,
        convert_to_numpy: bool,
        normalize_embeddings: bool,
        show_progress_bar: bool,
    ) -> object: ...


class LocalEmbedder:
    """A sentence-transformers model loaded from a local directory; no server, no hub.

    Needs the ``local`` extra (``pip install 'memvisor[local]'``). The model loads
    on the first :meth:`embed`, in a worker thread; encoding runs there too, one
    batch at a time. Vectors are normalized to length 1. Text beyond the model's
    window (256 word pieces for all-MiniLM-L6-v2) is cut off: chunk long text first.
    """

    def __init__(self, path: str | Path, *, batch_size: int = 64, device: str = "cpu") -> None:
        """Check the directory; the model itself loads on first use.

        Args:
            path: A directory holding a sentence-transformers model
                (``modules.json``, ``config.json``, weights, tokenizer).
            batch_size: Texts per forward pass.
            device: Torch device, e.g. ``"cpu"`` or ``"cuda"``.

        Raises:
            ConfigError: ``path`` is not a directory.
            UsageError: ``batch_size`` below 1.
        """
        self.path = Path(path).expanduser()
        if not self.path.is_dir():
            raise ConfigError(
                f"no local embedding model at {self.path}: give the directory of a"
                " sentence-transformers model (memvisor never downloads one)"
            )
        if batch_size < 1:
            raise UsageError(f"batch_size must be at least 1, not {batch_size}")
        self._name = f"local:{self.path.resolve().name}"
        self._batch_size = batch_size
        self._device = device
        self._model: _SentenceModel | None = None
        self._dim = 0
        # One load, one encode at a time. A thread lock, taken in the worker thread, so
        # that one embedder serves any event loop (an anyio limiter binds to one).
        self._lock = threading.Lock()

    @property
    def name(self) -> str:
        """``local:DIRECTORY-NAME`` (the model's directory names the model)."""
        return self._name

    @property
    def dim(self) -> int:
        """The model's vector length (0 until the first :meth:`embed`)."""
        return self._dim

    async def embed(self, texts: Sequence[str]) -> Vectors:
        """Embed ``texts`` in a worker thread (see :meth:`Embedder.embed`).

        Raises:
            ConfigError: the ``local`` extra is missing or the model cannot load.
        """
        texts = list(texts)
        return await anyio.to_thread.run_sync(self._embed_sync, texts)

    def _embed_sync(self, texts: list[str]) -> Vectors:
        with self._lock:
            return self._encode(self._model or self._load(), texts)

    def _encode(self, model: _SentenceModel, texts: list[str]) -> Vectors:
        if not texts:
            return np.zeros((0, self._dim), dtype=np.float32)
        raw = model.encode(
            texts,
            batch_size=self._batch_size,
            convert_to_numpy=True,
            normalize_embeddings=True,
            show_progress_bar=False,
        )
        vectors = np.asarray(raw, dtype=np.float32)
        vectors = check_vectors(vectors, len(texts), source=f"the local model {self.name!r}")
        self._dim = int(vectors.shape[1])
        return vectors

    def _load(self) -> _SentenceModel:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")  # belt and braces: no hub, ever
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError:
            raise ConfigError(
                "the local embedder needs the 'local' extra: pip install 'memvisor[local]'"
                " (on a CPU-only machine first: pip install torch==2.13.0"
                " --index-url https://download.pytorch.org/whl/cpu)"
            ) from None
        _quiet_transformers()
        try:
            model = SentenceTransformer(str(self.path), device=self._device, local_files_only=True)
        except (OSError, ValueError, RuntimeError) as exc:
            raise ConfigError(f"cannot load the embedding model at {self.path}: {exc}") from exc
        self._model = cast(_SentenceModel, model)
        return self._model


def _quiet_transformers() -> None:
    """No progress bar of transformers' own while a model loads: the CLI draws its own."""
    try:
        from transformers.utils import logging as transformers_logging

        transformers_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
    except (ImportError, AttributeError):  # pragma: no cover - another transformers
        pass
