"""Audit search through the real API and CLI on a scripted workspace: each named search returns exactly
the records a plain filter over the whole log selects, cursors page through every record once, and a
reader without ``audit:read`` is refused with the refusal on record."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from typer.testing import CliRunner

from sealroom.audit.query import ACCESS_ACTIONS
from sealroom.cli.main import app as cli_app
from sealroom.db.models import AuditEvent
from sealroom.demo.documents import render_lab_report
from sealroom.vault.service import IngestRequest
from tests.conftest import CLINICAL_CASE, Env, login

OTHER_CASE = "ENC-2026-0099"
JUSTIFICATION = "Patient unresponsive in the ED; prior lab results needed for treatment now"


def _ingest(env: Env, case_id: str) -> str:
    intake = env.session("nora")
    meta = env.workspace.vault.ingest(
        intake, render_lab_report(), IngestRequest("clinical-records", case_id, "clinical", None)
    )
    env.workspace.sessions.end(intake.id, "logout")
    return str(meta["id"])


@pytest.fixture
def scripted(env: Env, client: TestClient) -> dict[str, Any]:
    """Ingests, an open, a denial, a break-glass, an analysis and deliveries, an evidence export."""
    image = _ingest(env, CLINICAL_CASE)
    other = _ingest(env, OTHER_CASE)
    sam, kim = login(client, env, "sam"), login(client, env, "kim")
    assert client.get(f"/api/v1/images/{image}", headers=sam).status_code == 200
    assert client.get(f"/api/v1/images/{image}", headers=kim).status_code == 404  # denied, recorded
    env.clock.advance(minutes=5)
    taken = client.post(
        "/api/v1/break-glass",
        json={"case_id": OTHER_CASE, "dataset": "clinical-records", "justification": JUSTIFICATION},
        headers=sam,
    )
    assert taken.status_code == 201, taken.text
    assert client.get(f"/api/v1/images/{other}", headers=sam).status_code == 200
    # What an analysis and an image export leave in the log (the engine is not what is under test here).
    for action, category in (("analysis.run", "analysis"), ("result.deliver", "delivery"),
                             ("delivery.export", "delivery")):  # fmt: skip
        env.workspace.audit.append(
            env.workspace.db, category=category, action=action, outcome="success", actor="sam",
            image_id=image, case_id=CLINICAL_CASE, details={"pages": 1},
        )  # fmt: skip
    env.clock.advance(minutes=5)
    assert client.get("/api/v1/audit/export", params={"format": "csv"}, headers=kim).status_code == 200
    return {"image": image, "other": other, "kim": kim, "sam": sam}


def _all(env: Env) -> list[AuditEvent]:
    with env.workspace.db() as db:
        return list(db.scalars(select(AuditEvent).order_by(AuditEvent.seq)))


def _pages(client: TestClient, headers: dict[str, str], **params: Any) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    cursor: dict[str, int] | None = {}
    while cursor is not None:
        response = client.get("/api/v1/audit/events", params={**params, **cursor}, headers=headers)
        assert response.status_code == 200, response.text
        body = response.json()
        events += body["events"]
        cursor = body["next"]
    return events


def _expected(env: Env, keep: Callable[[AuditEvent], bool], before: int) -> list[int]:
    return [e.seq for e in _all(env) if e.seq < before and keep(e)]


def test_each_named_search_returns_exactly_its_records(
    env: Env, client: TestClient, scripted: dict[str, Any]
) -> None:
    kim, image = scripted["kim"], scripted["image"]
    before = max(e.seq for e in _all(env)) + 1  # the searches' own audit.search records come after
    searches: list[tuple[dict[str, Any], Callable[[AuditEvent], bool]]] = [
        ({"image_id": image}, lambda e: e.image_id == image),
        ({"image_id": image, "kind": "access"}, lambda e: e.image_id == image and e.action in ACCESS_ACTIONS),
        ({"case_id": OTHER_CASE}, lambda e: e.case_id == OTHER_CASE),
        ({"actor": "sam"}, lambda e: e.actor == "sam"),
        ({"kind": "denials"}, lambda e: e.outcome == "deny"),
        ({"kind": "break-glass"}, lambda e: e.action.startswith("access.break_glass")),
        ({"kind": "exports"}, lambda e: e.action in ("delivery.export", "audit.export")),
    ]
    for params, keep in searches:
        expected = _expected(env, keep, before)
        assert expected, params  # the script produced some, so an empty answer cannot pass
        got = [e["seq"] for e in _pages(client, kim, limit=2, before_seq=before, **params)]
        assert got == expected, params
    accessed = _pages(client, kim, image_id=image, kind="access")
    who = {(e["actor"], e["action"], e["outcome"]) for e in accessed}
    assert {("sam", "access.decision", "allow"), ("kim", "access.decision", "deny"),
            ("sam", "analysis.run", "success"), ("sam", "delivery.export", "success")} <= who  # fmt: skip
    assert {e["action"] for e in _pages(client, kim, kind="exports")} == {"audit.export", "delivery.export"}


def test_user_in_a_period_and_newest_first_paging_returns_every_record_once(
    env: Env, client: TestClient, scripted: dict[str, Any]
) -> None:
    kim = scripted["kim"]
    events = _all(env)
    since, until = events[0].ts + timedelta(minutes=3), events[-1].ts
    expected = [e.seq for e in events if e.actor == "sam" and since <= e.ts < until]
    assert expected and len(expected) < len([e for e in events if e.actor == "sam"])
    params = {"actor": "sam", "since": since.isoformat(), "until": until.isoformat(), "limit": 1}
    assert [e["seq"] for e in _pages(client, kim, **params)] == expected
    newest = [e["seq"] for e in _pages(client, kim, newest_first=True, **params)]
    assert newest == list(reversed(expected))


def test_a_search_is_audited_with_filter_names_but_not_values(
    env: Env, client: TestClient, scripted: dict[str, Any]
) -> None:
    response = client.get(
        "/api/v1/audit/events", params={"actor": "sam", "kind": "denials"}, headers=scripted["kim"]
    )
    assert response.status_code == 200
    record = _all(env)[-1]
    assert (record.action, record.actor, record.outcome) == ("audit.search", "kim", "success")
    assert record.details == {"returned": len(response.json()["events"]),
                              "filter": {"kind": "denials", "by": ["actor"]}}  # fmt: skip
    assert "sam" not in str(record.details)


def test_a_reader_without_audit_read_is_refused_and_the_refusal_is_on_record(
    env: Env, client: TestClient, scripted: dict[str, Any]
) -> None:
    sam = scripted["sam"]
    for path in ("/api/v1/audit/events?kind=denials", "/api/v1/audit/export?format=jsonl"):
        response = client.get(path, headers=sam)
        assert response.status_code == 403, response.text
        denial = _all(env)[-1]
        assert (denial.action, denial.actor, denial.outcome) == ("access.decision", "sam", "deny")
        assert denial.details["requested"] == "audit:read"
    assert not [e for e in _all(env) if e.actor == "sam" and e.action.startswith("audit.")]


def test_conflicting_or_unknown_named_searches_are_refused(
    client: TestClient, scripted: dict[str, Any]
) -> None:
    kim = scripted["kim"]
    assert client.get("/api/v1/audit/events?kind=everything", headers=kim).status_code == 422
    response = client.get("/api/v1/audit/events?kind=denials&outcome=success", headers=kim)
    assert response.status_code == 400 and "denials" in response.text


def _seqs(table: str) -> list[int]:
    """The seq column of a printed table."""
    return [int(m.group(1)) for m in re.finditer(r"^\W*?(\d+)\s*[│|]", table, re.MULTILINE)]


def test_cli_named_searches_match_the_api(env: Env, client: TestClient, scripted: dict[str, Any]) -> None:
    runner = CliRunner()
    environ = {"SEALROOM_WORKSPACE": str(env.root)}
    image = scripted["image"]
    cases: list[tuple[list[str], Callable[[AuditEvent], bool]]] = [
        (["--image", image], lambda e: e.image_id == image),
        (["--denials"], lambda e: e.outcome == "deny"),
        (["--break-glass"], lambda e: e.action.startswith("access.break_glass")),
        (["--exports"], lambda e: e.action in ("delivery.export", "audit.export")),
        (["--kind", "access", "--user", "sam"], lambda e: e.actor == "sam" and e.action in ACCESS_ACTIONS),
    ]
    for args, keep in cases:
        expected = [e.seq for e in _all(env) if keep(e)]
        result = runner.invoke(cli_app, ["audit", "show", "--limit", "500", *args], env=environ)
        assert result.exit_code == 0, result.output
        shown = _seqs(result.output)
        assert shown == expected, args
        last = _all(env)[-1]
        assert last.action == "audit.search" and last.details["returned"] == len(expected)
    result = runner.invoke(cli_app, ["audit", "show", "--denials", "--exports"], env=environ)
    assert result.exit_code != 0 and "one named search" in result.output


def test_cli_pages_with_the_cursor_it_prints(env: Env, client: TestClient, scripted: dict[str, Any]) -> None:
    runner = CliRunner()
    environ = {"SEALROOM_WORKSPACE": str(env.root)}
    expected = [e.seq for e in _all(env) if e.actor == "sam"]
    seen: list[int] = []
    args = ["audit", "show", "--user", "sam", "--limit", "3"]
    while True:
        result = runner.invoke(cli_app, args, env=environ)
        assert result.exit_code == 0, result.output
        lines = result.output.splitlines()
        seen = _seqs(result.output) + seen
        more = [line for line in lines if line.startswith("more: repeat with --before-seq")]
        if not more:
            break
        args = ["audit", "show", "--user", "sam", "--limit", "3", "--before-seq", more[0].split()[-1]]
    assert seen == expected
