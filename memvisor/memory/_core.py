"""Core memory: the labelled blocks the model always sees, and the edits it may make.

```
 the model's call ──► core_append / core_replace / core_rewrite / core_create
                        (pure: a CoreMemory in, an outcome out; nothing changes here)
                                   │
            ┌──────────────────────┴─────────────────────────┐
   Edited(block, op)                                  EditRejected(message)
     │ .event(agent=, seq=, at=) ─► CoreMemoryEdited       │ goes back to the model as a
     ▼ appended to the log, then folded (apply_edit)       ▼ failed tool result
   the agent's CoreMemory                               the memory is as it was
```

Invariants:

* An edit function never yields a block over its limit, never touches a
  read-only block, and names in every rejection what the model should do instead.
* Limits count characters (``len`` of the ``str``: code points), never bytes or
  tokens, so ``"é"`` and ``"👋"`` each cost one.
* The log is the truth: :func:`apply_edit` applies a logged ``CoreMemoryEdited``
  as written, without re-checking limits, so a fold never fails on a logged event.
* Blocks keep a stable order: the order of ``AgentCreated.blocks``, then creations.

Replace semantics: ``old_content`` must occur **exactly once**. MemGPT replaced
every occurrence; we refuse an ambiguous match instead (and say how many there
are), because replacing "Bob" everywhere when the model meant one line silently
rewrites unrelated facts. A rejected edit costs one more step; a wrong one
corrupts memory.
"""

import re
from typing import Literal, Self

import msgspec

from ..events import BlockSpec, CoreMemoryEdited

__all__ = [
    "ARCHIVAL_INSERT",
    "CORE_APPEND",
    "CORE_REPLACE",
    "CORE_REWRITE",
    "DEFAULT_BLOCK_LIMIT",
    "Block",
    "CoreMemory",
    "EditOp",
    "EditOutcome",
    "EditRejected",
    "Edited",
    "apply_edit",
    "core_append",
    "core_create",
    "core_replace",
    "core_rewrite",
]

DEFAULT_BLOCK_LIMIT = 2000
"""Characters a block may hold unless its spec says otherwise."""

# The function names the rejection messages point the model to. The agent issue
# registers the functions under these names.
CORE_APPEND = "core_memory_append"
CORE_REPLACE = "core_memory_replace"
CORE_REWRITE = "core_memory_rewrite"
ARCHIVAL_INSERT = "archival_memory_insert"

EditOp = Literal["append", "replace", "rewrite", "create"]

_LABEL = re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,63}")


class Block(msgspec.Struct, frozen=True, kw_only=True):
    """One labelled block of core memory."""

    label: str
    value: str = ""
    limit: int = DEFAULT_BLOCK_LIMIT
    """Maximum characters (``len``) the block may hold."""
    read_only: bool = False
    """The model may read the block but not edit it."""
    shared: str | None = None
    """Name of the shared block this one mirrors, if shared between agents."""

    @classmethod
    def from_spec(cls, spec: BlockSpec, *, value: str | None = None) -> Self:
        """The block a spec describes (with ``value`` instead of the spec's, if given)."""
        return cls(
            label=spec.label,
            value=spec.value if value is None else value,
            limit=spec.limit,
            read_only=spec.read_only,
            shared=spec.shared,
        )

    def spec(self) -> BlockSpec:
        """The block's rules as an event carries them (without its text)."""
        return BlockSpec(
            label=self.label, limit=self.limit, read_only=self.read_only, shared=self.shared
        )

    @property
    def free(self) -> int:
        """Characters still available (negative if a logged edit overfilled it)."""
        return self.limit - len(self.value)


