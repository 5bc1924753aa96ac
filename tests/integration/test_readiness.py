"""The readiness check (issue 5, item 6): each item fails on a deliberately broken workspace and passes
once fixed; sign-off bound to the configuration; the CLI's exit codes and JSON; the API's permissions."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pyotp
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update
from typer.testing import CliRunner

from sealroom.cli.main import app
from sealroom.db.models import AuditAnchor, AuditEvent, Grant, SystemState, User
from sealroom.demo.documents import demo_documents
from sealroom.material import SessionMaterial
from sealroom.readiness import ReadinessReport, config_sha256, evaluate, record_signoff
from sealroom.readiness.selftest import SELFTEST_ACTOR
from sealroom.vault.service import IngestRequest
from sealroom.workspace import Workspace
from tests.conftest import PASSWORD, Env, login

runner = CliRunner()

# --- helpers -----------------------------------------------------------------------------------------


def _edit(env: Env, change: Callable[[str], str]) -> Workspace:
    """Rewrite sealroom.toml with ``change`` and reopen the workspace (as a restarted server would)."""
    config = env.root / "sealroom.toml"
    before = config.read_text(encoding="utf-8")
    after = change(before)
    assert after != before, "the edit changed nothing"
    config.write_text(after, encoding="utf-8")
    return env.reopen()


def _replace(old: str, new: str) -> Callable[[str], str]:
    def change(text: str) -> str:
        assert text.count(old) == 1, old
        return text.replace(old, new)

    return change


def _status(env: Env, check_id: str) -> str:
    return evaluate(env.workspace).check(check_id).status


def _sign(env: Env) -> None:
    record_signoff(
        env.workspace.db, env.workspace.audit, env.workspace.clock, env.workspace.settings,
        reviewer="Compliance Reviewer", notes="Reviewed the deployment", actor="operator:test",
        readiness_status="warn",
    )  # fmt: skip


NARROW_PRIVACY_OFFICER = _replace(
    '[roles.privacy-officer]\nactions = ["metadata:view", "image:analyze", "pii:view_unmasked"]\n'
    'datasets = ["clinical-records", "finance-records", "identity-docs"]',
    '[roles.privacy-officer]\nactions = ["metadata:view", "image:analyze", "pii:view_unmasked"]\n'
    'datasets = ["clinical-records", "identity-docs"]',
)


# --- (a) use cases -----------------------------------------------------------------------------------


def test_a_data_set_without_an_owner_fails_a_and_passes_once_owned(env: Env) -> None:
    assert _status(env, "a.datasets") == "pass"
    _edit(env, _replace('owner = "Retail Banking Operations"', 'owner = "  "'))
    check = evaluate(env.workspace).check("a.datasets")
    assert check.status == "fail" and "finance-records" in check.detail
    assert check.remedy is not None and "[datasets.finance-records]" in check.remedy
    _edit(env, _replace('owner = "  "', 'owner = "Retail Banking Operations"'))
    assert _status(env, "a.datasets") == "pass"


def test_a_vague_purpose_fails(env: Env) -> None:
    _edit(env, _replace('purpose = "Account statements reviewed for account servicing and disputes"',
                        'purpose = "tbd"'))  # fmt: skip
    assert evaluate(env.workspace).item("a").status == "fail"


# --- (b) access control ------------------------------------------------------------------------------


def test_an_unscoped_role_fails_b_and_a_scoped_one_passes(env: Env) -> None:
    _edit(env, NARROW_PRIVACY_OFFICER)
    assert _status(env, "b.roles") == "pass"
    _edit(env, _replace('datasets = ["clinical-records"]\nmax_classification = "confidential"',
                        'datasets = []\nmax_classification = "confidential"'))  # fmt: skip
    check = evaluate(env.workspace).check("b.roles")
    assert check.status == "fail" and "clinician" in check.detail


def test_a_wildcard_data_set_name_in_a_role_fails(env: Env) -> None:
    _edit(
        env,
        lambda text: text.replace('datasets = ["clinical-records"]\n', 'datasets = ["*"]\n', 1)
        + '\n[datasets."*"]\npurpose = "Everything, for convenience"\nowner = "IT"\n'
        'default_classification = "confidential"\n',
    )
    check = evaluate(env.workspace).check("b.roles")
    assert check.status == "fail" and "wildcard" in check.detail


def test_a_role_seeing_everything_unmasked_warns(env: Env) -> None:
    # The demo's privacy officer reads every data set, type and level unmasked: effectively a wildcard.
    check = evaluate(env.workspace).check("b.roles")
    assert check.status == "warn" and "privacy-officer" in check.detail


def test_a_wildcard_case_grant_fails_b_until_revoked(env: Env) -> None:
    assert _status(env, "b.grants") == "pass"
    with env.workspace.db.begin() as db:
        sam = db.scalar(select(User).where(User.username == "sam"))
        assert sam is not None
        now = env.clock.now()
        db.add(Grant(id="f" * 32, user_id=sam.id, case_id="*", purpose="all", granted_by="sql",
                     created_at=now, expires_at=now + timedelta(hours=1)))  # fmt: skip
    assert _status(env, "b.grants") == "fail"
    env.workspace.grants.revoke_grant("f" * 32, revoked_by="operator:test")
    assert _status(env, "b.grants") == "pass"


def test_a_user_reaching_restricted_without_mfa_fails_b_until_enrolled(env: Env) -> None:
    assert _status(env, "b.mfa") == "pass"
    # A clinician (up to confidential) without a second factor is not what this check is about...
    env.workspace.identity.add_user("cal", PASSWORD, ["clinician"], actor="operator:test")
    assert _status(env, "b.mfa") == "pass"
    # ...a privacy officer (up to restricted, where step-up applies) is.
    env.workspace.identity.add_user("rita", PASSWORD, ["privacy-officer"], actor="operator:test")
    check = evaluate(env.workspace).check("b.mfa")
    assert check.status == "fail" and "1 of" in check.detail
    assert "rita" not in check.detail + (check.remedy or "")  # users are counted, not named
    env.workspace.identity.enroll_mfa("rita", actor="operator:test")
    assert _status(env, "b.mfa") == "pass"


def test_step_up_unset_fails_b(env: Env) -> None:
    assert _status(env, "b.step_up") == "pass"
    _edit(env, _replace("classifications = { restricted = 10 }", "classifications = {}"))
    check = evaluate(env.workspace).check("b.step_up")
    assert check.status == "fail" and "restricted" in (check.remedy or "")


# --- (c) audit ---------------------------------------------------------------------------------------


def test_a_tampered_audit_chain_fails_c(env: Env) -> None:
    assert _status(env, "c.chain") == "pass"
    with env.workspace.db.begin() as db:
        db.execute(update(AuditEvent).where(AuditEvent.seq == 3).values(actor="someone-else"))
    check = evaluate(env.workspace).check("c.chain")
    assert check.status == "fail" and "record 3" in check.detail


def test_audit_retention_unset_fails_and_shorter_than_images_warns(env: Env) -> None:
    assert _status(env, "c.retention") == "pass"
    _edit(env, _replace("retention_days = 2555            # seven years of audit records\nverify",
                        "# retention_days unset\nverify"))  # fmt: skip
    assert _status(env, "c.retention") == "fail"
    _edit(env, _replace("# retention_days unset\nverify", "retention_days = 365\nverify"))
    assert _status(env, "c.retention") == "warn"


def test_a_failing_siem_sink_fails_c_and_a_delivering_one_passes(env: Env) -> None:
    from tests.receivers import WebhookReceiver

    assert _status(env, "c.forwarding") == "warn"  # no sink at all: the trail stays on this host
    with WebhookReceiver() as hook:
        hook.status = 503
        _edit(env, lambda text: text + f'\n[forwarding.sinks.lake]\nkind = "webhook"\nurl = "{hook.url}"\n')
        env.workspace.forwarder.run_once()
        check = evaluate(env.workspace).check("c.forwarding")
        assert check.status == "fail" and "lake" in check.detail
        hook.status = 200
        env.workspace.forwarder.run_once()
        # The evaluation itself appends records; deliver those too, as a running forwarder would.
        assert _status(env, "c.forwarding") == "pass"


def test_disabled_alert_rules_fail_c(env: Env) -> None:
    rule = "[alerts.rules.break_glass]         # every emergency access, at once\nenabled = true"
    _edit(env, _replace(rule, "[alerts.rules.break_glass]\nenabled = false"))
    check = evaluate(env.workspace).check("c.alerts")
    assert check.status == "fail" and "break_glass" in check.detail


def test_periodic_verify_markers_absent_warn_failed_fail_recent_pass(env: Env) -> None:
    assert _status(env, "c.periodic") == "warn"
    now = env.clock.now()
    with env.workspace.db.begin() as db:
        db.add(SystemState(key="audit.verify", seq=0, at=now, data={"ok": False}))
    assert _status(env, "c.periodic") == "fail"
    with env.workspace.db.begin() as db:
        db.execute(update(SystemState).where(SystemState.key == "audit.verify").values(data={"ok": True}))
        db.add(AuditAnchor(id="a" * 32, seq=1, mac="0" * 64, signed_at=now, key_id="k", signature="s"))
    assert _status(env, "c.periodic") == "pass"
    env.clock.advance(hours=3)  # neither ran for more than twice its 60-minute interval
    assert _status(env, "c.periodic") == "warn"


# --- (d) session clearing and retention ---------------------------------------------------------------


class LeakyMaterial(SessionMaterial):
    """A broken material store: ``purge`` forgets the session but leaves its buffers as they were."""

    def purge(self, session_id: str) -> list[str]:
        with self._lock:
            held = self._held.pop(session_id, {})
        return sorted(held)


def test_the_purge_self_test_fails_when_material_outlives_its_session(env: Env) -> None:
    report = evaluate(env.workspace)
    assert report.check("d.selftest").status == "pass"
    env.workspace.sessions.material = LeakyMaterial()
    check = evaluate(env.workspace).check("d.selftest")
    assert check.status == "fail" and "not overwritten" in check.detail


def test_the_self_test_runs_a_real_session_and_is_on_record(env: Env) -> None:
    evaluate(env.workspace)
    evaluate(env.workspace)
    with env.workspace.db() as db:
        account = db.scalar(select(User).where(User.username == SELFTEST_ACTOR))
        assert account is not None and account.disabled and account.roles == []
        actions = [
            (e.action, e.reason)
            for e in db.scalars(select(AuditEvent).where(AuditEvent.actor == SELFTEST_ACTOR))
        ]
    assert actions.count(("admin.user.create", None)) == 1  # created once, reused
    assert actions.count(("session.purge", "readiness_selftest")) == 2


def test_retention_never_run_with_images_held_fails_d_and_a_recent_run_passes(env: Env) -> None:
    assert _status(env, "d.retention_schedule") == "pass"  # nothing held yet
    intake = env.session("nora")
    document = demo_documents()[0]
    env.workspace.vault.ingest(
        intake, document.data,
        IngestRequest(document.dataset, document.case_id, document.document_type, document.classification),
    )  # fmt: skip
    assert _status(env, "d.retention_schedule") == "fail"
    env.workspace.retention.run(dry_run=True)  # a dry run deletes nothing, so it does not count
    assert _status(env, "d.retention_schedule") == "fail"
    env.workspace.retention.run()
    assert _status(env, "d.retention_schedule") == "pass"
    env.clock.advance(hours=3)  # overdue: more than twice the 60-minute interval
    check = evaluate(env.workspace).check("d.retention_schedule")
    assert check.status == "fail" and "twice" in check.detail


def test_data_set_without_retention_and_long_sessions_warn(env: Env) -> None:
    _edit(env, _replace("egress = \"local-only\"\nretention_days = 2555\n", "egress = \"local-only\"\n"))
    _edit(env, _replace("idle_timeout_minutes = 15", "idle_timeout_minutes = 120"))
    report = evaluate(env.workspace)
    assert report.check("d.retention_policy").status == "warn"
    assert report.check("d.sessions").status == "warn"


# --- (e) sign-off ------------------------------------------------------------------------------------


def test_no_signoff_fails_e_a_signoff_passes_and_a_config_change_makes_it_stale(env: Env) -> None:
    check = evaluate(env.workspace).check("e.signoff")
    assert check.status == "fail" and "no compliance sign-off" in check.detail
    _sign(env)
    check = evaluate(env.workspace).check("e.signoff")
    assert check.status == "pass" and "Compliance Reviewer" not in check.detail
    # Comments and layout are not configuration: the sign-off stands.
    _edit(env, lambda text: "# reviewed\n\n" + text.replace("port = 8700", "port   =   8700  # default"))
    assert _status(env, "e.signoff") == "pass"
    # Any setting is.
    _edit(env, _replace("idle_timeout_minutes = 15", "idle_timeout_minutes = 20"))
    check = evaluate(env.workspace).check("e.signoff")
    assert check.status == "fail" and "changed since" in check.detail
    _sign(env)
    assert _status(env, "e.signoff") == "pass"
    env.clock.advance(days=400)
    assert _status(env, "e.signoff") == "warn"


def test_signoff_is_audited_without_the_reviewer_or_notes(env: Env) -> None:
    _sign(env)
    with env.workspace.db() as db:
        record = db.scalar(select(AuditEvent).where(AuditEvent.action == "readiness.signoff"))
    assert record is not None and record.actor == "operator:test"
    assert record.details["config_sha256"] == config_sha256(env.workspace.settings)
    assert "Compliance Reviewer" not in json.dumps(record.details)
    assert "Reviewed the deployment" not in json.dumps(record.details)


# --- the report, CLI and API -------------------------------------------------------------------------


def test_the_report_holds_no_usernames_and_its_exit_code_follows_the_worst_status(env: Env) -> None:
    report = evaluate(env.workspace)
    text = json.dumps(report.to_dict())
    for username in ("nora", "sam", "pat", "kim", "ada", "ben", "alex"):
        assert f'"{username}' not in text and f" {username} " not in text
    assert report.status == "fail" and report.exit_code == 2
    assert [item.id for item in report.items] == ["a", "b", "c", "d", "e"]
    assert isinstance(report, ReadinessReport)
    with env.workspace.db() as db:
        record = db.scalar(select(AuditEvent).where(AuditEvent.action == "readiness.evaluate"))
    assert record is not None and record.details["status"] == "fail"
    assert "e.signoff" in record.details["not_passed"]


def _cli(root: Path, *args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    result = runner.invoke(app, list(args), env={"SEALROOM_WORKSPACE": str(root), **(env or {})})
    return result.exit_code, result.output


def test_cli_readiness_exit_codes_json_and_signoff(env: Env) -> None:
    env.workspace.close()
    code, out = _cli(env.root, "readiness", "--json")
    assert code == 2, out
    report = json.loads(out)
    assert report["status"] == "fail" and report["exit_code"] == 2
    assert {item["id"] for item in report["items"]} == {"a", "b", "c", "d", "e"}
    code, out = _cli(env.root, "readiness")
    assert code == 2 and "e.signoff" in out and "FAIL" in out
    code, out = _cli(env.root, "signoff", "--user", "kim")
    assert code == 4 and "--notes" in out
    # The reviewer signs in (the CLI opens the workspace with the real clock: the real current code).
    sign_in = {"SEALROOM_PASSWORD": PASSWORD, "SEALROOM_TOTP": pyotp.TOTP(env.secrets["kim"]).now()}
    code, out = _cli(env.root, "signoff", "--user", "kim", "--notes", "Checked roles, egress", env=sign_in)
    assert code == 0 and "Signed off" in out, out
    code, out = _cli(env.root, "signoff", "--show", "--json")
    shown = json.loads(out)
    assert code == 0 and shown["reviewer"] == "kim" and shown["current"] is True
    code, out = _cli(env.root, "readiness", "--json")
    report = json.loads(out)
    assert code == 1 and report["status"] == "warn"  # the demo's broad role, no SIEM, no alert sink…
    assert all(check["status"] != "fail" for item in report["items"] for check in item["checks"])
    env.workspace = Workspace.open(env.root, clock=env.clock)


def test_api_readiness_for_admins_and_auditors_denied_to_others(env: Env, client: TestClient) -> None:
    response = client.get("/api/v1/readiness", headers=login(client, env, "alex"))
    assert response.status_code == 200 and response.json()["exit_code"] == 2
    assert response.headers["cache-control"] == "no-store"
    response = client.get("/api/v1/readiness", headers=login(client, env, "sam"))
    assert response.status_code == 403
    with env.workspace.db() as db:
        denial = db.scalar(
            select(AuditEvent).where(
                AuditEvent.action == "access.decision",
                AuditEvent.actor == "sam",
                AuditEvent.outcome == "deny",
            )
        )
        evaluations = list(
            db.scalars(select(AuditEvent.actor).where(AuditEvent.action == "readiness.evaluate"))
        )
    assert denial is not None and evaluations == ["alex"]


def test_api_signoff_needs_audit_read_and_binds_the_signed_in_reviewer(env: Env, client: TestClient) -> None:
    admin = login(client, env, "alex")
    response = client.post("/api/v1/readiness/signoff", json={"notes": "looks fine"}, headers=admin)
    assert response.status_code == 403  # administrators do not sign off their own configuration
    auditor = login(client, env, "kim")
    response = client.post("/api/v1/readiness/signoff", json={"notes": "Reviewed a-d"}, headers=auditor)
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["signoff"]["reviewer"] == "kim" and body["signoff"]["current"] is True
    assert body["readiness_status"] == "fail"  # e was failing when it was given
    response = client.get("/api/v1/readiness", headers=auditor)
    assert response.status_code == 200
    [item] = [item for item in response.json()["items"] if item["id"] == "e"]
    assert item["status"] == "pass"
    forged = {"notes": "x", "reviewer": "ceo"}
    response = client.post("/api/v1/readiness/signoff", json=forged, headers=auditor)
    assert response.status_code == 422  # nobody signs in someone else's name


# --- profiles ----------------------------------------------------------------------------------------

# A role per profile that reaches its most sensitive level, and its administrator.
PROFILE_USERS = {
    "clinical": ["behavioural-health-clinician", "admin"],
    "financial": ["kyc-analyst", "admin"],
    "legal": ["conflicts-analyst", "admin"],
    "government": ["investigator", "admin"],
}
INHERENT_WARNINGS = {"c.periodic", "c.forwarding", "c.alerts"}
"""What no freshly initialised workspace can pass: serve has not run yet, and the SIEM and alert
receivers are the site's own (no profile can name them)."""


