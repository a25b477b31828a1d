"""When archival maintenance runs: after enough writes, once inserts pause.

A maintenance pass (``PassageTable.maintain``) compacts the small files that
each insert leaves, folds new rows into the indexes, and builds the ANN index
once the table is large enough. Rows not yet in an index are still found (they
are searched without it), only more slowly, so passes can wait:

```
insert ──► note_write ──► due? ──yes──► wake the maintenance task
                                          │ wait until no insert for `delay` seconds,
                                          │ or 30 s after it fell due, whichever first
                                          ▼
                                        pass ──► finished(report)
```

Waiting for a pause keeps a bulk load from paying for passes that its next rows
would make stale at once; the 30-second bound gives a steady stream of inserts
its passes all the same. Time is the event loop's clock, virtual in simulations.
"""

from __future__ import annotations

import anyio

__all__ = ["Upkeep"]

AFTER_WRITES = 20  # LanceDB's advice: optimize after ~20 modifications
AFTER_ROWS = 2_000  # or once this many rows are searched without an index (~2 ms)
WAIT_AT_MOST = 30.0  # seconds a due pass waits for inserts to pause


class Upkeep:
    """The bookkeeping that decides when a maintenance pass is due, and waits for it."""

    def __init__(self, *, delay: float, ann_threshold: int, vectors: bool) -> None:
        self.delay = delay
        self.ann_threshold = ann_threshold
        self.vectors = vectors
        """Whether the table holds vectors (else no ANN index is ever due)."""
        self.rows = 0
        self.fts_index = False
        self.ann_index = False
        self.runs = 0
        self._fresh_writes = 0
        self._fresh_rows = 0
        self._last_write = 0.0
        self._due_since: float | None = None
        self._wakeup = anyio.Event()

    def due(self) -> bool:
        """Whether a pass would do useful work now."""
        return (
            not self.fts_index
            or self._fresh_writes >= AFTER_WRITES
            or self._fresh_rows >= AFTER_ROWS
            or (self.vectors and not self.ann_index and self.rows >= self.ann_threshold)
        )

    def note_write(self, added: int) -> None:
        """Count an insert that added ``added`` rows; wake the task if a pass is due."""
        self._last_write = anyio.current_time()
        self.rows += added
        self._fresh_writes += 1
        self._fresh_rows += added
        self.schedule()

    def schedule(self) -> None:
        """Wake the maintenance task if a pass is due."""
        if self.due():
            if self._due_since is None:
                self._due_since = anyio.current_time()
            self._wakeup.set()

    async def wait_due(self) -> None:
        """Return once a pass is due and inserts have paused (or waited long enough)."""
        await self._wakeup.wait()
        self._wakeup = anyio.Event()
        while True:
            now = anyio.current_time()
            quiet = now - self._last_write
            waited = now - (self._due_since or now)
            if quiet >= self.delay or waited >= WAIT_AT_MOST:
                return
            await anyio.sleep(min(self.delay - quiet, WAIT_AT_MOST - waited))

    def started(self) -> None:
        """A pass begins: what was written so far is its work."""
        self._fresh_writes = self._fresh_rows = 0
        self._due_since = None

    def finished(self, *, rows: int, fts_index: bool, ann_index: bool) -> None:
        """A pass ended, finding the table in this state."""
        self.rows = rows
        self.fts_index, self.ann_index = fts_index, ann_index
        self.runs += 1
