"""Verify a Sealroom audit evidence export without Sealroom: ``python standalone.py FILE [--expect-key ID]``.

This one file needs only Python 3.11+ and the ``cryptography`` package, so it can be handed to a third
party. It reads an export (JSON Lines, OCSF JSON Lines or CSV; each ends with a signed manifest) and
checks, in order:

1. the manifest's Ed25519 signature, with the public key the manifest carries, and that the key's id
   (SHA-256 of the raw public key) is the one named — and, with ``--expect-key``, the one expected;
2. the SHA-256 of the exported records against the manifest (a changed, added, removed or reordered
   record fails here even when nothing else could tell);
3. the records themselves: count, first/last ``seq``, strictly increasing ``seq``, no gap when the
   manifest says the range is contiguous, and ``prev_mac`` = the previous record's ``mac`` wherever two
   records are neighbours in the chain (64 zeros before record 1);
4. the chain head at export time: at or after the last record, with the last record's ``mac`` when equal;
5. every signed anchor included: its signature, and for an anchor whose ``seq`` is in the export, that
   the record there still carries the anchored ``mac``.

A valid signature only proves the file came from whoever holds that key: compare the key id printed with
the one your organisation published (``sealroom audit anchor --public-key``). Checking each record's
HMAC seal needs the workspace's audit key; ``sealroom audit verify --file`` does that too inside the
workspace. Exit status: 0 intact, 2 failed.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import io
import json
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

MANIFEST_TYPE = "sealroom.export.manifest"
ANCHOR_TYPE = "sealroom.audit.anchor"
GENESIS_MAC = "0" * 64
CSV_FIELDS = (
    "seq", "event_id", "ts", "category", "action", "outcome", "actor", "session_id", "image_id",
    "case_id", "reason", "details", "prev_mac", "mac",
)  # fmt: skip
CSV_MANIFEST_MARK = "sealroom.export.manifest"
FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "'")
"""A CSV cell starting with one of these gets a leading ``'`` (spreadsheets would run it as a formula)."""
_HEX64 = re.compile(r"[0-9a-f]{64}")
_KEY_ID_PREFIX = re.compile(r"[0-9a-f]{16,64}")
EXPECT_KEY_HINT = "give the key id's first 16 or more hex digits (or the whole id)"


class VerifyError(Exception):
    """The export is not intact; the message names the first problem found."""


@dataclass
class Result:
    """What was verified: the trusted key id, the records (sealed fields) and any notes."""

    format: str
    key_id: str
    manifest: dict[str, Any]
    records: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def expect_key_problem(expect_key: str) -> str | None:
    """Why ``expect_key`` cannot name a key (too short to be safe, or not hex), or ``None``."""
    return None if _KEY_ID_PREFIX.fullmatch(expect_key.strip().lower()) else EXPECT_KEY_HINT


def seq_range(first: Any, last: Any) -> str:
    """``first..last`` of a manifest, or ``no records`` for an empty export."""
    return "no records" if first is None and last is None else f"{first}..{last}"


def canonical_json(value: dict[str, Any]) -> bytes:
    """The signed bytes of an object: sorted keys, no spaces, UTF-8."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def key_id_of(public_key_hex: str) -> str:
    """A public key's id: SHA-256 of its 32 raw bytes, hex."""
    return hashlib.sha256(bytes.fromhex(public_key_hex)).hexdigest()


def signature_ok(public_key_hex: str, value: dict[str, Any], signature_hex: str) -> bool:
    """Whether ``signature_hex`` is the Ed25519 signature of ``canonical_json(value)``."""
    try:
        key = Ed25519PublicKey.from_public_bytes(bytes.fromhex(public_key_hex))
        key.verify(bytes.fromhex(signature_hex), canonical_json(value))
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def csv_unescape(cell: str) -> str | None:
    """A CSV cell's value: the formula guard (one leading ``'`` before a guarded character) undone,
    ``None`` for an empty cell and ``""`` for a lone ``'`` (how the writer keeps the two apart)."""
    if cell == "":
        return None
    if cell == "'":
        return ""
    return cell[1:] if cell[0] == "'" and cell[1:2] in FORMULA_START else cell


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"duplicate key {key!r}")
        out[key] = value
    return out


