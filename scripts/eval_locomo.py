"""Retrieval on real conversations: LoCoMo questions against recall and archival.

For every conversation: each turn becomes one message in an agent's recall
(a ``user_message`` at the session's date, written ``<speaker> said, "<text>"``)
and one passage in its archival memory. Every question with evidence is then
asked through ``conversation_search`` (recall, BM25) and through
``archival_memory_search`` (hybrid by default), and we score where the evidence
turns land: turn recall@k (the fraction of a question's evidence turns in the
top k, averaged over questions) and MRR (of the first evidence turn found).

Prints one JSON object on stdout; progress goes to stderr.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import anyio
import msgspec

from memvisor.events import MemoryEventLog, RecallQuery, UserMessage
from memvisor.memory._archival import Passage, SearchMode, open_archival
from memvisor.memory._embedders import Embedder, LocalEmbedder

ROOT = Path(__file__).resolve().parent.parent
KS = (1, 5, 10)


class Turn(msgspec.Struct, frozen=True):
    dia_id: str
    speaker: str
    text: str
    at: float


class Question(msgspec.Struct, frozen=True):
    text: str
    evidence: frozenset[str]
    category: str


class Conversation(msgspec.Struct, frozen=True):
    name: str
    turns: tuple[Turn, ...]
    questions: tuple[Question, ...]


def _session_time(raw: str) -> float:
    # e.g. "1:56 pm on 8 May, 2023"
    return datetime.strptime(raw, "%I:%M %p on %d %B, %Y").replace(tzinfo=UTC).timestamp()


def load_conversations(path: Path) -> list[Conversation]:
    """Conversations of a LoCoMo-format file, keeping questions whose evidence is known."""
    conversations: list[Conversation] = []
    for sample in json.loads(path.read_text()):
        conv = sample["conversation"]
        turns: list[Turn] = []
        sessions = sorted(
            (int(k.split("_")[1]), k)
            for k in conv
            if re.fullmatch(r"session_\d+", k) and isinstance(conv[k], list)
        )
        for _, key in sessions:
            at = _session_time(conv[f"{key}_date_time"])
            for i, turn in enumerate(conv[key]):
                # Turns of one session share its date; keep their order with a second each.
                turns.append(Turn(turn["dia_id"], turn["speaker"], turn["text"], at + i))
        known = {t.dia_id for t in turns}
        questions = []
        for qa in sample["qa"]:
            evidence = frozenset(
                e
                for raw in qa.get("evidence", [])
                for e in re.split(r"[;,\s]+", raw)
                if e in known
            )
            if evidence:
                questions.append(Question(qa["question"], evidence, str(qa["category"])))
        conversations.append(Conversation(sample["sample_id"], tuple(turns), tuple(questions)))
    return conversations


def _document(turn: Turn) -> str:
    return f'{turn.speaker} said, "{turn.text}"'


class Scores:
    """Turn recall@k and MRR, overall and by category."""

    def __init__(self) -> None:
        self._rows: list[tuple[str, dict[str, float]]] = []

    def add(self, question: Question, ranked: Sequence[str]) -> None:
        row = {
            f"recall@{k}": len(question.evidence & set(ranked[:k])) / len(question.evidence)
            for k in KS
        }
        first = next((i for i, d in enumerate(ranked) if d in question.evidence), None)
        row["mrr"] = 0.0 if first is None else 1.0 / (first + 1)
        self._rows.append((question.category, row))

    def report(self) -> dict[str, object]:
        by_category: dict[str, list[dict[str, float]]] = defaultdict(list)
        for category, row in self._rows:
            by_category[category].append(row)
        return {
            "overall": _mean([row for _, row in self._rows]),
            "by_category": {c: _mean(rows) for c, rows in sorted(by_category.items())},
        }


def _mean(rows: list[dict[str, float]]) -> dict[str, float]:
    if not rows:
        return {}
    return {key: round(sum(r[key] for r in rows) / len(rows), 4) for key in rows[0]}


async def _recall_ranking(conv: Conversation, scores: Scores) -> None:
    log = MemoryEventLog()
    agent = conv.name
    events = [
        UserMessage(agent=agent, seq=i + 1, at=t.at, text=_document(t), name=t.speaker)
        for i, t in enumerate(conv.turns)
    ]
    await log.append(events)
    by_seq = {i + 1: t.dia_id for i, t in enumerate(conv.turns)}
    for q in conv.questions:
        page = await log.search_recall(agent, RecallQuery(text=q.text, page_size=max(KS)))
        scores.add(q, [by_seq[h.seq] for h in page.hits])


async def _archival_ranking(
    conv: Conversation, scores: Scores, embedder: Embedder | None, mode: SearchMode, home: Path
) -> None:
    async with open_archival(home / conv.name, embedder=embedder) as store:
        await store.insert(
            [Passage(id=t.dia_id, owner=conv.name, text=_document(t), at=t.at) for t in conv.turns]
        )
        for q in conv.questions:
            page = await store.search(q.text, owners=[conv.name], mode=mode, page_size=max(KS))
            scores.add(q, [h.passage.id for h in page.hits])


async def evaluate(args: argparse.Namespace) -> dict[str, object]:
    conversations = load_conversations(args.data)[: args.limit]
    embedder = None if args.no_embedder else LocalEmbedder(str(args.model_path))
    recall, archival = Scores(), Scores()
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        for n, conv in enumerate(conversations, 1):
            print(
                f"[{n}/{len(conversations)}] {conv.name}: {len(conv.turns)} turns,"
                f" {len(conv.questions)} questions",
                file=sys.stderr,
            )
            await _recall_ranking(conv, recall)
            await _archival_ranking(conv, archival, embedder, args.mode, Path(tmp))
    return {
        "conversation_search": recall.report(),
        "archival_memory_search": archival.report(),
        "archival_mode": args.mode,
        "embedder": embedder.name if embedder else None,
        "conversations": len(conversations),
        "questions": sum(len(c.questions) for c in conversations),
        "seconds": round(time.perf_counter() - started, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--data", type=Path, default=ROOT.parent / "shared/data/locomo/locomo_dev.json"
    )
    parser.add_argument(
        "--model-path", type=Path, default=ROOT.parent / "shared/models/all-MiniLM-L6-v2"
    )
    parser.add_argument("--mode", choices=["hybrid", "semantic", "fulltext"], default="hybrid")
    parser.add_argument("--no-embedder", action="store_true", help="Full-text archival only.")
    parser.add_argument("--limit", type=int, help="Only the first N conversations.")
    args = parser.parse_args()
    report = anyio.run(evaluate, args)
    print(json.dumps(report))


if __name__ == "__main__":
    main()
