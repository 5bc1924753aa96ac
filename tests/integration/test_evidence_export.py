"""Evidence exports: every format exports through the real CLI and API, verifies with the standalone
verifier run as its own process in a folder with no workspace, and fails, naming the problem, once
tampered with (edited value, deleted or reordered line, swapped signature, an attacker's key)."""

from __future__ import annotations

import ast
import csv
import hashlib
import io
import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from fastapi.testclient import TestClient
from sqlalchemy import select, text
from typer.testing import CliRunner

from sealroom.audit import standalone
from sealroom.audit.anchor_key import canonical_json
from sealroom.audit.anchors import anchor_key_path, sign_head
from sealroom.audit.chain import Sealer, canonical_record
from sealroom.audit.query import AuditQuery, search
from sealroom.cli.main import app as cli_app
from sealroom.db.models import AuditEvent
from tests.conftest import Env, login

STANDALONE = Path(standalone.__file__)
FORMULAS = ("=HYPERLINK(\"http://x\")", "+1+1", "-2+3", "@SUM(A1)", "\tcmd", "\rcmd", "'quoted", "")


def _activity(env: Env, client: TestClient) -> dict[str, str]:
    for name in ("sam", "pat"):
        headers = login(client, env, name)
        client.get(f"/api/v1/images/{'0' * 32}", headers=headers)
        client.post("/api/v1/logout", headers=headers)
    return login(client, env, "kim")


def _cli(env: Env, *args: str, cwd: Path | None = None) -> tuple[int, str]:
    environ = {"SEALROOM_WORKSPACE": str(env.root)} if cwd is None else {}
    result = CliRunner().invoke(cli_app, list(args), env=environ)
    return result.exit_code, result.output


def _export_cli(env: Env, tmp_path: Path, fmt: str, *filters: str) -> Path:
    out = tmp_path / f"evidence.{fmt}"
    code, output = _cli(env, "audit", "export", "--format", fmt, "--out", str(out), *filters)
    assert code == 0, output
    return out


def _standalone(path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``python -I standalone.py FILE`` in a fresh folder holding only the two files."""
    folder = path.parent / f"third-party-{path.name}"
    folder.mkdir(exist_ok=True)
    shutil.copy(STANDALONE, folder / "standalone.py")
    shutil.copy(path, folder / path.name)
    return subprocess.run(
        [sys.executable, "-I", "standalone.py", path.name, *args],
        cwd=folder, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


def _key_id(env: Env) -> str:
    return standalone.key_id_of(
        Ed25519PrivateKey.from_private_bytes(
            anchor_key_path(env.root, env.workspace.settings).read_bytes()
        ).public_key().public_bytes(Encoding.Raw, PublicFormat.Raw).hex()
    )


def _lines(path: Path) -> list[str]:
    return path.read_text().splitlines()


def _write(path: Path, lines: list[str]) -> None:
    path.write_text("\n".join(lines) + "\n")


@pytest.mark.parametrize("fmt", ["jsonl", "csv", "ocsf"])
def test_each_format_exports_and_verifies_standalone(
    env: Env, client: TestClient, tmp_path: Path, fmt: str
) -> None:
    _activity(env, client)
    path = _export_cli(env, tmp_path, fmt)
    done = _standalone(path, "--expect-key", _key_id(env))
    assert done.returncode == 0, done.stderr
    assert f"signed by key {_key_id(env)}" in done.stdout and "contiguous" in done.stdout
    with env.workspace.db() as db:
        records = search(db, AuditQuery(limit=None))
    exported = standalone.verify_file(path).records
    assert [r["seq"] for r in exported] == [r["seq"] for r in records][: len(exported)]
    assert all(exported[i] == records[i] for i in range(len(exported)))  # sealed values, unchanged
    code, output = _cli(env, "audit", "verify", "--file", str(path))
    assert code == 0 and "seal (HMAC) checked" in output, output


@pytest.mark.parametrize("fmt", ["jsonl", "csv", "ocsf"])
def test_api_export_is_an_attachment_whose_hash_is_on_record(
    env: Env, client: TestClient, tmp_path: Path, fmt: str
) -> None:
    kim = _activity(env, client)
    params = {"format": fmt, "kind": "denials", "since": "2026-01-01T00:00:00Z"}
    response = client.get("/api/v1/audit/export", params=params, headers=kim)
    assert response.status_code == 200, response.text
    assert response.headers["content-disposition"].startswith("attachment;")
    digest = hashlib.sha256(response.content).hexdigest()
    assert response.headers["x-sealroom-sha256"] == digest
    with env.workspace.db() as db:
        record = db.scalars(select(AuditEvent).order_by(AuditEvent.seq.desc()).limit(1)).one()
    assert (record.action, record.actor) == ("audit.export", "kim")
    assert record.details["sha256"] == digest and record.details["format"] == fmt
    assert record.details["filter"] == {"kind": "denials", "since": "2026-01-01T00:00:00+00:00"}
    path = tmp_path / f"api.{fmt}"
    path.write_bytes(response.content)
    done = _standalone(path)
    assert done.returncode == 0, done.stderr
    assert "filtered" in done.stdout and "compare this key id" in done.stdout
    result = standalone.verify_file(path)
    assert {r["actor"] for r in result.records} == {"sam", "pat"}
    assert {r["outcome"] for r in result.records} == {"deny"}
    assert record.details["records"] == len(result.records)


def _edit_value(lines: list[str]) -> list[str]:
    return [*lines[:2], lines[2].replace('"actor":"', '"actor":"x', 1), *lines[3:]]


def _swap_signature(lines: list[str], other: list[str]) -> list[str]:
    manifest = json.loads(lines[-1])
    manifest["signature"] = json.loads(other[-1])["signature"]
    return [*lines[:-1], json.dumps(manifest)]


def _attacker_manifest(lines: list[str]) -> list[str]:
    """Edit a record and re-sign the manifest with the attacker's own key: internally consistent."""
    records = _edit_value(lines)[:-1]
    manifest = json.loads(lines[-1])
    attacker = Ed25519PrivateKey.generate()
    public = attacker.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw).hex()
    canonical = b"".join(standalone.canonical_line(json.loads(line)) for line in records)
    manifest.update(public_key=public, key_id=standalone.key_id_of(public), anchors=[],
                    content_sha256=hashlib.sha256(canonical).hexdigest())  # fmt: skip
    del manifest["signature"]
    manifest["signature"] = attacker.sign(canonical_json(manifest)).hex()
    return [*records, json.dumps(manifest)]


