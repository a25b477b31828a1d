"""Benchmark recall search in the SQLite log: how fast a big conversation is searched.

One agent's log holds ``n`` messages of English-like text (a seeded random
draw from a vocabulary of 5,000 words with the long-tailed frequencies of
real language, stop words included), alternating user and assistant, one
minute apart. Then typical searches run against it, each timed from the call
to the answer (the thread hop included):

* ``recall_search_p50_ms`` / ``_p90_ms``: text searches of 2 to 5 words (the
  figure the target is about: p50 < 20 ms at 100,000 messages);
* ``recall_search_role_p50_ms``: the same searches, assistant messages only;
* ``recall_search_date_p50_ms``: the same searches within one day;
* ``recall_newest_p50_ms``: no text, the newest page (and the total);
* ``recall_date_p50_ms``: no text, one day's messages;
* ``recall_count_ms``: ``count_recall`` (the "N messages in recall" statistic).

Prints ONE JSON object on stdout (progress on stderr)::

    .venv/bin/python scripts/_bench_recall.py [--messages 100000] [--searches 200]
"""

from __future__ import annotations

import argparse
import itertools
import json
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path

import anyio

from memvisor.events import (
    AssistantMessage,
    Event,
    RecallQuery,
    SqliteEventLog,
    UserMessage,
    open_sqlite_log,
)

AGENT = "ada"
EPOCH = 1_700_000_000.0
SPACING = 60.0  # seconds between messages
DAY = 86_400.0
_SEED = 20240601
_BUILD_CHUNK = 2000

_STOP_TEXT = (
    "the a an and or but of to in on at for with is are was were be been it this that i you"
    " he she we they my your our me him her them do did does have has had not no so if as by"
    " from up out about what which who when where how can will would should could just than"
    " then there here"
)
_STOP = _STOP_TEXT.split()
_COMMON_TEXT = (
    "time person year way day thing man world life hand part child eye woman place work week"
    " case point company number group problem fact meeting budget dinner plan trip garden"
    " coffee book movie music doctor school project report email phone call car house kitchen"
    " birthday party gift weather rain summer winter holiday flight hotel ticket paper cat dog"
    " friend mother father sister brother office server database python code bug release"
    " deploy test review design idea question answer story game team manager customer price"
    " money bank account password key door window table chair bed morning evening night lunch"
    " breakfast train bus bike walk run swim read write cook clean fix build send buy sell pay"
    " open close start stop remember forget love hate like want need help tell ask invoice"
    " contract deadline schedule recipe vacation insurance appointment dentist garage laptop"
    " backup migration outage incident metric dashboard sprint roadmap feedback interview"
    " salary rent lease tax refund package delivery address neighbor concert museum beach"
    " mountain river lake forest island city village country language lesson course exam"
)
_COMMON = _COMMON_TEXT.split()
_SYLLABLES_TEXT = (
    "ba be bi bo bu da de di do du ka ke ki ko ku la le li lo lu ma me mi mo mu na ne ni no"
    " nu ra re ri ro ru sa se si so su ta te ti to tu va ve vi vo vu ber ton lin mar gel dor"
    " fen wick sham tor"
)
_SYLLABLES = _SYLLABLES_TEXT.split()
_VOCABULARY_SIZE = 5000
_ZIPF_OFFSET = 20  # Zipf-Mandelbrot: the head of the distribution is flat, as in English
_STOP_SHARE = 0.45  # about this share of running English text is stop words


class Language:
    """English-like text: seeded, so every run builds the same log and asks the same."""

    def __init__(self, seed: int = _SEED) -> None:
        self.rng = random.Random(seed)
        words = list(dict.fromkeys(_COMMON))
        seen = set(words) | set(_STOP)
        while len(words) < _VOCABULARY_SIZE:
            word = "".join(self.rng.choice(_SYLLABLES) for _ in range(self.rng.randint(2, 3)))
            if word not in seen:
                seen.add(word)
                words.append(word)
        self.words = words
        weights = [1 / (rank + 1 + _ZIPF_OFFSET) for rank in range(len(words))]
        self.cumulative = list(itertools.accumulate(weights))

    def content_words(self, k: int) -> list[str]:
        return self.rng.choices(self.words, cum_weights=self.cumulative, k=k)

    def message(self) -> str:
        length = self.rng.randint(6, 30)
        content = iter(self.content_words(length))
        out = [
            self.rng.choice(_STOP) if self.rng.random() < _STOP_SHARE else next(content)
            for _ in range(length)
        ]
        return " ".join(out).capitalize() + "."

    def query(self) -> str:
        """2 to 5 words as someone would search: mostly content words, a stop word now and then."""
        words = self.content_words(self.rng.randint(2, 5))
        if self.rng.random() < 0.3:
            words.insert(self.rng.randrange(len(words) + 1), self.rng.choice(_STOP))
        return " ".join(words)