class CoreMemory(msgspec.Struct, frozen=True, kw_only=True):
    """Every block of one agent, in a stable order."""

    blocks: tuple[Block, ...] = ()

    @classmethod
    def from_specs(cls, specs: tuple[BlockSpec, ...]) -> Self:
        """Core memory as ``AgentCreated.blocks`` describes it (a repeated label: last wins)."""
        memory = cls()
        for spec in specs:
            memory = memory.with_block(Block.from_spec(spec))
        return memory

    def get(self, label: str) -> Block | None:
        """The block labelled ``label``, if there is one."""
        for block in self.blocks:
            if block.label == label:
                return block
        return None

    def labels(self) -> tuple[str, ...]:
        """Every label, in order."""
        return tuple(block.label for block in self.blocks)

    def with_block(self, block: Block) -> Self:
        """This memory with ``block`` replacing the one of its label, or added at the end."""
        labels = self.labels()
        if block.label in labels:
            i = labels.index(block.label)
            return type(self)(blocks=(*self.blocks[:i], block, *self.blocks[i + 1 :]))
        return type(self)(blocks=(*self.blocks, block))


class Edited(msgspec.Struct, frozen=True, kw_only=True):
    """A valid edit: ``block`` is the block as it will be once the event is folded."""

    block: Block
    op: EditOp

    @property
    def value(self) -> str:
        """The block's whole text after the edit."""
        return self.block.value

    def event(
        self,
        *,
        agent: str,
        seq: int,
        at: float,
        cause: int | None = None,
        origin: str | None = None,
    ) -> CoreMemoryEdited:
        """The event that records this edit (a creation carries the block's rules)."""
        return CoreMemoryEdited(
            agent=agent,
            seq=seq,
            at=at,
            cause=cause,
            block=self.block.label,
            op=self.op,
            value=self.block.value,
            origin=origin,
            spec=self.block.spec() if self.op == "create" else None,
        )


class EditRejected(msgspec.Struct, frozen=True, kw_only=True):
    """An edit that was refused; nothing changed. ``message`` is written for the model."""

    message: str


EditOutcome = Edited | EditRejected


def core_append(memory: CoreMemory, label: str, content: str) -> EditOutcome:
    """Append ``content`` to a block, on a new line if the block is not empty."""
    block = _editable(memory, label)
    if isinstance(block, EditRejected):
        return block
    if not content:
        return EditRejected(message=f"Nothing was appended to block '{label}': content is empty.")
    value = f"{block.value}\n{content}" if block.value else content
    if len(value) > block.limit:
        added = len(value) - len(block.value)
        return EditRejected(
            message=(
                f"Block '{label}' was not changed: appending {added:,} characters would bring"
                f" it to {_over(block, value)}. Save the detail in archival memory with"
                f" {ARCHIVAL_INSERT} instead, or make room first: {CORE_REPLACE} to shorten"
                f" a passage, or {CORE_REWRITE} with a condensed version of the whole block."
            )
        )
    return Edited(block=_with_value(block, value), op="append")


def core_replace(memory: CoreMemory, label: str, old: str, new: str) -> EditOutcome:
    """Replace the one exact occurrence of ``old`` in a block with ``new``.

    ``old`` must occur exactly once: an absent or ambiguous match is rejected
    (see the module docstring). ``new`` may be empty, which deletes ``old``.
    """
    block = _editable(memory, label)
    if isinstance(block, EditRejected):
        return block
    if not old:
        return EditRejected(
            message=(
                f"Block '{label}' was not changed: old_content is empty. Give the exact"
                f" passage to replace, or use {CORE_APPEND} to add new text."
            )
        )
    count = block.value.count(old)
    if count == 0:
        return EditRejected(
            message=(
                f"Block '{label}' was not changed: old_content does not occur in it."
                " It must match the block's current text exactly (case, spaces and"
                " punctuation included); the current text is shown under core memory in"
                f" your system message. Copy the passage exactly, or use {CORE_APPEND}"
                " to add new text."
            )
        )
    if count > 1:
        return EditRejected(
            message=(
                f"Block '{label}' was not changed: old_content occurs {count} times in it"
                " and a replace changes exactly one passage. Include more of the"
                " surrounding text so that old_content matches only once."
            )
        )
    value = block.value.replace(old, new, 1)
    if len(value) > block.limit:
        return EditRejected(
            message=(
                f"Block '{label}' was not changed: the replacement would bring it to"
                f" {_over(block, value)}. Use a shorter new_content, save the detail in"
                f" archival memory with {ARCHIVAL_INSERT}, or condense the block with"
                f" {CORE_REWRITE}."
            )
        )
    return Edited(block=_with_value(block, value), op="replace")


