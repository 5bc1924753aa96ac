"""The command line with a model engine: choose engine, task and schema; list engines and egress."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pyotp
import pytest

from sealroom.analysis.tasks import build_task
from sealroom.demo.documents import LAB_PATIENT, render_lab_report
from tests.conftest import PASSWORD
from tests.integration.test_cli import _add_user, sealroom
from tests.model_server import ModelServer, reply

KEY = "sk-ant-cli-test-0123456789"


@pytest.fixture
def workspace(tmp_path: Path, model_server: ModelServer) -> Path:
    root = tmp_path / "ws"
    code, out = sealroom(root, "init", str(root))
    assert code == 0, out
    config = root / "sealroom.toml"
    text = config.read_text().replace('egress = "local-only"', 'egress = "redacted"', 1)  # clinical
    config.write_text(
        text
        + f'\n[engines.claude]\nkind = "anthropic"\nmodel = "claude-cli-test"\n'
        f'base_url = "{model_server.base_url("anthropic")}"\napi_key_file = "secrets/claude.key"\n'
    )
    (root / "secrets").mkdir(mode=0o700)
    key = root / "secrets" / "claude.key"
    key.write_text(KEY + "\n")
    key.chmod(0o600)
    return root


def test_engines_lists_readiness_egress_and_presets(workspace: Path) -> None:
    code, out = sealroom(workspace, "engines")
    assert code == 0, out
    assert "claude" in out and "claude-cli-test" in out and "127.0.0.1" in out
    assert "local-only" in out and "redacted" in out and "insurance_card" in out  # clinical set redacted
    code, out = sealroom(workspace, "engines", "--json")
    listing = json.loads(out)
    engines = {entry["name"]: entry for entry in listing["engines"]}
    assert engines["claude"]["ready"] is True
    assert KEY not in out

    (workspace / "secrets" / "claude.key").chmod(0o644)
    code, out = sealroom(workspace, "engines", "--json")
    claude = next(entry for entry in json.loads(out)["engines"] if entry["name"] == "claude")
    assert claude["ready"] is False
    assert "accessible by other users" in claude["problem"] and "chmod 600" in claude["problem"]


@pytest.mark.slow  # the demo config sends clinical pages redacted: the offline engine runs first
def test_analyze_with_engine_task_and_schema_prints_a_masked_extraction(
    workspace: Path, tmp_path: Path, model_server: ModelServer
) -> None:
    nora = _add_user(workspace, "nora", "intake")
    sam = _add_user(workspace, "sam", "clinician")
    code, out = sealroom(workspace, "grant", "add", "sam", "ENC-1", "--purpose", "ward round", "--hours", "2")
    assert code == 0, out
    scan = tmp_path / "lab.png"
    scan.write_bytes(render_lab_report())
    code, out = sealroom(
        workspace, "ingest", str(scan), "--user", "nora", "--dataset", "clinical-records", "--case", "ENC-1",
        "--type", "clinical",
        env={"SEALROOM_PASSWORD": PASSWORD, "SEALROOM_TOTP": pyotp.TOTP(nora).now()},
    )
    assert code == 0, out
    image_id = re.search(r"\b([0-9a-f]{32})\b", out).group(1)  # type: ignore[union-attr]

    task = build_task("extract", schema_name="lab_result")
    assert task.schema is not None
    data = {key: [] if sub.get("type") == "array" else None for key, sub in task.schema["properties"].items()}
    data["patient_name"] = LAB_PATIENT["Patient Name"]
    model_server.default = lambda request: reply(json.dumps(data))
    code, out = sealroom(
        workspace, "analyze", image_id, "--user", "sam", "--engine", "claude", "--task", "extract",
        "--schema", "lab_result", "--format", "text",
        env={"SEALROOM_PASSWORD": PASSWORD, "SEALROOM_TOTP": pyotp.TOTP(sam).now()},
    )
    assert code == 0, out
    assert "E*** R*** W***" in out and LAB_PATIENT["Patient Name"] not in out
    assert len(model_server.requests) == 1
    code, out = sealroom(workspace, "audit", "show", "--action", "analysis.external_call")
    assert code == 0 and "analysis.external_call" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--task", "extract"], "needs a schema"),
        (["--task", "ask"], "needs a question"),
        (["--task", "describe", "--schema", "lab_result"], "only goes with --task extract"),
        (["--task", "extract", "--schema", "nope"], "unknown schema preset"),
    ],
)
def test_bad_task_options_are_refused_before_signing_in(
    workspace: Path, args: list[str], message: str
) -> None:
    code, out = sealroom(workspace, "analyze", "0" * 32, "--user", "sam", "--engine", "claude", *args)
    assert code == 4 and message in out
