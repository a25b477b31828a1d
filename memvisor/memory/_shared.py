"""Shared core memory blocks: who shares what, and how one agent's edit reaches the others.

```
 ada edits her block "team" (shared as "team-notes"):
   CoreMemoryEdited(agent="ada", seq=41, block="team", value=v)          ─► ada's log
       │ fan_out(registry, edit, next_seqs={"bob": 17, "cy": 9}, at=t)
       ├─► CoreMemoryEdited(agent="bob", seq=17, block="notes", value=v, origin="ada")
       └─► CoreMemoryEdited(agent="cy",  seq=9,  block="team",  value=v, origin="ada")
```

Invariants:

* Every event carries the block's whole new text, so folding it into any
  sharer's state gives the same value: sharers converge once they have applied
  the same edits in the same order. Ordering concurrent edits to one shared
  block (one at a time, each computed on the latest value) is the runtime's job;
  if two edits race, the one delivered last wins everywhere it lands last.
* An edit that came from another agent (``origin`` set) is never fanned out
  again, so an edit cannot echo between sharers.
* All sharers of a name agree on its rules (limit, read-only): :meth:`SharedBlocks.join`
  refuses a block that disagrees, so an edit valid for one is valid for all.
* Shares are ordered by name and sharers by agent: the fan-out is deterministic.
"""

from collections.abc import Mapping
from typing import Self

import msgspec

from .._exceptions import UsageError
from ..events import CoreMemoryEdited
from ._core import CoreMemory

__all__ = ["Share", "SharedBlocks", "Sharer", "fan_out"]


class Sharer(msgspec.Struct, frozen=True, kw_only=True):
    """One agent's copy of a shared block."""

    agent: str
    label: str
    """The label of the block in that agent's core memory (labels may differ)."""


class Share(msgspec.Struct, frozen=True, kw_only=True):
    """A shared block: its name, its rules, and every agent holding a copy."""

    name: str
    limit: int
    read_only: bool
    sharers: tuple[Sharer, ...] = ()


class SharedBlocks(msgspec.Struct, frozen=True, kw_only=True):
    """Registry of shared blocks (pure: each change returns a new registry)."""

    shares: tuple[Share, ...] = ()

    def join(self, agent: str, memory: CoreMemory) -> Self:
        """Register every shared block of ``agent``'s core memory (replacing its old entries).

        Raises:
            UsageError: a block disagrees with the share's limit or read-only flag,
                or two of the agent's blocks mirror the same share.
        """
        registry = self.leave(agent)
        by_name = {share.name: share for share in registry.shares}
        for block in memory.blocks:
            if block.shared is None:
                continue
            share = by_name.get(block.shared)
            if share is None:
                share = Share(name=block.shared, limit=block.limit, read_only=block.read_only)
            elif (share.limit, share.read_only) != (block.limit, block.read_only):
                raise UsageError(
                    f"block {block.label!r} of {agent!r} shares {block.shared!r} with limit"
                    f" {block.limit} and read_only={block.read_only}, but the share has limit"
                    f" {share.limit} and read_only={share.read_only}: make them agree"
                )
            if any(sharer.agent == agent for sharer in share.sharers):
                raise UsageError(f"{agent!r} has two blocks mirroring {block.shared!r}")
            sharers = sorted(
                (*share.sharers, Sharer(agent=agent, label=block.label)), key=_by_agent
            )
            by_name[block.shared] = msgspec.structs.replace(share, sharers=tuple(sharers))
        return type(self)(shares=tuple(by_name[name] for name in sorted(by_name)))

    def leave(self, agent: str) -> Self:
        """Forget ``agent``'s copies (a share left with no sharers is dropped)."""
        shares = []
        for share in self.shares:
            sharers = tuple(s for s in share.sharers if s.agent != agent)
            if sharers:
                shares.append(msgspec.structs.replace(share, sharers=sharers))
        return type(self)(shares=tuple(shares))

    def get(self, name: str) -> Share | None:
        """The share called ``name``, if any agent holds it."""
        for share in self.shares:
            if share.name == name:
                return share
        return None

    def share_of(self, agent: str, label: str) -> Share | None:
        """The share that ``agent``'s block ``label`` mirrors, if it is shared."""
        for share in self.shares:
            if Sharer(agent=agent, label=label) in share.sharers:
                return share
        return None


def fan_out(
    registry: SharedBlocks,
    edit: CoreMemoryEdited,
    *,
    next_seqs: Mapping[str, int],
    at: float,
) -> tuple[CoreMemoryEdited, ...]:
    """The events that carry ``edit`` to every other sharer of its block.

    Args:
        registry: Who shares what.
        edit: An edit as logged by the agent that made it.
        next_seqs: The next free ``seq`` of each other sharer's log.
        at: When the events are logged.

    Returns:
        One event per other sharer, in agent order, with ``origin`` naming the
        editing agent; empty if the block is not shared or the edit is itself
        one received from another agent.

    Raises:
        UsageError: ``next_seqs`` lacks a sharer.
    """
    if edit.origin is not None and edit.origin != edit.agent:
        return ()
    share = registry.share_of(edit.agent, edit.block)
    if share is None:
        return ()
    events = []
    for sharer in share.sharers:
        if sharer.agent == edit.agent:
            continue
        if sharer.agent not in next_seqs:
            raise UsageError(
                f"no next seq given for {sharer.agent!r}, which shares {share.name!r}"
            )
        spec = (
            None if edit.spec is None else msgspec.structs.replace(edit.spec, label=sharer.label)
        )
        events.append(
            CoreMemoryEdited(
                agent=sharer.agent,
                seq=next_seqs[sharer.agent],
                at=at,
                block=sharer.label,
                op=edit.op,
                value=edit.value,
                origin=edit.agent,
                spec=spec,
            )
        )
    return tuple(events)


def _by_agent(sharer: Sharer) -> str:
    return sharer.agent