@pytest.mark.parametrize("profile", sorted(PROFILE_USERS))
def test_a_fresh_profile_is_ready_once_users_mfa_and_a_signoff_exist(tmp_path: Path, profile: str) -> None:
    root = tmp_path / "ws"
    code, out = _cli(root, "init", str(root), "--profile", profile)
    assert code == 0, out
    workspace = Workspace.open(root)
    try:
        report = evaluate(workspace)
        assert report.check("b.mfa").status == "warn" and report.check("e.signoff").status == "fail"
        for index, role in enumerate(PROFILE_USERS[profile]):
            workspace.identity.add_user(f"user{index}", PASSWORD, [role], actor="operator:test")
            workspace.identity.enroll_mfa(f"user{index}", actor="operator:test")
        record_signoff(workspace.db, workspace.audit, workspace.clock, workspace.settings,
                       reviewer="Reviewer", notes="initial review", actor="operator:test",
                       readiness_status="fail")  # fmt: skip
        report = evaluate(workspace)
    finally:
        workspace.close()
    assert report.profile == profile
    not_passed = {check.id for check in report.checks if check.status != "pass"}
    assert not_passed == INHERENT_WARNINGS, [c for c in report.checks if c.status != "pass"]
    assert report.status == "warn" and report.exit_code == 1