def core_rewrite(memory: CoreMemory, label: str, value: str) -> EditOutcome:
    """Replace the whole text of a block with ``value`` (which may be empty)."""
    block = _editable(memory, label)
    if isinstance(block, EditRejected):
        return block
    if len(value) > block.limit:
        return EditRejected(
            message=(
                f"Block '{label}' was not changed: the new text has {len(value):,}"
                f" characters, {len(value) - block.limit:,} over the block's limit of"
                f" {block.limit:,}. Condense it to at most {block.limit:,} characters and"
                f" save the detail in archival memory with {ARCHIVAL_INSERT}."
            )
        )
    return Edited(block=_with_value(block, value), op="rewrite")


def core_create(
    memory: CoreMemory,
    label: str,
    value: str = "",
    *,
    limit: int = DEFAULT_BLOCK_LIMIT,
    read_only: bool = False,
    shared: str | None = None,
) -> EditOutcome:
    """Add a new block (its label: a letter, then up to 63 letters, digits, ``_`` or ``-``)."""
    if not _LABEL.fullmatch(label):
        return EditRejected(
            message=(
                f"No block was created: {label!r} is not a valid label. Use a letter"
                " followed by up to 63 letters, digits, '_' or '-', e.g. 'project_notes'."
            )
        )
    if memory.get(label) is not None:
        return EditRejected(
            message=(
                f"No block was created: a block labelled '{label}' already exists. Edit it"
                f" with {CORE_APPEND}, {CORE_REPLACE} or {CORE_REWRITE}."
            )
        )
    if limit <= 0:
        return EditRejected(
            message=f"No block was created: the limit must be positive, not {limit}."
        )
    if len(value) > limit:
        return EditRejected(
            message=(
                f"No block was created: the text has {len(value):,} characters, over the"
                f" limit of {limit:,}. Start the block shorter (or with a larger limit) and"
                f" keep the detail in archival memory with {ARCHIVAL_INSERT}."
            )
        )
    block = Block(label=label, value=value, limit=limit, read_only=read_only, shared=shared)
    return Edited(block=block, op="create")


def apply_edit(memory: CoreMemory, event: CoreMemoryEdited) -> CoreMemory:
    """The memory after a logged edit, applied as written (never rejected: the log is truth).

    A block the memory lacks is created, with the event's spec or the defaults;
    a ``spec`` on the event also resets the block's rules.
    """
    if event.spec is not None:
        block = Block.from_spec(event.spec, value=event.value)
        block = msgspec.structs.replace(block, label=event.block)
    else:
        current = memory.get(event.block)
        block = (
            Block(label=event.block, value=event.value)
            if current is None
            else _with_value(current, event.value)
        )
    return memory.with_block(block)


def _editable(memory: CoreMemory, label: str) -> Block | EditRejected:
    block = memory.get(label)
    if block is None:
        labels = ", ".join(f"'{name}'" for name in memory.labels())
        known = f"The blocks are: {labels}." if labels else "There are no core memory blocks."
        return EditRejected(
            message=(
                f"There is no core memory block labelled '{label}'. {known}"
                " Use one of these labels exactly as written."
            )
        )
    if block.read_only:
        editable = ", ".join(f"'{b.label}'" for b in memory.blocks if not b.read_only)
        elsewhere = f"another block ({editable})" if editable else "no other core block"
        return EditRejected(
            message=(
                f"Block '{label}' is read-only and was not changed. Keep the information"
                f" elsewhere: {elsewhere}, or archival memory with {ARCHIVAL_INSERT}."
            )
        )
    return block


def _over(block: Block, value: str) -> str:
    excess = len(value) - block.limit
    return (
        f"{len(value):,} characters, {excess:,} over its limit of {block.limit:,}"
        f" ({max(block.free, 0):,} characters are free)"
    )


def _with_value(block: Block, value: str) -> Block:
    return msgspec.structs.replace(block, value=value)
