"""``sealroom audit verify|show|export``: check, search and export the tamper-evident log.

``verify --file`` checks an evidence export with ``sealroom.audit.standalone`` (no workspace needed);
inside a workspace it also checks every record's HMAC seal with the audit key.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from sealroom.alerting.monitor import Monitor
from sealroom.audit.anchor_key import AnchorKey
from sealroom.audit.anchors import anchor_key_path
from sealroom.audit.evidence import FORMATS, check_seals, export_evidence
from sealroom.audit.filters_text import action_filter, parse_time
from sealroom.audit.query import KINDS, AuditQuery, page
from sealroom.audit.standalone import VerifyError, expect_key_problem, seq_range, verify_file
from sealroom.cli.common import (
    WorkspaceOption,
    console,
    err_console,
    handle_errors,
    open_workspace,
    operator,
    print_plain,
    terminal_safe,
)
from sealroom.config import CONFIG_NAME
from sealroom.errors import InputError

audit_app = typer.Typer(help="Verify, search and export the audit log.", no_args_is_help=True)


def _failed(problem: str) -> typer.Exit:
    err_console.print(
        f"[bold red]FAILED[/]: {escape(terminal_safe(problem))}", highlight=False, soft_wrap=True
    )
    return typer.Exit(2)


@audit_app.command("verify")
@handle_errors
def verify(
    file: Annotated[
        Path | None,
        typer.Option(help="Verify an evidence export (JSON Lines, OCSF or CSV) instead of the log."),
    ] = None,
    expect_key: Annotated[
        str | None, typer.Option(help="The organisation's published anchor key id; any other signer fails.")
    ] = None,
    workspace: Annotated[
        Path | None,
        typer.Option(
            "--workspace",
            "-w",
            envvar="SEALROOM_WORKSPACE",
            file_okay=False,
            help="Workspace folder (default: the current folder when it is one; not needed for --file).",
        ),
    ] = None,
) -> None:
    """Check every record's seal and link; name the first bad record. Exit 0 only when intact."""
    if expect_key is not None and (problem := expect_key_problem(expect_key)):
        raise InputError(f"--expect-key: {problem}")
    root = workspace if workspace is not None else (Path(".") if Path(CONFIG_NAME).exists() else None)
    if file is None:
        _verify_log(root or Path("."))
        return
    seal_check = None
    workspace_key_id = None
    if root is not None:
        opened = open_workspace(root)
        audit_key = opened.keys.audit_key
        workspace_key_id = AnchorKey.load(anchor_key_path(opened.root, opened.settings)).key_id
        opened.close()
        seal_check = lambda records: check_seals(records, audit_key)  # noqa: E731
        # Genuine seals cannot show a record that was left out; only the manifest's signature can, so
        # inside a workspace the signer must be this workspace (or the key named with --expect-key).
        expect_key = expect_key or workspace_key_id
    try:
        result = verify_file(file, expect_key=expect_key, seal_check=seal_check)
    except (VerifyError, OSError) as exc:
        raise _failed(str(exc)) from None
    except (RecursionError, MemoryError):
        raise _failed("the file is not an export Sealroom can read (too deep or too large)") from None
    m = result.manifest
    kind = "contiguous range" if m.get("contiguous") else "filtered selection"
    console.print(
        f"[green]OK[/]: {len(result.records)} records ({seq_range(m.get('first_seq'), m.get('last_seq'))}), "
        f"{result.format}, {kind}; {len(m.get('anchors') or [])} signed anchors checked",
        highlight=False,
    )
    print_plain(f"signed by anchor key {result.key_id}")
    if seal_check is None:
        console.print(
            "record seals (HMAC) not checked: that needs the workspace's audit key", highlight=False
        )
    else:
        console.print("every record's seal (HMAC) checked with this workspace's audit key", highlight=False)
    if expect_key is None:
        console.print(
            "compare the key id with the one your organisation published, or pass --expect-key",
            highlight=False,
        )
    elif expect_key == workspace_key_id:
        console.print("the signer is this workspace's anchor key", highlight=False)
    for note in result.notes:
        console.print(Text(f"note: {note}"))