@pytest.mark.parametrize(
    ("tamper", "message"),
    [
        (_edit_value, "SHA-256"),
        (lambda lines: [*lines[:3], *lines[4:]], "missing"),
        (lambda lines: [*lines[:3], lines[4], lines[3], *lines[5:]], "reordered"),
        (lambda lines: lines[:-1], "manifest"),
        (lambda lines: [*lines[:-1], lines[-1].replace('"record_count":', '"record_count":1')], "signature"),
    ],
    ids=["edited-value", "deleted-line", "reordered-lines", "manifest-removed", "manifest-edited"],
)
def test_a_tampered_jsonl_export_fails_standalone(
    env: Env, client: TestClient, tmp_path: Path, tamper: Any, message: str
) -> None:
    _activity(env, client)
    path = _export_cli(env, tmp_path, "jsonl")
    _write(path, tamper(_lines(path)))
    done = _standalone(path)
    assert done.returncode == 2 and message in done.stderr and "FAILED" in done.stderr, done.stderr
    assert "Traceback" not in done.stderr


def test_an_edited_record_is_named_inside_the_workspace(env: Env, client: TestClient, tmp_path: Path) -> None:
    _activity(env, client)
    path = _export_cli(env, tmp_path, "jsonl")
    _write(path, _edit_value(_lines(path)))
    code, output = _cli(env, "audit", "verify", "--file", str(path))
    assert code == 2 and "record 3: contents do not match its seal" in output, output


def test_a_swapped_manifest_signature_fails(env: Env, client: TestClient, tmp_path: Path) -> None:
    _activity(env, client)
    first = _export_cli(env, tmp_path, "jsonl")
    (tmp_path / "second").mkdir()
    second = _export_cli(env, tmp_path / "second", "jsonl")
    _write(first, _swap_signature(_lines(first), _lines(second)))
    done = _standalone(first)
    assert done.returncode == 2 and "signature does not verify" in done.stderr, done.stderr


def test_an_attackers_key_passes_only_until_the_published_key_is_expected(
    env: Env, client: TestClient, tmp_path: Path
) -> None:
    _activity(env, client)
    path = _export_cli(env, tmp_path, "jsonl")
    _write(path, _attacker_manifest(_lines(path)))
    lenient = _standalone(path)
    assert lenient.returncode == 0 and _key_id(env) not in lenient.stdout  # it names the key it trusted
    strict = _standalone(path, "--expect-key", _key_id(env))
    assert strict.returncode == 2 and "not by the expected key" in strict.stderr, strict.stderr
    # Inside the workspace the signer must be the workspace's own anchor key, without --expect-key.
    code, output = _cli(env, "audit", "verify", "--file", str(path))
    assert code == 2 and "not by the expected key" in output, output


