"""Red-team findings against audit search, evidence export/verification, anchors and the audit pages.

Each test fails on the current code and passes once the weakness it names is fixed.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from sealroom.api.app import create_app
from sealroom.audit import standalone
from sealroom.cli.main import app as cli_app
from sealroom.errors import ConfigError
from tests.conftest import PASSWORD, Env, login
from tests.integration.test_web_pages import sign_in

IMAGE = "a1" * 16
ANCHOR_BLOCK = '[audit.anchor]\nkey_file = "keys/anchor.key"\n'


def _cli(env: Env, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli_app, list(args), env={"SEALROOM_WORKSPACE": str(env.root)})
    return result.exit_code, result.output


def _opens(env: Env, count: int) -> list[int]:
    return [
        env.workspace.audit.append(
            env.workspace.db, category="image", action="image.open", outcome="success", actor="sam",
            image_id=IMAGE,
        ).seq
        for _ in range(count)
    ]  # fmt: skip


def _edit_anchor_block(env: Env, extra: str, *, key_file: str = "keys/anchor.key") -> None:
    config = env.root / "sealroom.toml"
    body = config.read_text(encoding="utf-8")
    assert ANCHOR_BLOCK in body
    replacement = f'[audit.anchor]\nkey_file = "{key_file}"\n{extra}'
    config.write_text(body.replace(ANCHOR_BLOCK, replacement), encoding="utf-8")
    env.reopen()


@pytest.fixture
def browser(env: Env) -> Iterator[TestClient]:
    with TestClient(
        create_app(env.workspace, sweep=False), follow_redirects=False, raise_server_exceptions=False
    ) as client:
        yield client


# --- 1. search/export times with a UTC offset are compared as wall-clock text -------------------------


def test_api_search_since_with_a_utc_offset_selects_by_the_instant(env: Env, client: TestClient) -> None:
    """``since=14:00+05:00`` is 09:00Z: it must select exactly what ``since=09:00Z`` selects. On SQLite
    the offset is dropped and the bound compared as local wall-clock text, so records are missed."""
    _opens(env, 3)  # all at 2026-03-02 09:00Z (the fixture clock)
    headers = login(client, env, "kim")

    def count(since: str) -> int:
        response = client.get(
            "/api/v1/audit/events",
            params={"since": since, "until": "2026-03-03T00:00:00+00:00", "actor": "sam", "limit": 1000},
            headers=headers,
        )
        assert response.status_code == 200, response.text
        return len(response.json()["events"])

    in_utc = count("2026-03-02T09:00:00+00:00")
    assert in_utc >= 3
    assert count("2026-03-02T14:00:00+05:00") == in_utc


def test_cli_export_until_with_a_utc_offset_keeps_the_matching_records(env: Env, tmp_path: Path) -> None:
    """An evidence export bounded ``--until 2026-03-02T05:00-05:00`` (= 10:00Z) must hold the records of
    09:00Z; its manifest signs that filter, so dropping them makes the evidence silently incomplete."""
    _opens(env, 3)
    out_offset, out_utc = tmp_path / "offset.jsonl", tmp_path / "utc.jsonl"
    code, output = _cli(
        env, "audit", "export", "--out", str(out_utc), "--user", "sam", "--until", "2026-03-02T10:00+00:00"
    )
    assert code == 0, output
    code, output = _cli(
        env, "audit", "export", "--out", str(out_offset), "--user", "sam", "--until", "2026-03-02T05:00-05:00"
    )
    assert code == 0, output
    utc_count = json.loads(out_utc.read_text().splitlines()[-1])["record_count"]
    offset_count = json.loads(out_offset.read_text().splitlines()[-1])["record_count"]
    assert utc_count >= 3
    assert offset_count == utc_count


# --- 2. the audit page answers 500 to a far-future date ------------------------------------------------


def test_audit_page_with_the_last_representable_until_date_is_refused_not_a_server_error(
    browser: TestClient, env: Env
) -> None:
    """``until=9999-12-31`` (a date: "through that whole day") overflows ``datetime`` when one day is
    added; the page must show the form with a message (400) or search, never fail with a 500."""
    sign_in(browser, env, "kim")
    response = browser.get("/audit", params={"until": "9999-12-31"})
    assert response.status_code in (200, 400), response.status_code


# --- 3. in-workspace verify trusts any signer ----------------------------------------------------------


def _forge_without_a_record(export: Path, target: Path) -> None:
    """Drop one record of a real export and re-sign the manifest with an attacker's own key."""
    lines = export.read_bytes().splitlines()
    manifest = json.loads(lines[-1])
    records = [json.loads(line) for line in lines[:-1]]
    dropped = records[len(records) // 2]["seq"]
    kept = [record for record in records if record["seq"] != dropped]
    body = b"".join(standalone.canonical_line(record) for record in kept)
    key = Ed25519PrivateKey.generate()
    public = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw).hex()
    unsigned = {name: value for name, value in manifest.items() if name != "signature"}
    unsigned.update(
        record_count=len(kept), contiguous=False, content_sha256=hashlib.sha256(body).hexdigest(),
        public_key=public, key_id=standalone.key_id_of(public), anchors=[],
    )  # fmt: skip
    unsigned["signature"] = key.sign(standalone.canonical_json(unsigned)).hex()
    target.write_bytes(body + standalone.canonical_line(unsigned))