def _verify_log(root: Path) -> None:
    # The chain alone cannot show a log rewritten by someone holding the audit key; the signed
    # anchors (the table and the configured anchor file) can, so verify checks both.
    opened = open_workspace(root)
    try:
        report, file_state = Monitor.of(opened).check()
        chain = report.chain
        opened.audit.append(
            opened.db, category="audit", action="audit.verify",
            outcome="success" if report.ok else "failure", actor=operator(),
            details={"ok": report.ok, "checked": chain.checked, "anchors_checked": report.anchors_checked,
                     "anchor_file": file_state},
        )  # fmt: skip
    finally:
        opened.close()
    if file_state == "missing":
        err_console.print("warning: the configured anchor file (audit.anchor.file) does not exist (yet)")
    if not report.ok:
        raise _failed(report.summary())
    console.print(
        f"[green]OK[/]: {chain.checked} records verified; chain head seq {chain.last_seq}; "
        f"{report.anchors_checked} signed anchors match",
        highlight=False,
    )
    if chain.last_mac:
        print_plain(f"head seal: {chain.last_mac}")


UserFilter = Annotated[str | None, typer.Option("--user", help="What this user (actor) did.")]
ImageFilter = Annotated[str | None, typer.Option("--image", help="Every record about this image id.")]
CaseFilter = Annotated[str | None, typer.Option("--case", help="Every record with this case id.")]
ActionFilter = Annotated[
    str | None,
    typer.Option("--action", help="Action, or a family ending in '.*' or '.' (access.*, image.)."),
]
OutcomeFilter = Annotated[str | None, typer.Option("--outcome", help="success, failure, allow or deny.")]
SinceFilter = Annotated[str | None, typer.Option("--since", help="From this ISO time (inclusive, UTC).")]
UntilFilter = Annotated[
    str | None,
    typer.Option("--until", help="Before this ISO time (UTC); a date alone includes that whole day."),
]
KindFilter = Annotated[
    str | None,
    typer.Option(
        "--kind",
        help="A named search: access (decisions, opens, analyses, deliveries; with --image: who accessed "
        "it), denials, break-glass or exports.",
    ),
]
DenialsFlag = Annotated[bool, typer.Option("--denials", help="Same as --kind denials.")]
BreakGlassFlag = Annotated[bool, typer.Option("--break-glass", help="Same as --kind break-glass.")]
ExportsFlag = Annotated[bool, typer.Option("--exports", help="Same as --kind exports.")]


def build_query(
    *,
    user: str | None = None,
    image: str | None = None,
    case: str | None = None,
    action: str | None = None,
    outcome: str | None = None,
    since: str | None = None,
    until: str | None = None,
    kind: str | None = None,
    denials: bool = False,
    break_glass: bool = False,
    exports: bool = False,
    **bounds: Any,
) -> AuditQuery:
    """The ``AuditQuery`` of the command-line filters (``bounds``: limit, after/before_seq, newest_first)."""
    kinds = [
        name for name, on in (("denials", denials), ("break-glass", break_glass), ("exports", exports)) if on
    ]
    if kind is not None:
        kinds.append(kind)
    if len(set(kinds)) > 1:
        raise InputError("choose one named search (--kind, --denials, --break-glass or --exports)")
    exact, prefix = action_filter(action)
    try:
        return AuditQuery(
            actor=user, image_id=image, case_id=case, outcome=outcome, action=exact, action_prefix=prefix,
            since=parse_time(since, "--since"), until=parse_time(until, "--until", until=True),
            kind=kinds[0] if kinds else None, **bounds,
        )  # fmt: skip
    except ValueError as exc:
        raise InputError(f"{exc} (named searches: {', '.join(KINDS)})") from exc


