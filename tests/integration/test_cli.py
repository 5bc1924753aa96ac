"""The command line, as an operator and users would run it."""

from __future__ import annotations

import json
import os
import re
import sqlite3
from pathlib import Path

import pyotp
import pytest
from typer.testing import CliRunner

from sealroom.cli.main import app
from sealroom.demo.documents import LAB_PATIENT, render_lab_report
from tests.conftest import PASSWORD

runner = CliRunner()


def sealroom(
    root: Path, *args: str, env: dict[str, str] | None = None, input: str | None = None
) -> tuple[int, str]:
    result = runner.invoke(
        app,
        ["--help"] if not args else list(args),
        env={"SEALROOM_WORKSPACE": str(root), **(env or {})},
        input=input,
    )
    return result.exit_code, result.output


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    root = tmp_path / "ws"
    code, out = sealroom(root, "init", str(root))
    assert code == 0, out
    return root


def _add_user(root: Path, name: str, role: str) -> str:
    code, out = sealroom(root, "user", "add", name, "--role", role, env={"SEALROOM_NEW_PASSWORD": PASSWORD})
    assert code == 0, out
    code, out = sealroom(root, "user", "enroll-mfa", name, "--no-qr")
    assert code == 0, out
    match = re.search(r"Secret \(shown once\): ([A-Z2-7]+)", out)
    assert match, out
    return match.group(1)


def test_init_creates_keys_0600_and_refuses_to_overwrite(workspace: Path) -> None:
    for key in ("keys/workspace.key", "keys/audit.key"):
        assert (workspace / key).stat().st_mode & 0o777 == 0o600
    assert (workspace / "sealroom.toml").is_file() and (workspace / "sealroom.db").is_file()
    tables = {
        r[0] for r in sqlite3.connect(workspace / "sealroom.db").execute("select name from sqlite_master")
    }
    assert {"alembic_version", "users", "images", "audit_events", "sessions", "grants"} <= tables
    code, out = sealroom(workspace, "init", str(workspace))
    assert code != 0 and "already holds" in out


def test_refuses_to_start_when_a_key_file_is_readable_by_others(workspace: Path) -> None:
    os.chmod(workspace / "keys/workspace.key", 0o644)
    code, out = sealroom(workspace, "user", "list")
    assert code == 3 and "chmod 600" in out


def test_user_admin_grant_ingest_analyze_and_audit(workspace: Path, tmp_path: Path) -> None:
    nora = _add_user(workspace, "nora", "intake")
    sam = _add_user(workspace, "sam", "clinician")
    code, out = sealroom(workspace, "user", "list")
    assert code == 0 and "nora" in out and "enrolled" in out
    code, out = sealroom(workspace, "grant", "add", "sam", "ENC-1", "--purpose", "ward round", "--hours", "2")
    assert code == 0, out

    good = tmp_path / "lab.png"
    good.write_bytes(render_lab_report())
    disguised = tmp_path / "scan.png"
    disguised.write_bytes(b"<html><body>not an image</body></html>")
    code, out = sealroom(
        workspace,
        "ingest",
        str(good),
        str(disguised),
        "--user",
        "nora",
        "--dataset",
        "clinical-records",
        "--case",
        "ENC-1",
        "--type",
        "clinical",
        env={"SEALROOM_PASSWORD": PASSWORD, "SEALROOM_TOTP": pyotp.TOTP(nora).now()},
    )
    assert code == 4, out
    assert "1 stored, 1 refused" in out and "HTML" in out
    image_id = re.search(r"\b([0-9a-f]{32})\b", out).group(1)  # type: ignore[union-attr]

    code, out = sealroom(
        workspace,
        "analyze",
        image_id,
        "--user",
        "sam",
        "--format",
        "json",
        env={"SEALROOM_PASSWORD": PASSWORD, "SEALROOM_TOTP": pyotp.TOTP(sam).now()},
    )
    assert code == 0, out
    result = json.loads(out[out.index("{") :])
    assert result["masked"] is True and LAB_PATIENT["SSN"] not in out

    code, out = sealroom(workspace, "audit", "verify")
    assert code == 0 and "OK" in out
    code, out = sealroom(workspace, "audit", "show", "--user", "sam", "--action", "result.deliver")
    assert code == 0 and "result.deliver" in out
    export = tmp_path / "audit.jsonl"
    code, out = sealroom(workspace, "audit", "export", "--jsonl", "--out", str(export))
    assert code == 0, out
    *records, manifest = export.read_text().splitlines()
    assert records and all(json.loads(line)["mac"] for line in records)
    assert json.loads(manifest)["type"] == "sealroom.export.manifest"
    assert LAB_PATIENT["SSN"] not in export.read_text()


def test_wrong_code_at_the_cli_is_refused_with_exit_code(workspace: Path, tmp_path: Path) -> None:
    _add_user(workspace, "nora", "intake")
    file = tmp_path / "lab.png"
    file.write_bytes(render_lab_report())
    code, out = sealroom(
        workspace,
        "ingest",
        str(file),
        "--user",
        "nora",
        "--dataset",
        "clinical-records",
        "--case",
        "C",
        "--type",
        "clinical",
        env={"SEALROOM_PASSWORD": PASSWORD, "SEALROOM_TOTP": "000000"},
    )
    assert code == 5 and "error" in out


def test_audit_verify_names_the_first_bad_record_after_tampering(workspace: Path) -> None:
    _add_user(workspace, "nora", "intake")
    _add_user(workspace, "sam", "clinician")
    with sqlite3.connect(workspace / "sealroom.db") as db:
        db.execute("update audit_events set actor = 'someone-else' where seq = 2")
    code, out = sealroom(workspace, "audit", "verify")
    assert code != 0 and "record 2" in out
