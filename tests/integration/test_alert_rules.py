"""Alert rules over the audit log: each fires on a scripted scenario, reaches a local webhook and is
recorded in the audit log; quiet periods, disabled rules, two processes and a hung receiver."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select, text
from typer.testing import CliRunner

from sealroom.alerting.monitor import Monitor
from sealroom.alerting.status import last_verify
from sealroom.audit.query import AuditQuery, search
from sealroom.cli.main import app
from sealroom.db.models import AuditEvent, Image
from sealroom.demo.documents import render_lab_report
from sealroom.errors import NotFoundError
from sealroom.vault.service import IngestRequest
from sealroom.workspace import Workspace
from tests.conftest import CLINICAL_CASE, Env
from tests.forwarding import append_events, sink_toml
from tests.receivers import WebhookReceiver

FLUSH = 20.0
ALL_OFF = {
    "bulk_access": {"enabled": False, "threshold": 2, "window_minutes": 10},
    "off_hours": {"enabled": False},
    "repeated_denials": {"enabled": False, "threshold": 3, "window_minutes": 10},
    "break_glass": {"enabled": False},
    "audit_verify_failure": {"enabled": False},
    "forwarding_backlog": {"enabled": False},
}


def configure(
    env: Env, hook: WebhookReceiver, rules: dict[str, dict[str, Any]], extra: str = ""
) -> Workspace:
    """Replace the template's alert tables (webhook to ``hook``) and reopen, as a restart would."""
    path = env.root / "sealroom.toml"
    body = path.read_text(encoding="utf-8")
    start, end = body.index("\n[alerts]\n"), body.index("\n[audit]\n")
    tables = f'\n[alerts]\nwebhook_url = "{hook.url}"\ntimeout_seconds = 2\n'
    for name, values in {**ALL_OFF, **rules}.items():
        tables += f"\n[alerts.rules.{name}]\n" + "".join(
            f"{k} = {json.dumps(v)}\n" for k, v in values.items()
        )
    path.write_text(body[:start] + tables + body[end:] + "\n" + extra, encoding="utf-8")
    workspace = env.reopen()
    Monitor.of(workspace).run_rules()  # the rules start at the head: history is not alerted on
    return workspace


@pytest.fixture
def hook() -> Iterator[WebhookReceiver]:
    with WebhookReceiver() as receiver:
        yield receiver


def opened(workspace: Workspace, user: str, image: str) -> None:
    """A scripted image access, as the vault records it."""
    workspace.audit.append(
        workspace.db, category="image", action="image.open", outcome="success", actor=user,
        image_id=image, details={"pages": 1},
    )  # fmt: skip


def alerts_of(hook: WebhookReceiver, kind: str) -> list[dict[str, Any]]:
    return [r.json for r in hook.requests if r.json and r.json["kind"] == kind]


def raised(workspace: Workspace, rule: str) -> list[AuditEvent]:
    with workspace.db() as db:
        stmt = select(AuditEvent).where(AuditEvent.action == "alert.raise", AuditEvent.reason == rule)
        return list(db.scalars(stmt.order_by(AuditEvent.seq)))


def settle(workspace: Workspace) -> None:
    workspace.maintain()
    assert workspace.alerts.flush(FLUSH)


def test_bulk_access_fires_once_per_burst(env: Env, hook: WebhookReceiver) -> None:
    workspace = configure(env, hook, {"bulk_access": {"enabled": True, "threshold": 2, "window_minutes": 10}})
    for minute, image in enumerate(["a1", "a2", "a2", "a3", "a4", "a5"]):
        env.clock.advance(minutes=1)
        opened(workspace, "sam", image)
        if minute == 3:
            settle(workspace)  # the burst spans two passes: still one alert
    # Spread out: never more than two distinct images within ten minutes.
    for image in ["b1", "b2", "b3"]:
        env.clock.advance(minutes=6)
        opened(workspace, "pat", image)
    settle(workspace)
    [alert] = alerts_of(hook, "bulk_access")
    assert alert["fields"]["subject"] == "sam" and alert["fields"]["distinct_images"] == 3
    [record] = raised(workspace, "bulk_access")
    assert record.details["subject"] == "sam" and record.details["alert_id"] == alert["id"]
    assert record.details["window_minutes"] == 10 and record.category == "audit"

    env.clock.advance(minutes=11)  # the quiet period is over: a new burst is a new alert
    for image in ["c1", "c2", "c3"]:
        opened(workspace, "sam", image)
    settle(workspace)
    assert len(alerts_of(hook, "bulk_access")) == 2