def test_in_workspace_verify_refuses_an_export_re_signed_by_another_key(env: Env, tmp_path: Path) -> None:
    """Inside the workspace, ``audit verify --file`` knows the workspace's anchor key, yet accepts an
    export whose manifest an outsider re-signed after deleting a record (every remaining seal is genuine,
    so it reports "every record's seal checked" and exit 0). It must hold the manifest to the
    workspace's own key (as if ``--expect-key`` were given) and fail."""
    _opens(env, 4)
    export, forged = tmp_path / "evidence.jsonl", tmp_path / "forged.jsonl"
    code, output = _cli(env, "audit", "export", "--out", str(export))
    assert code == 0, output
    _forge_without_a_record(export, forged)
    code, output = _cli(env, "audit", "verify", "--file", str(forged))
    assert code == 2, output


# --- 4. the standalone verifier crashes on hostile input ------------------------------------------------


def test_standalone_verifier_fails_cleanly_on_deeply_nested_json(tmp_path: Path) -> None:
    """A hostile 'export' with deeply nested JSON raises an uncaught ``RecursionError``: a traceback and
    exit 1 instead of the documented ``FAILED: …`` and exit 2."""
    hostile = tmp_path / "hostile.jsonl"
    hostile.write_bytes(b"[" * 200_000 + b"\n" + b'{"type":"sealroom.export.manifest"}\n')
    result = subprocess.run(
        [sys.executable, "-I", str(Path(standalone.__file__)), str(hostile)],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 2, result.stderr[-500:]
    assert "Traceback" not in result.stderr
    assert "FAILED" in result.stderr


# --- 5. anchor paths may point at the workspace's own keys ---------------------------------------------


def test_the_anchor_key_cannot_be_the_audit_key(env: Env) -> None:
    """``[audit.anchor] key_file = "keys/audit.key"`` is accepted: the audit HMAC key becomes the
    Ed25519 seed, so whoever holds the audit key can sign anchors and the separation anchors rely on is
    gone. The configuration must be refused (as ``api_key_file`` is for the workspace's own keys)."""
    with pytest.raises(ConfigError, match="key of its own"):
        _edit_anchor_block(env, "", key_file="keys/audit.key")
    code, output = _cli(env, "audit", "anchor")
    assert code == 3 and "key of its own" in output, output


def test_the_anchor_file_cannot_be_a_workspace_key(env: Env) -> None:
    """``[audit.anchor] file = "keys/audit.key"`` is accepted, and the next anchor appends a JSON line
    to the audit key: the workspace no longer opens ("not a 32-byte key"), so the log cannot be verified
    or written. The configuration must be refused and the key left untouched."""
    audit_key = env.root / "keys" / "audit.key"
    before = audit_key.read_bytes()
    with pytest.raises(ConfigError, match="must not be one of the workspace's own files"):
        _edit_anchor_block(env, 'file = "keys/audit.key"\n')
    code, output = _cli(env, "audit", "anchor")
    assert code == 3 and audit_key.read_bytes() == before, output


# --- 6. free text in the API's action/outcome filters lands verbatim in audit.search -------------------


def test_api_search_filter_text_is_validated_before_it_is_recorded(env: Env, client: TestClient) -> None:
    """The page accepts only an action name (``image.open``, ``access.*``) and a known outcome; the API
    takes any text (64/16 characters) and writes it verbatim into the ``audit.search`` record (and so to
    every SIEM). A personal value typed into the wrong field must be refused (400), not recorded."""
    from sqlalchemy import select

    from sealroom.db.models import AuditEvent

    headers = login(client, env, "kim")
    values = {"action": "Jane Doe 1962-04-01", "outcome": "123-45-6789"}
    for name, value in values.items():
        response = client.get("/api/v1/audit/events", params={name: value}, headers=headers)
        assert response.status_code == 400, (name, response.status_code)
    with env.workspace.db() as db:
        recorded = [json.dumps(e.details) for e in db.scalars(select(AuditEvent)) if e.details]
    for value in values.values():
        assert not any(value in text for text in recorded), value


# --- 8. separation of duties: an administrator cannot sign off their own configuration ------------------


def test_an_administrator_who_is_also_an_auditor_cannot_sign_off(env: Env, client: TestClient) -> None:
    """The sign-off is someone else's review of what the administrators configured: an account holding
    ``workspace:admin`` and ``audit:read`` reads the report but its sign-off is refused and on record."""
    from sqlalchemy import select

    from sealroom.db.models import AuditEvent, ComplianceSignoff

    env.workspace.identity.add_user("dual", PASSWORD, ["admin", "auditor"], actor="operator:test")
    env.secrets["dual"] = env.workspace.identity.enroll_mfa("dual", actor="operator:test").secret
    dual = login(client, env, "dual")
    report = client.get("/api/v1/readiness", headers=dual)
    assert report.status_code == 200
    checks = {check["id"]: check for item in report.json()["items"] for check in item["checks"]}
    assert checks["b.duties"]["status"] == "warn"
    refused = client.post("/api/v1/readiness/signoff", json={"notes": "reviewed"}, headers=dual)
    assert refused.status_code == 403, refused.text
    assert "does not administer the workspace" in refused.text
    with env.workspace.db() as db:
        assert db.scalars(select(ComplianceSignoff)).all() == []
        [failure] = db.scalars(select(AuditEvent).where(AuditEvent.action == "readiness.signoff")).all()
    assert (failure.actor, failure.outcome, failure.reason) == (
        "dual",
        "failure",
        "reviewer_administers_workspace",
    )
    accepted = client.post(
        "/api/v1/readiness/signoff", json={"notes": "reviewed"}, headers=login(client, env, "kim")
    )
    assert accepted.status_code == 201, accepted.text
