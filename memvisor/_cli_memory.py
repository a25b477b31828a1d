"""``memvisor load``, ``attach`` and ``sources``: data sources in archival memory."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import TYPE_CHECKING

import anyio
import click

from ._cli_support import Home, user_errors
from ._exceptions import ConfigError
from .events import SourceAttached, open_sqlite_log
from .memory import ChunkSpec, LoadReport, load_source, source_owner
from .memory._sources import DEFAULT_EXTENSIONS

# Archival memory (LanceDB, NumPy, the openai SDK) and rich's progress bars are
# imported inside the commands that use them: `memvisor send` never pays for them.
if TYPE_CHECKING:
    from .memory import Embedder

__all__ = ["attach", "embedder_from_spec", "load", "source_passages", "sources"]

_EMBEDDER_HELP = (
    "Embedding model: 'openai[:MODEL]' (the OpenAI-compatible server of OPENAI_BASE_URL),"
    " 'local:PATH' (a sentence-transformers model directory; needs memvisor[local]) or"
    " 'none' (full-text search only). Env MEMVISOR_EMBEDDER. Default: openai when"
    " OPENAI_API_KEY or OPENAI_BASE_URL is set, else none."
)


def embedder_from_spec(spec: str | None) -> Embedder | None:
    """The embedder a spec names (see ``--embedder``); ``None`` means full-text only."""
    if spec is None:
        spec = os.environ.get("MEMVISOR_EMBEDDER") or (
            "openai"
            if os.environ.get("OPENAI_API_KEY") or os.environ.get("OPENAI_BASE_URL")
            else "none"
        )
    kind, _, arg = spec.partition(":")
    if kind == "none" and not arg:
        return None
    from .memory import LocalEmbedder, OpenAIEmbedder

    if kind == "openai":
        return OpenAIEmbedder(model=arg) if arg else OpenAIEmbedder()
    if kind == "local" and arg:
        return LocalEmbedder(arg)
    raise ConfigError(f"unknown embedder {spec!r}: use 'openai[:MODEL]', 'local:PATH' or 'none'")


@click.command()
@click.argument("source")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "--ext",
    "extensions",
    default=",".join(e.lstrip(".") for e in DEFAULT_EXTENSIONS),
    show_default=True,
    help="File extensions to take when walking directories (comma-separated).",
)
@click.option("--chunk-tokens", default=300, show_default=True, help="Passage size in tokens.")
@click.option(
    "--overlap",
    type=int,
    help="Tokens shared by neighbouring passages [default: a sixth of --chunk-tokens].",
)
@click.option("--embedder", "embedder_spec", help=_EMBEDDER_HELP)
@click.pass_obj
def load(
    home: Home,
    source: str,
    paths: tuple[Path, ...],
    extensions: str,
    chunk_tokens: int,
    overlap: int | None,
    embedder_spec: str | None,
) -> None:
    """Load files (text, Markdown, PDF; directories recursively) as data source SOURCE.

    Files are cut into passages, embedded once and stored in archival memory;
    loading the same file again adds nothing. Unreadable files are reported
    and skipped. Make a source searchable by an agent with `memvisor attach`.
    """
    with user_errors():
        spec = ChunkSpec(
            tokens=chunk_tokens, overlap=chunk_tokens // 6 if overlap is None else overlap
        )
        embedder = embedder_from_spec(embedder_spec)
        exts = [e.strip() for e in extensions.split(",") if e.strip()]
        report = anyio.run(_load, home, source, list(paths), spec, exts, embedder)
    for skipped in report.skipped:
        click.echo(f"skipped {skipped.path}: {skipped.reason}", err=True)
    click.echo(
        f"source {report.source!r}: {report.files} files, {report.passages} passages,"
        f" {report.added} new"
        + ("" if embedder is not None else " (no embedder: full-text search only)")
    )


async def _load(
    home: Home,
    source: str,
    paths: list[Path],
    spec: ChunkSpec,
    extensions: list[str],
    embedder: Embedder | None,
) -> LoadReport:
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
    )

    from .memory import open_archival

    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn())
    with Progress(*columns, TimeElapsedColumn(), console=Console(stderr=True)) as progress:
        task = progress.add_task(f"loading {source}", total=None)
        files = [0]

        def on_file(path: Path, index: int, total: int) -> None:
            files[0] = total
            progress.update(task, completed=index, total=total, description=path.name[:40])

        async with open_archival(home.archival, embedder=embedder) as store:
            report = await load_source(
                store,
                source,
                paths,
                spec=spec,
                extensions=extensions,
                at=time.time(),
                on_file=on_file,
            )
        progress.update(task, completed=files[0], description="done")
    return report


@click.command()
@click.argument("agent")
@click.argument("source")
@click.pass_obj
def attach(home: Home, agent: str, source: str) -> None:
    """Make data source SOURCE searchable by AGENT's archival memory search."""
    with user_errors():
        message = anyio.run(_attach, home, agent, source)
    click.echo(message)


async def source_passages(home: Home, source: str) -> int:
    """How many passages data source ``source`` holds.

    Raises:
        click.ClickException: there is no such source.
    """
    from .memory import open_archival

    async with open_archival(home.archival, embedder=None) as store:
        owner = source_owner(source)
        if owner not in await store.owners():
            raise click.ClickException(
                f"no data source named {source!r} (load one with `memvisor load {source} PATH`)"
            )
        return await store.count([owner])


async def _attach(home: Home, agent: str, source: str) -> str:
    if not home.log.exists():
        raise click.ClickException(f"no event log at {home.log}: create the agent first")
    passages = await source_passages(home, source)
    async with open_sqlite_log(home.log) as log:
        events = await log.read(agent)
        if not events:
            raise click.ClickException(f"no agent named {agent!r}")
        if any(isinstance(e, SourceAttached) and e.source == source for e in events):
            return f"{source!r} was already attached to {agent!r}"
        last = events[-1]
        await log.append(
            [
                SourceAttached(
                    agent=agent,
                    seq=last.seq + 1,
                    at=time.time(),
                    source=source,
                    passages=passages,
                )
            ]
        )
    return f"attached {source!r} ({passages} passages) to {agent!r}"


@click.command()
@click.pass_obj
def sources(home: Home) -> None:
    """List the data sources in archival memory, with their passage counts."""
    with user_errors():
        rows = anyio.run(_sources, home)
    if not rows:
        click.echo("no data sources (load one with `memvisor load NAME PATH...`)")
    for name, count in rows:
        click.echo(f"{name}\t{count} passages")


async def _sources(home: Home) -> list[tuple[str, int]]:
    from .memory import open_archival

    async with open_archival(home.archival, embedder=None) as store:
        owners = [o for o in await store.owners() if o.startswith("source:")]
        return [(o.removeprefix("source:"), await store.count([o])) for o in owners]