def test_off_hours_uses_the_configured_time_zone(env: Env, hook: WebhookReceiver) -> None:
    rule = {"enabled": True, "timezone": "America/New_York", "start": "07:00", "end": "19:00"}
    workspace = configure(env, hook, {"off_hours": rule})
    # 09:00 UTC on Monday 2 March 2026 is 04:00 in New York.
    opened(workspace, "ada", "x1")
    opened(workspace, "ada", "x2")  # quiet: one alert per user per hour
    env.clock.advance(hours=6)  # 10:00 in New York
    opened(workspace, "sam", "x3")
    settle(workspace)
    env.clock.advance(days=5)  # Saturday
    opened(workspace, "sam", "x4")
    settle(workspace)
    alerts = alerts_of(hook, "off_hours")
    assert [a["fields"]["subject"] for a in alerts] == ["ada", "sam"]
    assert (
        alerts[0]["fields"]["local_time"] == "Mon 04:00" and alerts[1]["fields"]["local_time"] == "Sat 10:00"
    )
    assert len(raised(workspace, "off_hours")) == 2


def test_repeated_denials_of_real_requests(env: Env, hook: WebhookReceiver) -> None:
    workspace = configure(
        env, hook, {"repeated_denials": {"enabled": True, "threshold": 3, "window_minutes": 10}}
    )
    sam = env.session("sam")
    for _ in range(3):
        with pytest.raises(NotFoundError):
            workspace.vault.describe(sam, "no-such-image")
    settle(workspace)
    assert alerts_of(hook, "repeated_denials") == []  # three is not more than three
    for _ in range(3):
        with pytest.raises(NotFoundError):
            workspace.vault.describe(sam, "no-such-image")
        settle(workspace)
    [alert] = alerts_of(hook, "repeated_denials")
    assert alert["fields"]["subject"] == "sam" and alert["fields"]["denials"] == 4
    assert len(raised(workspace, "repeated_denials")) == 1


def test_results_delivered_masked_are_not_denials(env: Env, hook: WebhookReceiver) -> None:
    """A clinician reading six documents gets each result masked: the unmasked view was not given, but
    nothing the clinician asked for was refused, so no alert fires and no denial is listed."""
    workspace = configure(
        env, hook, {"repeated_denials": {"enabled": True, "threshold": 3, "window_minutes": 10}}
    )
    intake = env.session("nora")
    image = workspace.vault.ingest(
        intake, render_lab_report(), IngestRequest("clinical-records", CLINICAL_CASE, "clinical", None)
    )
    sam = env.session("sam")
    for _ in range(6):
        with workspace.db() as db:
            [image_row] = db.scalars(select(Image).where(Image.id == image["id"])).all()
            assert workspace.gate.may_see_unmasked(db, sam, image_row) is False
            db.commit()
        settle(workspace)
    assert alerts_of(hook, "repeated_denials") == []
    with workspace.db() as db:
        assert search(db, AuditQuery(kind="denials", actor="sam")) == []
        masked = search(db, AuditQuery(kind="access", image_id=image["id"], actor="sam"))
    assert [(r["action"], r["outcome"]) for r in masked] == [("access.unmask", "deny")] * 6


def test_break_glass_is_recorded_by_the_rule_but_sent_once(env: Env, hook: WebhookReceiver) -> None:
    workspace = configure(env, hook, {"break_glass": {"enabled": True}})
    taken = workspace.breakglass.take(
        env.session("sam"),
        case_id="ENC-2026-0099",
        dataset="clinical-records",
        justification="Patient unresponsive in the ED; prior lab results needed for treatment now",
    )
    settle(workspace)
    settle(workspace)
    [alert] = alerts_of(hook, "break_glass")  # the one sent at the moment of use
    assert alert["id"] == taken.id
    [record] = raised(workspace, "break_glass")
    assert record.details["alert_id"] == taken.id and record.details["sent_by"] == "at_use"


def test_verify_failure_alerts_and_is_kept_for_readiness(env: Env, hook: WebhookReceiver) -> None:
    workspace = configure(env, hook, {"audit_verify_failure": {"enabled": True}})
    settle(workspace)
    with workspace.db() as db:
        status = last_verify(db)
    assert status is not None and status.ok and status.data["anchor_file"] == "not_configured"
    assert alerts_of(hook, "audit_verify_failure") == []
    with workspace.engine.begin() as conn:
        conn.execute(text("UPDATE audit_events SET actor = 'someone-else' WHERE seq = 3"))
    env.clock.advance(minutes=61)
    settle(workspace)
    [alert] = alerts_of(hook, "audit_verify_failure")
    assert alert["severity"] == "critical" and alert["fields"]["first_bad_seq"] == 3
    with workspace.db() as db:
        status = last_verify(db)
    assert status is not None and not status.ok and status.data["first_bad_seq"] == 3
    env.clock.advance(minutes=61)
    settle(workspace)  # verified again, same fault: quiet
    assert len(alerts_of(hook, "audit_verify_failure")) == 1


