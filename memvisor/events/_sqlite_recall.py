"""Recall in the SQLite log: an FTS5 index written in the same transaction as the events.

```
 events  (id, stream, seq, type, at, body)       the log itself
    ▲ id = rowid
 recall_fts  FTS5, contentless                   one row per message event:
    text    its words (porter stems)               what message_of(event) reads
    stream  "s<stream id>", e.g. "s12"             whose message it is
```

Invariants:

* Every message event has exactly one ``recall_fts`` row, with the event's row
  id as rowid, written by the statement that writes the event (a trigger on
  the writer's temporary ``incoming`` view): a rolled-back append leaves no
  recall row, so recall can never drift from the log.
* The index stores no text of its own (contentless): a hit's text is read back
  from the event, through the same pure ``message_of`` that indexed it.
* The ``stream`` column makes FTS5 the per-agent index too. A B-tree keyed by
  agent would dirty one more page per agent in every group commit (measured:
  +9 µs per event with 200 agents); FTS5 writes a commit as one small segment.
  Role and time are read from the event row (``type``, ``at``) when a query
  filters on them.
* Deleting an agent (``delete_recall``) removes its rows with FTS5's ``'delete'``
  command, which needs each row's indexed values: they are read back from the
  events, as for a hit. A row whose event is damaged cannot be removed that way;
  it stays, under a stream id that no agent will be given again.
* Text search is ``stream: s<id> AND text: ("t1" OR "t2" …)`` over terms made
  by ``_fts.query_terms``: every term is a quoted run of letters and digits,
  so no query text can be an FTS5 syntax error. Hits are ranked by ``bm25()``
  (weight 0 on ``stream``), best first, then newest first.
"""

from __future__ import annotations

import sqlite3

from .._exceptions import CorruptLogError, EventDecodeError
from ._codec import decode_event
from ._fts import query_terms
from ._recall import RecallHit, RecallPage, RecallQuery, event_types_of, message_of
from ._types import Event

__all__ = [
    "INCOMING_SQL",
    "RECALL_SCHEMA",
    "backfill_recall",
    "count_recall",
    "decode_stored",
    "delete_recall",
    "search_recall",
]

RECALL_SCHEMA = """
CREATE VIRTUAL TABLE recall_fts USING fts5(
    text, stream, content='', tokenize='porter unicode61 remove_diacritics 1'
);
"""

# The writer connection's way in (temporary: part of no file, made at each
# opening). One row per event; ``text`` is NULL unless the event is a message.
# The trigger writes the event, then its recall row under the event's row id.
INCOMING_SQL = """
CREATE TEMP VIEW incoming(agent, seq, type, at, body, text) AS
    SELECT NULL, NULL, NULL, NULL, NULL, NULL WHERE 0;
CREATE TEMP TRIGGER incoming_insert INSTEAD OF INSERT ON incoming BEGIN
    INSERT INTO events(stream, seq, type, at, body) VALUES (
        (SELECT id FROM streams WHERE name = new.agent), new.seq, new.type, new.at, new.body
    );
    INSERT INTO recall_fts(rowid, text, stream)
        SELECT last_insert_rowid(), new.text,
               's' || (SELECT id FROM streams WHERE name = new.agent)
        WHERE new.text IS NOT NULL;
END;
"""
_BACKFILL_CHUNK = 1000
_MAX_OFFSET = 2**62  # an SQL integer: any page beyond is past the end anyway


def backfill_recall(conn: sqlite3.Connection) -> int:
    """Index every message already in the log (the v1 → v2 upgrade); returns how many.

    Runs inside the caller's transaction. An event that does not decode, or
    claims another agent or seq, is left out: reading it still reports it.
    """
    insert = "INSERT INTO recall_fts(rowid, text, stream) VALUES (?, ?, ?)"
    rows: list[tuple[int, str, str]] = []
    done = 0
    events = conn.execute(
        "SELECT e.id, e.stream, s.name, e.seq, e.body FROM events e"
        " JOIN streams s ON s.id = e.stream ORDER BY e.id"
    )
    for row_id, stream, name, seq, body in events:
        try:
            event = decode_event(body)
        except EventDecodeError:
            continue
        entry = message_of(event)
        if entry is None or event.agent != name or event.seq != seq:
            continue
        rows.append((row_id, entry.text, f"s{stream}"))
        if len(rows) >= _BACKFILL_CHUNK:
            conn.executemany(insert, rows)
            done += len(rows)
            rows.clear()
    conn.executemany(insert, rows)
    return done + len(rows)