def test_tampered_csv_and_ocsf_exports_fail(env: Env, client: TestClient, tmp_path: Path) -> None:
    _activity(env, client)
    csv_path = _export_cli(env, tmp_path, "csv")
    data = csv_path.read_bytes()
    csv_path.write_bytes(data.replace(b",sam,", b",sim,", 1))
    assert b",sam," in data
    done = _standalone(csv_path)
    assert done.returncode == 2 and "SHA-256" in done.stderr, done.stderr
    ocsf_path = _export_cli(env, tmp_path, "ocsf")
    lines = _lines(ocsf_path)
    event = json.loads(lines[1])
    event["status"] = "Failure" if event["status"] == "Success" else "Success"
    _write(ocsf_path, [lines[0], json.dumps(event), *lines[2:]])
    done = _standalone(ocsf_path)
    assert done.returncode == 2 and "SHA-256" in done.stderr, done.stderr


def test_csv_cells_cannot_run_as_spreadsheet_formulas(env: Env, tmp_path: Path) -> None:
    for value in FORMULAS:
        env.workspace.audit.append(
            env.workspace.db, category="admin", action="admin.note", outcome="success", actor=value or "x",
            reason=value, details={"note": value},
        )  # fmt: skip
    path = _export_cli(env, tmp_path, "csv")
    rows = list(csv.reader(io.StringIO(path.read_bytes().decode(), newline="")))
    for row in rows[1:-1]:
        for cell in row:
            assert not cell.startswith(("=", "+", "-", "@", "\t", "\r")), row
    reasons = [standalone.csv_unescape(row[10]) for row in rows[1:-1] if row[4] == "admin.note"]
    assert reasons == list(FORMULAS)  # the guard is undone exactly on reading
    done = _standalone(path)
    assert done.returncode == 0, done.stderr
    code, output = _cli(env, "audit", "verify", "--file", str(path))  # and every HMAC still matches
    assert code == 0, output


def test_signed_anchors_ride_along_and_catch_a_resealed_chain(
    env: Env, client: TestClient, tmp_path: Path
) -> None:
    _activity(env, client)
    ws = env.workspace
    anchored = sign_head(ws.db, ws.audit, ws.clock, anchor_key_path(env.root, ws.settings), anchor_file=None)
    assert anchored.anchor is not None
    path = _export_cli(env, tmp_path, "jsonl")
    manifest = json.loads(_lines(path)[-1])
    assert [a["statement"]["seq"] for a in manifest["anchors"]] == [anchored.anchor.seq]
    assert _standalone(path).returncode == 0
    # An insider holding the audit key rewrites an anchored record and reseals the chain after it.
    _reseal_from(env, anchored.anchor.seq, actor="someone-else")
    (tmp_path / "after").mkdir()
    rewritten = _export_cli(env, tmp_path / "after", "jsonl")
    done = _standalone(rewritten)
    assert done.returncode == 2
    assert f"record {anchored.anchor.seq} differs from its signed anchor" in done.stderr, done.stderr


def _reseal_from(env: Env, seq: int, **change: str) -> None:
    sealer = Sealer(env.workspace.keys.audit_key)
    with env.workspace.db() as db:
        records = search(db, AuditQuery(after_seq=seq - 2, limit=None))
        prev = records[0]["mac"]
        for record in records[1:]:
            if record["seq"] == seq:
                record.update(change)
            record["prev_mac"] = prev
            record["mac"] = prev = sealer.seal(prev, canonical_record(record))
            db.execute(
                text("UPDATE audit_events SET actor = :actor, prev_mac = :p, mac = :m WHERE seq = :s"),
                {"actor": record["actor"], "p": record["prev_mac"], "m": record["mac"], "s": record["seq"]},
            )
        db.execute(text("UPDATE audit_head SET mac = :m"), {"m": prev})
        db.commit()


def test_the_standalone_verifier_imports_only_the_standard_library_and_cryptography() -> None:
    tree = ast.parse(STANDALONE.read_text())
    roots = {alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import)
             for alias in node.names}  # fmt: skip
    roots |= {node.module.split(".")[0] for node in ast.walk(tree)
              if isinstance(node, ast.ImportFrom) and node.module}  # fmt: skip
    assert roots - set(sys.stdlib_module_names) == {"cryptography"}
    assert canonical_json({"b": "é", "a": 1}) == standalone.canonical_json({"b": "é", "a": 1})