def _json(text: str | bytes, where: str) -> Any:
    try:
        return json.loads(text, object_pairs_hook=_no_duplicates)
    except (ValueError, UnicodeDecodeError) as exc:
        raise VerifyError(f"{where} is not valid JSON ({exc})") from None
    except RecursionError:  # hostile nesting: no export Sealroom writes is more than a few levels deep
        raise VerifyError(f"{where} is nested too deeply to be an export") from None


def _split_last_line(data: bytes) -> tuple[bytes, bytes]:
    """(content before the last line, the last line) of newline-terminated text."""
    body = data[:-1] if data.endswith(b"\n") else data
    cut = body.rfind(b"\n") + 1
    return data[:cut], body[cut:].rstrip(b"\r")


def canonical_line(value: Any) -> bytes:
    """A JSON Lines item as the writer writes it: sorted keys, no spaces, ASCII, newline-terminated."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode() + b"\n"


def _read_lines(data: bytes, fmt: str) -> tuple[dict[str, Any], bytes, list[tuple[int, dict[str, Any]]]]:
    """The manifest (last line), the canonical text of the other lines (what ``content_sha256`` covers:
    key order and spacing may change in transit, values may not) and the sealed records."""
    content, last = _split_last_line(data)
    lines = content.split(b"\n")[:-1]
    manifest = _json(last, f"line {len(lines) + 1} (the last line, where the manifest belongs)")
    canonical = bytearray()
    records: list[tuple[int, dict[str, Any]]] = []
    for number, line in enumerate(lines, start=1):
        item = _json(line, f"line {number}")
        canonical += canonical_line(item)
        if fmt == "ocsf":
            unmapped = item.get("unmapped") if isinstance(item, dict) else None
            item = unmapped.get("sealroom") if isinstance(unmapped, dict) else None
        if not isinstance(item, dict):
            raise VerifyError(f"line {number} is not an audit record")
        records.append((number, item))
    return manifest, bytes(canonical), records


def _read_csv(data: bytes) -> tuple[dict[str, Any], bytes, list[tuple[int, dict[str, Any]]]]:
    mark = b"\n" + CSV_MANIFEST_MARK.encode() + b","
    cut = data.rfind(mark) + 1
    if cut == 0:
        raise VerifyError("no manifest row found (the last row must start with sealroom.export.manifest)")
    content, tail = data[:cut], data[cut:].decode("utf-8", "replace")
    rows = list(csv.reader(io.StringIO(tail, newline="")))
    if len(rows) != 1 or len(rows[0]) != 2:
        raise VerifyError("the manifest row is malformed or not the last row")
    manifest = _json(rows[0][1], "the manifest row")
    try:
        reader = csv.reader(io.StringIO(content.decode("utf-8"), newline=""))
        header = next(reader, None)
        if header is None or tuple(header) != CSV_FIELDS:
            raise VerifyError("line 1 is not the expected CSV header")
        records = []
        for number, row in enumerate(reader, start=2):
            if len(row) != len(CSV_FIELDS):
                raise VerifyError(f"row {number} has {len(row)} cells, not {len(CSV_FIELDS)}")
            record: dict[str, Any] = dict(zip(CSV_FIELDS, (csv_unescape(cell) for cell in row), strict=True))
            seq = record["seq"] or ""
            record["seq"] = int(seq) if seq.isdigit() else seq
            record["details"] = _json(record["details"] or "", f"the details of row {number}")
            records.append((number, record))
    except (UnicodeDecodeError, csv.Error) as exc:
        raise VerifyError(f"the CSV is malformed ({exc})") from None
    return manifest, content, records


def detect_format(data: bytes) -> str:
    """``csv`` for a CSV export, else what the manifest line says (``jsonl`` or ``ocsf``)."""
    if data.startswith(b"seq,"):
        return "csv"
    try:
        declared = json.loads(_split_last_line(data)[1]).get("format")
    except (ValueError, UnicodeDecodeError, AttributeError, RecursionError):
        declared = None
    return "ocsf" if declared == "ocsf" else "jsonl"


def _check_manifest(manifest: Any, fmt: str, expect_key: str | None) -> str:
    if not isinstance(manifest, dict) or manifest.get("type") != MANIFEST_TYPE:
        raise VerifyError("the export has no Sealroom manifest (it may be truncated)")
    unsigned = {k: v for k, v in manifest.items() if k != "signature"}
    public_key = manifest.get("public_key")
    signature = manifest.get("signature")
    if not isinstance(public_key, str) or not isinstance(signature, str):
        raise VerifyError("the manifest carries no public key or no signature")
    if not signature_ok(public_key, unsigned, signature):
        raise VerifyError("the manifest's signature does not verify: the manifest was altered or re-signed")
    key_id = key_id_of(public_key)
    if manifest.get("key_id") != key_id:
        raise VerifyError("the manifest's key_id is not the id of its public key")
    if expect_key is not None:
        if problem := expect_key_problem(expect_key):
            raise VerifyError(problem)
        wanted = expect_key.strip().lower()
        if not key_id.startswith(wanted):
            raise VerifyError(
                f"signed by key {key_id}, not by the expected key {expect_key}: do not trust this export"
            )
    if manifest.get("format") != fmt:
        raise VerifyError(f"the manifest describes a {manifest.get('format')!r} export, this file is {fmt}")
    return key_id


def _check_order(records: list[tuple[int, dict[str, Any]]], what: str) -> None:
    last = 0
    for number, record in records:
        seq = record.get("seq")
        if type(seq) is not int or seq < 1:
            raise VerifyError(f"{what} {number} has no valid sequence number")
        if seq <= last:
            raise VerifyError(
                f"{what} {number} (record {seq}) comes after record {last}: "
                "records were reordered or duplicated"
            )
        last = seq


def _check_records(manifest: dict[str, Any], records: list[tuple[int, dict[str, Any]]], what: str) -> None:
    _check_order(records, what)
    prev: dict[str, Any] | None = None
    for number, record in records:
        seq, mac, prev_mac = record["seq"], record.get("mac"), record.get("prev_mac")
        label = f"{what} {number} (record {seq})"
        if (
            not isinstance(mac, str)
            or not isinstance(prev_mac, str)
            or not (_HEX64.fullmatch(mac) and _HEX64.fullmatch(prev_mac))
        ):
            raise VerifyError(f"{label} has a malformed mac or prev_mac")
        if prev is not None and manifest.get("contiguous") and seq != prev["seq"] + 1:
            missing = prev["seq"] + 1
            gap = f"record {missing} is" if missing == seq - 1 else f"records {missing} to {seq - 1} are"
            raise VerifyError(f"{label}: {gap} missing")
        if seq == 1 and prev_mac != GENESIS_MAC:
            raise VerifyError(f"{label} is the first of the chain but does not start from the genesis value")
        if prev is not None and seq == prev["seq"] + 1 and prev_mac != prev["mac"]:
            raise VerifyError(
                f"{label} does not follow record {prev['seq']}: a record was altered or replaced"
            )
        prev = record
    if len(records) != manifest.get("record_count"):
        raise VerifyError(f"{len(records)} records found, the manifest says {manifest.get('record_count')}")
    first = records[0][1]["seq"] if records else None
    last = prev["seq"] if prev is not None else None
    if (first, last) != (manifest.get("first_seq"), manifest.get("last_seq")):
        raise VerifyError(f"the records run from {first} to {last}, the manifest says otherwise")
    head = manifest.get("chain_head") or {}
    if last is not None and (type(head.get("seq")) is not int or head["seq"] < last):
        raise VerifyError("the chain head in the manifest lies before the last exported record")
    if prev is not None and head.get("seq") == last and head.get("mac") != prev["mac"]:
        raise VerifyError(f"record {last} is the chain head but its mac differs from the head's")


def _check_anchors(result: Result, by_seq: dict[int, dict[str, Any]]) -> None:
    head = result.manifest.get("chain_head") or {}
    for index, anchor in enumerate(result.manifest.get("anchors") or [], start=1):
        statement = anchor.get("statement") if isinstance(anchor, dict) else None
        if not isinstance(statement, dict) or statement.get("type") != ANCHOR_TYPE:
            raise VerifyError(f"anchor {index} in the manifest is malformed")
        seq, mac = statement.get("seq"), statement.get("mac")
        if statement.get("key_id") != result.key_id:
            result.notes.append(
                f"anchor at record {seq} is signed by another key ({statement.get('key_id')})"
            )
            continue
        if not signature_ok(result.manifest["public_key"], statement, str(anchor.get("signature"))):
            raise VerifyError(f"the signature of the anchor at record {seq} does not verify")
        if type(seq) is not int or seq > head.get("seq", 0):
            raise VerifyError(f"the anchor at record {seq} lies beyond the chain head: the chain was rewound")
        if seq in by_seq and by_seq[seq].get("mac") != mac:
            raise VerifyError(f"record {seq} differs from its signed anchor of {statement.get('signed_at')}")


def verify_bytes(
    data: bytes,
    *,
    expect_key: str | None = None,
    seal_check: Callable[[list[dict[str, Any]]], str | None] | None = None,
) -> Result:
    """Verify an export held in memory; raise ``VerifyError`` naming the first problem.

    ``seal_check`` (given inside a workspace) returns the first record whose HMAC seal is wrong; it runs
    before the content hash, so an edited record is named rather than only detected.
    """
    fmt = detect_format(data)
    manifest, content, records = _read_csv(data) if fmt == "csv" else _read_lines(data, fmt)
    key_id = _check_manifest(manifest, fmt, expect_key)
    _check_records(manifest, records, "row" if fmt == "csv" else "line")
    result = Result(fmt, key_id, manifest, [record for _number, record in records])
    if seal_check is not None and (problem := seal_check(result.records)):
        raise VerifyError(problem)
    if hashlib.sha256(content).hexdigest() != manifest.get("content_sha256"):
        raise VerifyError(
            "the records do not match the manifest's SHA-256: a record was edited, added or removed"
        )
    _check_anchors(result, {record["seq"]: record for record in result.records})
    return result


def verify_file(
    path: Path,
    *,
    expect_key: str | None = None,
    seal_check: Callable[[list[dict[str, Any]]], str | None] | None = None,
) -> Result:
    """Verify the export at ``path`` (see ``verify_bytes``)."""
    return verify_bytes(path.read_bytes(), expect_key=expect_key, seal_check=seal_check)


def main(argv: list[str] | None = None) -> int:
    """Command line: print the outcome and the key id trusted; 0 intact, 2 failed."""
    parser = argparse.ArgumentParser(description="Verify a Sealroom audit evidence export.")
    parser.add_argument("export", type=Path)
    parser.add_argument("--expect-key", help="the published key id (or its first 16+ hex digits)")
    args = parser.parse_args(argv)
    if args.expect_key is not None and (problem := expect_key_problem(args.expect_key)):
        parser.error(f"--expect-key: {problem}")
    try:
        result = verify_file(args.export, expect_key=args.expect_key)
    except (VerifyError, OSError) as exc:
        print(f"FAILED: {exc}", file=sys.stderr)
        return 2
    except (RecursionError, MemoryError):
        print("FAILED: the file is not an export this verifier can read (too deep or too large)",
              file=sys.stderr)
        return 2
    m = result.manifest
    span = seq_range(m.get("first_seq"), m.get("last_seq"))
    print(
        f"OK: {len(result.records)} records ({span}), {result.format},"
        f" {'contiguous' if m.get('contiguous') else 'filtered'}; {len(m.get('anchors') or [])} anchors"
    )
    print(f"signed by key {result.key_id}")
    if args.expect_key is None:
        print("compare this key id with the one your organisation published (or pass --expect-key)")
    for note in result.notes:
        print(f"note: {note}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
