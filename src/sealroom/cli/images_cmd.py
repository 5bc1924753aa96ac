"""``sealroom ingest``, ``images``, ``analyze`` and ``corpus predict``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeRemainingColumn,
)
from rich.table import Table
from rich.text import Text

from sealroom.analysis.models import AnalysisTask
from sealroom.analysis.progress import reporting
from sealroom.analysis.tasks import MAX_SCHEMA_BYTES, build_task
from sealroom.cli.common import (
    UserOption,
    WorkspaceOption,
    console,
    err_console,
    handle_errors,
    open_workspace,
    sign_in,
    signed_in,
    terminal_safe,
)
from sealroom.errors import InputError
from sealroom.vault.service import IngestRequest

corpus_app = typer.Typer(
    help="Run the offline engine on a labelled corpus for scoring.", no_args_is_help=True
)


@handle_errors
def ingest(
    files: Annotated[
        list[Path],
        typer.Argument(help="Files to ingest (PNG, JPEG, TIFF, PDF).", exists=True, dir_okay=False),
    ],
    user: UserOption,
    dataset: Annotated[str, typer.Option(help="Data set from sealroom.toml.")],
    case: Annotated[str, typer.Option(help="Case id: patient encounter, account or matter.")],
    document_type: Annotated[
        str, typer.Option("--type", help="Document type: clinical, financial, identity, legal, other.")
    ],
    classification: Annotated[
        str | None, typer.Option(help="Classification (default: the data set's).")
    ] = None,
    workspace: WorkspaceOption = Path("."),
) -> None:
    """Encrypt and store files in the vault; each is checked by content, bad ones are refused."""
    opened = open_workspace(workspace)
    active = sign_in(opened, user)
    request = IngestRequest(
        dataset=dataset, case_id=case, document_type=document_type, classification=classification
    )
    stored: list[tuple[Path, dict[str, Any]]] = []
    refused: list[tuple[Path, str]] = []
    try:
        with Progress(
            TextColumn("[bold]Ingesting"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            TextColumn("{task.description}"),
            console=err_console,
            transient=len(files) == 1,
        ) as progress:
            task = progress.add_task("", total=len(files))
            for path in files:
                progress.update(task, description=path.name)
                try:
                    stored.append((path, opened.vault.ingest(active, path.read_bytes(), request)))
                except InputError as exc:  # this file is bad; carry on with the others
                    refused.append((path, exc.message))
                progress.advance(task)
    finally:
        opened.sessions.end(active.id, "logout")
    table = Table("file", "pages", "type", "sha256")
    table.add_column("image id", no_wrap=True, min_width=32)
    for path, meta in stored:
        table.add_row(
            Text(path.name), str(meta["pages"]), meta["media_type"], meta["sha256"][:12] + "…", meta["id"]
        )
    if stored:
        console.print(table)
    for path, message in refused:
        err_console.print(f"[bold red]refused[/] {escape(path.name)}: {escape(message)}", highlight=False)
    console.print(f"{len(stored)} stored, {len(refused)} refused")
    if refused:
        raise typer.Exit(4)


@handle_errors
def list_images(user: UserOption, workspace: WorkspaceOption = Path(".")) -> None:
    """List the images you may see (metadata only)."""
    opened = open_workspace(workspace)
    with signed_in(opened, user) as active:
        images = opened.vault.list_images(active)
    table = Table("case", "dataset", "classification", "type", "pages", "ingested (UTC)")
    table.add_column("image id", no_wrap=True, min_width=32)
    for meta in images:
        table.add_row(
            Text(meta["case_id"]),
            meta["dataset"],
            meta["classification"],
            meta["document_type"],
            str(meta["pages"]),
            meta["ingested_at"][:16],
            meta["id"],
        )
    console.print(table)


def _task_from_options(
    task: str, schema: str | None, schema_file: Path | None, question: str | None
) -> AnalysisTask:
    """The task the options ask for; ``InputError`` names what is wrong."""
    custom: Any = None
    if schema_file is not None:
        if schema_file.stat().st_size > MAX_SCHEMA_BYTES:
            raise InputError(f"{schema_file} is over the schema size limit of {MAX_SCHEMA_BYTES:,} bytes")
        try:
            custom = json.loads(schema_file.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, ValueError, RecursionError) as exc:
            raise InputError(f"{schema_file} is not a readable JSON file: {type(exc).__name__}") from exc
    return build_task(task, schema_name=schema, schema=custom, question=question)


@handle_errors
def analyze(
    image_id: str,
    user: UserOption,
    engine: Annotated[
        str, typer.Option(help="Analysis engine: local, or one listed by `sealroom engines`.")
    ] = "local",
    task: Annotated[str, typer.Option(help="describe, extract, classify or ask.")] = "describe",
    schema: Annotated[
        str | None, typer.Option(help="extract: a preset (see `sealroom engines`), e.g. insurance_card.")
    ] = None,
    schema_file: Annotated[
        Path | None,
        typer.Option(help="extract: your own JSON Schema file.", exists=True, dir_okay=False),
    ] = None,
    question: Annotated[str | None, typer.Option(help="ask: the question about the image.")] = None,
    output_format: Annotated[str, typer.Option("--format", help="json, text or corpus.")] = "json",
    workspace: WorkspaceOption = Path("."),
) -> None:
    """Analyse an image in a one-off session and print the result, masked for your role."""
    if output_format not in ("json", "text", "corpus"):
        raise typer.BadParameter("--format must be json, text or corpus")
    chosen = _task_from_options(task, schema, schema_file, question)
    opened = open_workspace(workspace)
    opened.engines.get(engine)  # an unknown engine is refused before a sign-in spends a TOTP code
    with (
        signed_in(opened, user) as active,
        Progress(
            SpinnerColumn(),
            TextColumn(f"Analysing with the {escape(engine)} engine ({chosen.kind})"),
            BarColumn(),
            TextColumn("{task.description}"),
            console=err_console,
            transient=True,
        ) as bar,
    ):
        shown = bar.add_task("", total=None)

        def pages_read(done: int, total: int) -> None:
            if total > 1:  # a one-page image keeps the spinner only
                bar.update(shown, completed=done, total=total, description=f"page {done} of {total}")

        with reporting(pages_read):
            result = opened.analysis.analyze(active, image_id, engine, chosen)
    if output_format == "json":
        typer.echo(json.dumps(result, indent=2))  # JSON escapes control characters
    elif output_format == "corpus":
        entities = [
            {"type": e["type"], "text": e["text"], "page": e["page"], "bbox": e["bbox"]}
            for e in result["entities"]
        ]
        typer.echo(json.dumps({"entities": entities}, indent=1))
    else:
        _print_text(result)


def _print_text(result: dict[str, Any]) -> None:
    """The result for a person to read. Engine and model text is shown as plain text, never markup."""
    console.print(Text.assemble(("Document type: ", "bold"), terminal_safe(result["document_type"])))
    if result.get("answer"):
        console.print(Text.assemble(("Answer: ", "bold"), terminal_safe(result["answer"])))
    if result.get("data") is not None:
        console.print(Text("Extracted:", style="bold"))
        console.print(Text(terminal_safe(json.dumps(result["data"], indent=2, ensure_ascii=False))))
    if result.get("text"):
        pages = [terminal_safe(page) for page in result["text"].split("\f")]
        console.print(Text("\n\n--- next page ---\n\n".join(pages)))


@corpus_app.command("predict")
@handle_errors
def corpus_predict(
    corpus_dir: Annotated[Path, typer.Argument(exists=True, file_okay=False)],
    out_dir: Annotated[Path, typer.Argument(file_okay=False)],
) -> None:
    """Write one prediction file per corpus document, in the format the corpus scorer reads."""
    from sealroom.analysis.corpus import predict_corpus
    from sealroom.analysis.local.engine import LocalEngine

    written = predict_corpus(corpus_dir, out_dir, LocalEngine())
    console.print(f"wrote {len(written)} prediction files to {out_dir}")