@audit_app.command("show")
@handle_errors
def show(
    user: UserFilter = None,
    image: ImageFilter = None,
    case: CaseFilter = None,
    action: ActionFilter = None,
    outcome: OutcomeFilter = None,
    since: SinceFilter = None,
    until: UntilFilter = None,
    kind: KindFilter = None,
    denials: DenialsFlag = False,
    break_glass: BreakGlassFlag = False,
    exports: ExportsFlag = False,
    limit: Annotated[int, typer.Option(help="At most this many records.", min=1, max=10_000)] = 50,
    before_seq: Annotated[
        int | None, typer.Option(help="Page back: records before this seq (newest first).", min=1)
    ] = None,
    after_seq: Annotated[
        int | None, typer.Option(help="Page forward: records after this seq (oldest first).", min=0)
    ] = None,
    workspace: WorkspaceOption = Path("."),
) -> None:
    """Show audit records matching the filters (the newest by default), oldest at the top.

    Reading the log is audited as ``audit.search`` (the filters used, never their values, and the count).
    """
    query = build_query(
        user=user, image=image, case=case, action=action, outcome=outcome, since=since, until=until,
        kind=kind, denials=denials, break_glass=break_glass, exports=exports, limit=limit,
        after_seq=after_seq, before_seq=before_seq, newest_first=after_seq is None,
    )  # fmt: skip
    opened = open_workspace(workspace)
    try:
        with opened.db() as db:
            result = page(db, query)
        opened.audit.append(
            opened.db, category="audit", action="audit.search", outcome="success", actor=operator(),
            details={"returned": len(result.records), "filter": query.summary()},
        )  # fmt: skip
    finally:
        opened.close()
    if not result.records:
        console.print("No audit records match these filters.")
        return
    rows = result.records if not query.newest_first else list(reversed(result.records))
    table = Table("seq", "time (UTC)", "actor", "action", "outcome", "reason")
    table.add_column("image", no_wrap=True, min_width=32)
    table.add_column("case")
    for row in rows:
        cells = (
            str(row["seq"]), row["ts"][:19], row["actor"], row["action"], row["outcome"],
            row["reason"] or "", row["image_id"] or "", row["case_id"] or "",
        )  # fmt: skip
        # Text, not markup: record values are user-influenced and must print as they are.
        table.add_row(*(Text(terminal_safe(cell)) for cell in cells))
    console.print(table)
    if result.next_cursor is not None:
        ((name, value),) = result.next_cursor.items()
        console.print(f"more: repeat with --{name.replace('_', '-')} {value}", highlight=False)


@audit_app.command("export")
@handle_errors
def export(
    out: Annotated[Path, typer.Option(help="Write the export to this new file.", dir_okay=False)],
    fmt: Annotated[str, typer.Option("--format", help=f"One of: {', '.join(FORMATS)}.")] = "jsonl",
    jsonl: Annotated[bool, typer.Option("--jsonl", help="Same as --format jsonl.")] = False,
    user: UserFilter = None,
    image: ImageFilter = None,
    case: CaseFilter = None,
    action: ActionFilter = None,
    outcome: OutcomeFilter = None,
    since: SinceFilter = None,
    until: UntilFilter = None,
    kind: KindFilter = None,
    denials: DenialsFlag = False,
    break_glass: BreakGlassFlag = False,
    exports: ExportsFlag = False,
    after_seq: Annotated[int | None, typer.Option(help="Only records after this seq.", min=0)] = None,
    before_seq: Annotated[int | None, typer.Option(help="Only records before this seq.", min=1)] = None,
    workspace: WorkspaceOption = Path("."),
) -> None:
    """Export the matching records as evidence with a signed manifest; check it with ``audit verify --file``.

    Audited as ``audit.export`` (format, filters used, count, SHA-256 of the file) before the file appears.
    """
    if jsonl:
        fmt = "jsonl"
    if fmt not in FORMATS:
        raise InputError(f"unknown format {fmt!r}; use one of: {', '.join(FORMATS)}")
    query = build_query(
        user=user, image=image, case=case, action=action, outcome=outcome, since=since, until=until,
        kind=kind, denials=denials, break_glass=break_glass, exports=exports, limit=None,
        after_seq=after_seq, before_seq=before_seq,
    )  # fmt: skip
    if out.exists():
        raise InputError(f"{out} already exists; choose a new file name")
    opened = open_workspace(workspace)
    try:
        evidence = export_evidence(opened, operator(), query, fmt)
    finally:
        opened.close()
    _write_new(out, evidence.chunks())
    s = evidence.summary
    span = (
        "no record matched the filters"
        if s.record_count == 0
        else f"{s.first_seq}..{s.last_seq}, {'contiguous' if s.contiguous else 'filtered'}"
    )
    print_plain(f"exported {s.record_count} records ({span}) to {out} as {fmt}")
    print_plain(f"sha256 {s.file_sha256}")
    print_plain(f"signed by anchor key {s.key_id}")
    print_plain(f"verify with: sealroom audit verify --file {out}")


def _write_new(path: Path, chunks: Any) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        for chunk in chunks:
            handle.write(chunk)