def make_messages(n: int, language: Language) -> list[Event]:
    events: list[Event] = []
    for seq in range(1, n + 1):
        at = EPOCH + seq * SPACING
        text = language.message()
        if seq % 2:
            events.append(UserMessage(agent=AGENT, seq=seq, at=at, text=text))
        else:
            events.append(AssistantMessage(agent=AGENT, seq=seq, at=at, text=text, cause=seq - 1))
    return events


async def build(log: SqliteEventLog, events: Sequence[Event]) -> None:
    for i in range(0, len(events), _BUILD_CHUNK):
        await log.append(events[i : i + _BUILD_CHUNK])


async def median_ms(fn: Callable[[int], Awaitable[object]], times: int) -> tuple[float, float]:
    """p50 and p90 of ``times`` timed calls ``fn(i)``, in milliseconds."""
    await fn(0)  # warm-up: caches, prepared statements
    laps: list[float] = []
    for i in range(times):
        start = time.perf_counter()
        await fn(i)
        laps.append((time.perf_counter() - start) * 1000)
    laps.sort()
    return statistics.median(laps), laps[int(len(laps) * 0.9)]


async def measure(n: int, searches: int, tmpdir: Path | None = None) -> dict[str, float]:
    """Build an ``n``-message log in a temporary directory and time searches of it."""
    language = Language()
    events = make_messages(n, language)
    queries = [language.query() for _ in range(searches)]
    figures: dict[str, float] = {"messages": n, "searches": searches}
    with tempfile.TemporaryDirectory(prefix="memvisor-recall-", dir=tmpdir) as tmp:
        async with open_sqlite_log(Path(tmp) / "events.sqlite3", durability="normal") as log:
            start = time.perf_counter()
            await build(log, events)
            figures["build_messages_per_s"] = round(n / (time.perf_counter() - start))
            figures |= await _searches(log, n, queries)
    return figures


async def _searches(log: SqliteEventLog, n: int, queries: list[str]) -> dict[str, float]:
    last = EPOCH + n * SPACING
    start, end = last - DAY, last  # the last day: 1,440 messages
    runs: dict[str, Callable[[int], Awaitable[object]]] = {
        "recall_search": lambda i: log.search_recall(AGENT, RecallQuery(text=queries[i])),
        "recall_search_role": lambda i: log.search_recall(
            AGENT, RecallQuery(text=queries[i], roles=("assistant",))
        ),
        "recall_search_date": lambda i: log.search_recall(
            AGENT, RecallQuery(text=queries[i], start=start, end=end)
        ),
        "recall_newest": lambda i: log.search_recall(AGENT, RecallQuery(page=i % 10)),
        "recall_date": lambda i: log.search_recall(AGENT, RecallQuery(start=start, end=end)),
    }
    figures: dict[str, float] = {}
    for name, run in runs.items():
        note(f"{name}: {len(queries)} searches")
        p50, p90 = await median_ms(run, len(queries))
        figures[f"{name}_p50_ms"] = round(p50, 2)
        figures[f"{name}_p90_ms"] = round(p90, 2)
    p50, _ = await median_ms(lambda _: log.count_recall(AGENT), 20)
    figures["recall_count_ms"] = round(p50, 2)
    return figures


def recall_search_p50_ms(n: int, *, searches: int = 200) -> float:
    """Median time of a 2-5 word text search of a log of ``n`` messages, in ms."""
    figures = anyio.run(measure, n, searches)
    return figures["recall_search_p50_ms"]


def note(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--searches", type=int, default=200)
    parser.add_argument("--tmpdir", type=Path, help="where the database goes (a fresh temp dir)")
    ns = parser.parse_args(argv)
    messages: int = ns.messages
    searches: int = ns.searches
    if messages < 1 or searches < 1:
        parser.error("--messages and --searches must be at least 1")
    note(f"building a log of {messages} messages")
    tmpdir: Path | None = ns.tmpdir
    figures = anyio.run(measure, messages, searches, tmpdir)
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