def delete_recall(conn: sqlite3.Connection, agent: str, stream: int) -> int:
    """Remove the recall rows of ``agent`` (stream id ``stream``); return how many are left.

    Runs inside the caller's transaction, before the events are deleted. Only
    rows the index holds are removed, each with the values it was indexed with
    (FTS5 keeps its BM25 statistics exact that way). Rows whose event no longer
    decodes as this agent's message are left: their text is lost, and removing a
    row with other values would corrupt the index.
    """
    tag = f"s{stream}"
    indexed = {
        int(row_id)
        for (row_id,) in conn.execute(
            "SELECT rowid FROM recall_fts WHERE recall_fts MATCH ?", (f"stream: {tag}",)
        )
    }
    if not indexed:
        return 0
    rows: list[tuple[int, str, str]] = []
    events = conn.execute("SELECT id, seq, body FROM events WHERE stream = ?", (stream,))
    for row_id, seq, body in events.fetchall():
        if row_id not in indexed:
            continue
        try:
            event = decode_event(body)
        except EventDecodeError:
            continue
        entry = message_of(event)
        if entry is None or event.agent != agent or event.seq != seq:
            continue
        rows.append((row_id, entry.text, tag))
    conn.executemany(
        "INSERT INTO recall_fts(recall_fts, rowid, text, stream) VALUES ('delete', ?, ?, ?)",
        rows,
    )
    return len(indexed) - len(rows)


def count_recall(conn: sqlite3.Connection, agent: str) -> int:
    """Messages of ``agent`` in recall."""
    stream = _stream_id(conn, agent)
    if stream is None:
        return 0
    row = conn.execute(
        "SELECT count(*) FROM recall_fts WHERE recall_fts MATCH ?", (f"stream: s{stream}",)
    ).fetchone()
    return int(row[0])


def search_recall(conn: sqlite3.Connection, agent: str, query: RecallQuery) -> RecallPage:
    """One page of ``agent``'s messages matching ``query`` (already checked).

    Runs its statements in one read transaction, so the total and the page agree.
    """
    conn.execute("BEGIN")
    try:
        stream = _stream_id(conn, agent)
        if stream is None:
            found: tuple[list[tuple[int, float]], int] = ([], 0)
        else:
            found = _search(conn, stream, query)
        hits = _hits(conn, agent, found[0])
    finally:
        conn.execute("COMMIT")
    return RecallPage(hits=hits, total=found[1], page=query.page, page_size=query.page_size)


def _search(
    conn: sqlite3.Connection, stream: int, query: RecallQuery
) -> tuple[list[tuple[int, float]], int]:
    """Row ids and scores of one page of hits, and how many hits there are in all."""
    match = f"stream: s{stream}"
    terms = query_terms(query.text) if query.text is not None else ()
    if terms:
        quoted = ('"' + t.replace('"', '""') + '"' for t in terms)
        match += " AND text: (" + " OR ".join(quoted) + ")"
    conditions: list[str] = []
    args: list[object] = []
    if query.roles:
        types = event_types_of(query.roles)
        conditions.append(f"e.type IN ({','.join('?' * len(types))})")
        args += types
    if query.start is not None:
        conditions.append("e.at >= ?")
        args.append(query.start)
    if query.end is not None:
        conditions.append("e.at <= ?")
        args.append(query.end)
    # Filters on the event row join it by primary key, match by match.
    where = " AND ".join(conditions)
    page = (query.page_size, min(query.page * query.page_size, _MAX_OFFSET))
    if terms:
        return _ranked(conn, match, where, args, page)
    return _newest(conn, match, where, args, page)


