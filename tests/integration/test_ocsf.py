"""Audit records of a real workspace as OCSF 1.3.0 events: the right class, and every attribute the
class requires."""

from __future__ import annotations

import json
from typing import Any

from fastapi.testclient import TestClient

from sealroom.audit.ocsf import OCSF_VERSION, to_ocsf
from sealroom.audit.query import AuditQuery, search
from sealroom.demo.documents import render_lab_report
from sealroom.vault.service import IngestRequest
from tests.conftest import CLINICAL_CASE, Env, login

BASE_REQUIRED = ("activity_id", "category_uid", "class_uid", "metadata", "severity_id", "time", "type_uid")
# What OCSF 1.3.0 requires of each class Sealroom emits (beyond the base event), from the schema.
CLASS_REQUIRED: dict[int, tuple[str, ...]] = {
    2004: ("finding_info",),
    2006: ("finding_info",),
    3001: ("user",),
    3002: ("user",),
    3003: ("user",),
    3005: ("user",),
    6003: ("actor", "api", "src_endpoint"),
    6004: ("http_request", "web_resources"),
    6006: ("actor", "file", "src_endpoint"),
}
AT_LEAST_ONE: dict[int, tuple[str, ...]] = {3002: ("service", "dst_endpoint"), 3003: ("privileges", "group")}


def _check_shape(event: dict[str, Any]) -> None:
    for name in BASE_REQUIRED + CLASS_REQUIRED[event["class_uid"]]:
        assert name in event, (name, event)
    if event["class_uid"] in AT_LEAST_ONE:
        assert any(event.get(name) for name in AT_LEAST_ONE[event["class_uid"]]), event
    assert event["type_uid"] == event["class_uid"] * 100 + event["activity_id"]
    assert event["metadata"]["version"] == OCSF_VERSION
    assert event["metadata"]["product"]["name"] == "Sealroom"
    assert event["severity_id"] in (1, 2, 3, 4, 5)
    if "file" in event:
        assert event["file"]["name"] and event["file"]["type_id"] == 1
    if "finding_info" in event:
        assert event["finding_info"]["uid"] and event["finding_info"]["title"]
    if "api" in event:
        assert event["api"]["operation"]
    json.dumps(event, allow_nan=False)  # plain JSON all through


def _records(env: Env) -> list[dict[str, Any]]:
    with env.workspace.db() as db:
        return search(db, AuditQuery(limit=None))


def test_every_record_of_a_working_day_becomes_a_complete_event_of_its_class(
    env: Env, client: TestClient
) -> None:
    image_id = env.workspace.vault.ingest(
        env.session("nora"), render_lab_report(), IngestRequest("clinical-records", CLINICAL_CASE, "clinical")
    )["id"]
    sam = login(client, env, "sam")
    assert client.get(f"/api/v1/images/{image_id}", headers=sam).status_code == 200
    kim = login(client, env, "kim")
    assert client.get(f"/api/v1/images/{image_id}", headers=kim).status_code == 404  # denied, audited
    assert client.post("/api/v1/logout", headers=sam).status_code == 200

    records = _records(env)
    events = [to_ocsf(record) for record in records]

    for event in events:
        _check_shape(event)
    by_action = {record["action"]: event for record, event in zip(records, events, strict=True)}
    assert by_action["auth.login"]["class_uid"] == 3002 and by_action["auth.login"]["activity_id"] == 1
    assert (
        by_action["image.ingest"]["class_uid"] == 6006
        and by_action["image.ingest"]["activity_name"] == "Upload"
    )
    assert by_action["admin.user.create"]["class_uid"] == 3001
    assert by_action["admin.grant.create"]["class_uid"] == 3005
    denials = [e for r, e in zip(records, events, strict=True) if r["outcome"] == "deny"]
    assert denials and all(e["class_uid"] == 6004 and e["activity_name"] == "Access Deny" for e in denials)
    assert all(e["status_id"] == 2 and e["severity_id"] == 3 for e in denials)
    # The sealed record rides along, so the chain can still be checked from an OCSF feed.
    for record, event in zip(records, events, strict=True):
        assert event["unmapped"]["sealroom"] == record
        assert event["metadata"]["uid"] == record["event_id"]
        assert event["metadata"]["sequence"] == record["seq"]


def test_findings_and_alerts_are_finding_classes(env: Env) -> None:
    base = _records(env)[0]
    analysis = base | {
        "action": "analysis.run", "category": "analysis", "outcome": "success", "image_id": "a" * 32,
        "details": {"engine": "local", "entity_counts": {"PERSON": 2, "US_SSN": 1}},
    }  # fmt: skip
    alert = base | {"action": "alert.raise", "category": "admin", "details": {"rule": "bulk_access",
                    "severity": "critical"}}  # fmt: skip
    nothing_found = analysis | {"details": {"engine": "local", "entity_counts": {}}}

    finding, detection, plain = to_ocsf(analysis), to_ocsf(alert), to_ocsf(nothing_found)

    for event in (finding, detection, plain):
        _check_shape(event)
    assert finding["class_uid"] == 2006 and "PERSON×2" in finding["data_security"]["pattern_match"]
    assert detection["class_uid"] == 2004 and detection["severity_id"] == 5 and detection["is_alert"] is True
    assert plain["class_uid"] == 6003  # an analysis that found nothing is not a finding
