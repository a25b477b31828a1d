"""Which ids might be stored already: so that inserting never embeds a passage twice.

Embedding is the expensive part of an insert (a server round trip, or a model
forward pass), and re-inserting is common: a data source loaded again, a log
replayed after a crash. Asking LanceDB about every id of every batch costs a
scan per batch; this filter answers from memory instead.

Invariants:

* No false positives reach the caller: an id the filter flags (its hash is
  known) is checked against the table before it is dropped.
* False negatives are harmless: an id stored by another process after the
  filter was loaded is embedded again, and merge-insert still stores it once.
* Eight bytes per stored passage: sorted 64-bit hashes plus a small recent set.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import numpy.typing as npt

__all__ = ["IdFilter"]

_MERGE_AT = 50_000  # recent hashes folded into the sorted array past this many


class IdFilter:
    """A set of id hashes: "maybe stored" or "surely not stored (by us)"."""

    def __init__(self, ids: Iterable[str] = ()) -> None:
        self._sorted: npt.NDArray[np.int64] = np.unique(_hashes(ids))
        self._recent: set[int] = set()

    def __len__(self) -> int:
        return len(self._sorted) + len(self._recent)

    def maybe_stored(self, ids: Sequence[str]) -> list[bool]:
        """For each id: could it be stored (hash known), or is it surely new?"""
        hashes = [hash(i) for i in ids]
        if len(self._sorted):
            wanted = np.array(hashes, np.int64)
            at = np.minimum(np.searchsorted(self._sorted, wanted), len(self._sorted) - 1)
            known: list[bool] = (self._sorted[at] == wanted).tolist()
        else:
            known = [False] * len(hashes)
        recent = self._recent
        return [k or h in recent for k, h in zip(known, hashes, strict=True)]

    def add(self, ids: Iterable[str]) -> None:
        """Remember ids that are now stored."""
        self._recent.update(hash(i) for i in ids)
        if len(self._recent) >= _MERGE_AT:
            merged = np.concatenate([self._sorted, np.fromiter(self._recent, np.int64)])
            self._sorted = np.unique(merged)
            self._recent.clear()


def _hashes(ids: Iterable[str]) -> npt.NDArray[np.int64]:
    # Python's str hash: fast, 64-bit, stable within a process (all this filter needs).
    return np.fromiter((hash(i) for i in ids), dtype=np.int64)