# bm25() cannot be called where a window or a join consumes it: score every
# match first, then filter, count and sort the scored rows.
_FOUND = (
    "WITH found AS MATERIALIZED (SELECT rowid AS id, bm25(recall_fts, 1.0, 0.0) AS rank"
    " FROM recall_fts WHERE recall_fts MATCH ?) "
)


def _ranked(
    conn: sqlite3.Connection, match: str, where: str, args: list[object], page: tuple[int, int]
) -> tuple[list[tuple[int, float]], int]:
    source = "found f" + (f" JOIN events e ON e.id = f.id WHERE {where}" if where else "")
    rows = conn.execute(
        f"{_FOUND} SELECT f.id, f.rank, count(*) OVER () FROM {source}"
        " ORDER BY f.rank, f.id DESC LIMIT ? OFFSET ?",
        (match, *args, *page),
    ).fetchall()
    if rows:
        total = int(rows[0][2])
    else:  # a page past the end: the window counted nothing, so count apart
        total = int(
            conn.execute(f"{_FOUND} SELECT count(*) FROM {source}", (match, *args)).fetchone()[0]
        )
    return [(int(row_id), -float(rank)) for row_id, rank, _ in rows], total


def _newest(
    conn: sqlite3.Connection, match: str, where: str, args: list[object], page: tuple[int, int]
) -> tuple[list[tuple[int, float]], int]:
    source = "recall_fts f"
    if where:
        source += " JOIN events e ON e.id = f.rowid"
        where = " AND " + where
    condition = f"recall_fts MATCH ?{where}"
    (total,) = conn.execute(
        f"SELECT count(*) FROM {source} WHERE {condition}", (match, *args)
    ).fetchone()
    rows = conn.execute(
        f"SELECT f.rowid FROM {source} WHERE {condition} ORDER BY f.rowid DESC LIMIT ? OFFSET ?",
        (match, *args, *page),
    ).fetchall()
    return [(int(row_id), 0.0) for (row_id,) in rows], int(total)


def _hits(
    conn: sqlite3.Connection, agent: str, ranked: list[tuple[int, float]]
) -> tuple[RecallHit, ...]:
    if not ranked:
        return ()
    ids = [row_id for row_id, _ in ranked]
    rows = conn.execute(
        f"SELECT id, seq, body FROM events WHERE id IN ({','.join('?' * len(ids))})", ids
    ).fetchall()
    by_id = {row_id: (seq, body) for row_id, seq, body in rows}
    hits: list[RecallHit] = []
    for row_id, score in ranked:
        if row_id not in by_id:
            raise CorruptLogError(
                f"the recall index names event row {row_id}, which the log does not hold",
                actor_id=agent,
            )
        seq, body = by_id[row_id]
        event = decode_stored(agent, seq, body)
        entry = message_of(event)
        if entry is None:
            raise CorruptLogError(
                "the recall index holds an event that is not this agent's message",
                actor_id=agent,
                seq=seq,
            )
        hits.append(RecallHit(seq=seq, at=event.at, role=entry.role, text=entry.text, score=score))
    return tuple(hits)


def decode_stored(agent: str, seq: int, body: bytes) -> Event:
    """Decode the stored event ``agent``#``seq``; damage is a :class:`CorruptLogError`."""
    try:
        event = decode_event(body)
    except EventDecodeError as exc:
        raise CorruptLogError(
            f"stored event is damaged ({exc.message}); events before it are intact",
            actor_id=agent,
            seq=seq,
        ) from None
    if event.agent != agent or event.seq != seq:
        raise CorruptLogError(
            f"stored event claims to be {event.agent!r}#{event.seq}", actor_id=agent, seq=seq
        )
    return event


def _stream_id(conn: sqlite3.Connection, agent: str) -> int | None:
    row = conn.execute("SELECT id FROM streams WHERE name = ?", (agent,)).fetchone()
    return None if row is None else int(row[0])