def test_forwarding_backlog_alerts_once_and_on_recovery(env: Env, hook: WebhookReceiver) -> None:
    with WebhookReceiver() as siem:
        sink = sink_toml("siem", kind="webhook", url=siem.url, timeout_seconds=2)
        workspace = configure(env, hook, {"forwarding_backlog": {"enabled": True}}, extra=sink)
        path = env.root / "sealroom.toml"
        body = path.read_text()
        path.write_text(body.replace("backlog_alert_records = 1000", "backlog_alert_records = 3", 1))
        workspace = env.reopen()
        append_events(workspace, 5)  # no forwarder runs: the sink falls behind
        settle(workspace)
        settle(workspace)
        [behind] = alerts_of(hook, "forwarding_backlog")
        assert behind["fields"]["state"] == "behind" and behind["fields"]["sink"] == "siem"
        workspace.forwarder.run_once()
        settle(workspace)
        states = [a["fields"]["state"] for a in alerts_of(hook, "forwarding_backlog")]
        assert states == ["behind", "recovered"]
    assert [r.details["state"] for r in raised(workspace, "forwarding_backlog")] == ["behind", "recovered"]


def test_disabled_rules_never_fire(env: Env, hook: WebhookReceiver) -> None:
    workspace = configure(env, hook, {})
    sam = env.session("sam")
    for image in ["d1", "d2", "d3", "d4"]:
        opened(workspace, "sam", image)
        with pytest.raises(NotFoundError):
            workspace.vault.describe(sam, "no-such-image")
    env.clock.advance(days=5)
    opened(workspace, "sam", "d5")
    settle(workspace)
    with workspace.db() as db:
        assert db.scalars(select(AuditEvent).where(AuditEvent.action == "alert.raise")).all() == []
    assert hook.requests == []


def test_two_processes_raise_one_alert(env: Env, hook: WebhookReceiver) -> None:
    workspace = configure(env, hook, {"bulk_access": {"enabled": True, "threshold": 2, "window_minutes": 10}})
    other = Workspace.open(env.root, clock=env.clock, engines=workspace.engines)
    try:
        for image in ["e1", "e2", "e3", "e4"]:
            opened(workspace, "sam", image)
        errors: list[BaseException] = []

        def run(target: Workspace) -> None:
            try:
                Monitor.of(target).run_rules()
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=run, args=(w,)) for w in (workspace, other)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        assert not errors
        assert workspace.alerts.flush(FLUSH) and other.alerts.flush(FLUSH)
    finally:
        other.close()
    assert len(raised(workspace, "bulk_access")) == 1
    assert len(alerts_of(hook, "bulk_access")) == 1


def test_a_hung_receiver_does_not_hold_up_maintain(env: Env, hook: WebhookReceiver) -> None:
    workspace = configure(env, hook, {"bulk_access": {"enabled": True, "threshold": 2, "window_minutes": 10}})
    hook.hold_limit = 30.0
    hook.release.clear()
    for image in ["f1", "f2", "f3"]:
        opened(workspace, "sam", image)
    workspace.maintain()  # returns while the receiver holds the alert
    [request] = hook.wait_for(1)
    assert request.answered is None and hook.held == 1
    assert len(raised(workspace, "bulk_access")) == 1
    hook.release.set()
    assert workspace.alerts.flush(FLUSH)
    assert request.answered == 200


def test_cli_runs_the_watch_once_for_cron(env: Env, hook: WebhookReceiver) -> None:
    workspace = configure(env, hook, {"bulk_access": {"enabled": True, "threshold": 2, "window_minutes": 10}})
    for image in ["g1", "g2", "g3"]:
        opened(workspace, "sam", image)
    workspace.close()
    runner = CliRunner()
    result = runner.invoke(app, ["alerts", "run"], env={"SEALROOM_WORKSPACE": str(env.root)})
    assert result.exit_code == 0, result.output
    assert "1 alert(s) raised" in result.output and "anchored record" in result.output
    assert [a["fields"]["subject"] for a in alerts_of(hook, "bulk_access")] == ["sam"]
    result = runner.invoke(app, ["alerts", "status"], env={"SEALROOM_WORKSPACE": str(env.root)})
    assert result.exit_code == 0, result.output
    status = json.loads(result.output)
    assert status["last_verify"]["ok"] is True and status["last_anchor"]["seq"] > 0
