"""``gyre rag``: the document index from the command line."""

from __future__ import annotations

import json
from pathlib import Path

import click


@click.group()
def rag() -> None:
    """The document index."""


@rag.command()
@click.option(
    "--folder", type=click.Path(path_type=Path, file_okay=False, exists=True), help="default: GYRE_RAG_DOCS_DIR"
)
@click.option("--output", type=click.Path(path_type=Path, dir_okay=False), help="default: golden_set.draft.json there")
@click.option("--per-document", type=click.IntRange(1, 20), default=2, show_default=True)
def golden(folder: Path | None, output: Path | None, per_document: int) -> None:
    """Draft a golden set from the folder's documents, for a person to review and save as golden_set.json."""
    from gyre.config import get_settings
    from gyre.rag.golden import draft

    settings = get_settings()
    folder = folder or settings.docs_dir
    output = output or folder / "golden_set.draft.json"
    if output.name == "golden_set.json":
        raise click.UsageError("a draft is never the golden set itself: review it, then rename it")
    result = draft(folder, settings.rag_chunk_words, settings.rag_chunk_overlap, per_document)
    output.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    documents = len({q["documents"][0] for q in result["questions"]})
    click.echo(f"{len(result['questions'])} draft questions over {documents} documents in {output}")
    click.echo("Review them (rewrite each question as a user would ask it), then save the file as golden_set.json.")
