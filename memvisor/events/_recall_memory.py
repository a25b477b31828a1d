"""Recall for the in-memory log: the SQLite log's answers, computed in Python.

The SQLite log ranks with FTS5's ``bm25()``; this module computes the same
formula over the same tokens (see ``_fts``), so the two logs return the same
hits, in the same order, with the same scores (to the last bit for Latin
text). For a text term ``t`` and a message ``D``::

    score(D) = Σ_t idf(t) · f(t,D)·(k1+1) / (f(t,D) + k1·(1 - b + b·|D|/avgdl))
    idf(t)   = ln((N - n(t) + 0.5) / (n(t) + 0.5)), or 1e-6 if that is not positive

with k1 = 1.2, b = 0.75, ``N`` the messages of *every* agent, ``n(t)`` those
whose text holds ``t``, ``f(t,D)`` its count in ``D``, and ``|D|`` the message's
tokens plus the one token naming its agent that the SQLite index stores beside them.

Messages are tokenized lazily, at the first text search after they arrive, so
appends stay cheap for simulations that never search.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence

from ._fts import query_terms, stem, tokenize
from ._recall import RecallHit, RecallPage, RecallQuery, RecallRole, check_query, message_of
from ._types import Event

__all__ = ["BM25_B", "BM25_K1", "TAG_TOKENS", "MemoryRecall"]

BM25_K1 = 1.2
BM25_B = 0.75
TAG_TOKENS = 1
"""Tokens the SQLite index stores with each message besides its text (its agent)."""
_MIN_IDF = 1e-6


class _Message:
    __slots__ = ("at", "length", "role", "seq", "stems", "text")

    def __init__(self, seq: int, at: float, role: RecallRole, text: str) -> None:
        self.seq = seq
        self.at = at
        self.role = role
        self.text = text
        self.stems: Counter[str] | None = None  # None until tokenized
        self.length = 0


class MemoryRecall:
    """Every message of every agent, searchable as :meth:`EventLog.search_recall` says."""

    def __init__(self) -> None:
        self._messages: dict[str, list[_Message]] = {}
        self._untokenized: list[_Message] = []
        self._containing: Counter[str] = Counter()  # stem -> messages whose text holds it
        self._count = 0  # messages tokenized, of all agents
        self._tokens = 0  # their lengths, tags included

    def add(self, events: Sequence[Event]) -> None:
        """Take in the messages among ``events`` (already appended to the log)."""
        for event in events:
            entry = message_of(event)
            if entry is not None:
                message = _Message(event.seq, event.at, entry.role, entry.text)
                self._messages.setdefault(event.agent, []).append(message)
                self._untokenized.append(message)

    def remove(self, agent: str) -> None:
        """Forget every message of ``agent``, and what they added to the corpus statistics."""
        gone = self._messages.pop(agent, [])
        if not gone:
            return
        untokenized = {id(m) for m in gone if m.stems is None}
        if untokenized:
            self._untokenized = [m for m in self._untokenized if id(m) not in untokenized]
        for m in gone:
            if m.stems is None:
                continue
            self._containing.subtract(m.stems.keys())
            self._count -= 1
            self._tokens -= m.length
        self._containing = +self._containing  # drop the stems no message holds any more

    def count(self, agent: str) -> int:
        """Messages of ``agent`` in recall."""
        return len(self._messages.get(agent, ()))

    def search(self, agent: str, query: RecallQuery) -> RecallPage:
        """One page of the messages of ``agent`` that match ``query``."""
        check_query(query)
        roles = frozenset(query.roles)
        start = -math.inf if query.start is None else query.start
        end = math.inf if query.end is None else query.end
        found = [
            m
            for m in self._messages.get(agent, ())
            if (not roles or m.role in roles) and start <= m.at <= end
        ]
        terms = query_terms(query.text) if query.text is not None else ()
        if terms:
            ranked = self._rank(found, [stem(t) for t in terms])
        else:
            ranked = [(0.0, m) for m in reversed(found)]  # newest first
        first = query.page * query.page_size
        hits = tuple(
            RecallHit(seq=m.seq, at=m.at, role=m.role, text=m.text, score=score)
            for score, m in ranked[first : first + query.page_size]
        )
        return RecallPage(hits=hits, total=len(ranked), page=query.page, page_size=query.page_size)

    def _rank(self, messages: list[_Message], stems: list[str]) -> list[tuple[float, _Message]]:
        """Messages holding any of ``stems``, best BM25 score first, then newest first."""
        self._tokenize_new()
        avgdl = self._tokens / self._count if self._count else 0.0
        idf = [self._idf(s) for s in stems]
        scored: list[tuple[float, _Message]] = []
        for m in messages:
            counts = m.stems
            assert counts is not None
            if not any(s in counts for s in stems):
                continue
            norm = BM25_K1 * (1 - BM25_B + BM25_B * m.length / avgdl)
            score = 0.0
            for weight, s in zip(idf, stems, strict=True):
                f = counts.get(s, 0)
                score += weight * ((f * (BM25_K1 + 1.0)) / (f + norm))
            scored.append((score, m))
        scored.sort(key=lambda pair: (-pair[0], -pair[1].seq))
        return scored

    def _idf(self, term: str) -> float:
        n = self._containing[term]
        idf = math.log((self._count - n + 0.5) / (n + 0.5))
        return idf if idf > 0.0 else _MIN_IDF

    def _tokenize_new(self) -> None:
        for m in self._untokenized:
            stems = Counter(stem(t) for t in tokenize(m.text))
            m.stems = stems
            m.length = stems.total() + TAG_TOKENS
            self._containing.update(stems.keys())
            self._count += 1
            self._tokens += m.length
        self._untokenized.clear()
