"""The auditor's pages (search with keyset pages, verify, export) and the readiness page, through real
HTTP on the ASGI app. The real-browser journeys are in ``tests/e2e``."""

from __future__ import annotations

import csv
import hashlib
import html
import io
import json
import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, text

from sealroom.api.app import create_app
from sealroom.db.models import AuditEvent
from tests.conftest import Env
from tests.integration.test_web_pages import hidden, sign_in

IMAGE = "a1" * 16
OTHER_IMAGE = "b2" * 16


@pytest.fixture
def browser(env: Env) -> Iterator[TestClient]:
    with TestClient(create_app(env.workspace, sweep=False), follow_redirects=False) as client:
        yield client


def _events(env: Env, action: str) -> list[AuditEvent]:
    with env.workspace.db() as db:
        return list(
            db.scalars(select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.seq))
        )


def _add(env: Env, count: int, **fields: object) -> list[int]:
    """Append ``count`` records and return their seqs."""
    base: dict[str, object] = {
        "category": "image",
        "action": "image.open",
        "outcome": "success",
        "actor": "sam",
    }
    return [env.workspace.audit.append(env.workspace.db, **{**base, **fields}).seq for _ in range(count)]


def _seqs(page_html: str) -> list[int]:
    body = page_html.split("<tbody>", 1)[1].split("</tbody>", 1)[0] if "<tbody>" in page_html else ""
    return [int(seq) for seq in re.findall(r"<tr>\s*<td>(\d+)</td>", body)]


def _link(page_html: str, label: str) -> str | None:
    found = re.search(rf'<a href="([^"]+)" rel="(?:prev|next)">[^<]*{label}', page_html)
    return html.unescape(found.group(1)) if found else None


def test_an_auditor_lands_on_the_audit_log_and_sees_only_the_links_of_their_roles(
    browser: TestClient, env: Env
) -> None:
    sign_in(browser, env, "kim")
    assert browser.get("/").headers["location"] == "/audit"
    page = browser.get("/audit")
    assert page.status_code == 200 and page.headers["cache-control"] == "no-store"
    assert 'href="/audit"' in page.text and 'href="/admin/readiness"' in page.text
    assert 'href="/admin/users"' not in page.text and 'href="/cases"' not in page.text
    browser.cookies.clear()
    sign_in(browser, env, "sam")
    cases = browser.get("/cases")
    assert 'href="/audit"' not in cases.text and 'href="/admin/readiness"' not in cases.text


def test_filters_select_the_right_records_and_keyset_pages_cover_them_once(
    browser: TestClient, env: Env
) -> None:
    wanted = _add(env, 120, image_id=IMAGE)
    _add(env, 7, image_id=OTHER_IMAGE)
    _add(env, 5, actor="pat", image_id=IMAGE, action="access.decision", category="access", outcome="deny")
    sign_in(browser, env, "kim")

    first = browser.get(f"/audit?actor=sam&image_id={IMAGE}&action=image.open")
    assert first.status_code == 200
    seen = _seqs(first.text)
    assert seen == sorted(wanted, reverse=True)[:50]  # newest first
    assert _link(first.text, "Newer") is None
    older = _link(first.text, "Older")
    assert older is not None and "offset" not in older and f"before={seen[-1]}" in older
    second = browser.get(older)
    second_seqs = _seqs(second.text)
    assert second_seqs == sorted(wanted, reverse=True)[50:100]
    third = browser.get(_link(second.text, "Older") or "")
    assert _seqs(third.text) == sorted(wanted, reverse=True)[100:]
    assert _link(third.text, "Older") is None
    # Back towards the newest through the "after" cursor: the same records as before.
    back = browser.get(_link(third.text, "Newer") or "")
    assert _seqs(back.text) == second_seqs
    assert _seqs(browser.get(_link(back.text, "Newer") or "").text) == seen
    # The filters stay in the cursor links (a shared address shows the same search).
    assert f"image_id={IMAGE}" in older and "actor=sam" in older

    denials = browser.get("/audit?outcome=deny&actor=pat")
    assert len(_seqs(denials.text)) == 5
    named = browser.get("/audit?kind=denials")
    assert len(_seqs(named.text)) == 5 and 'href="/audit?kind=denials"' in named.text
    accessed = browser.get(f"/audit?kind=access&image_id={IMAGE}")  # who accessed the image
    assert _seqs(accessed.text)[:50] == sorted([*wanted, *_seqs(denials.text)], reverse=True)[:50]
    assert f'href="/audit?kind=access&amp;image_id={IMAGE}"' in accessed.text
    assert browser.get("/audit?kind=denials&outcome=allow").status_code == 400
    family = browser.get(f"/audit?action=access.*&image_id={IMAGE}")
    assert len(_seqs(family.text)) == 5 and "image.open" not in family.text.split("<tbody>")[1]


def test_every_search_is_audited_with_what_it_showed(browser: TestClient, env: Env) -> None:
    _add(env, 3, image_id=IMAGE)
    sign_in(browser, env, "kim")
    browser.get(f"/audit?image_id={IMAGE}")
    record = _events(env, "audit.search")[-1]
    assert record.actor == "kim" and record.session_id is not None
    assert record.details == {"returned": 3, "filter": {"by": ["image_id"]}}
    browser.get(f"/audit?image_id={IMAGE}&before=999999")  # the page viewed is on record, not the id
    assert _events(env, "audit.search")[-1].details == {
        "returned": 3, "filter": {"by": ["image_id"], "before_seq": 999999}
    }  # fmt: skip
    allowed = [e for e in _events(env, "access.decision") if e.actor == "kim"]
    assert allowed and allowed[-1].outcome == "allow"


def test_a_malformed_filter_is_shown_by_the_form_and_nothing_is_searched(
    browser: TestClient, env: Env
) -> None:
    sign_in(browser, env, "kim")
    before = len(_events(env, "audit.search"))
    for query in (
        "since=yesterday",
        "action=DROP%20TABLE",
        "outcome=maybe",
        "before=-3",
        "after=1e9",
        "kind=nope",
    ):
        page = browser.get(f"/audit?{query}")
        assert page.status_code == 400, query
        assert 'class="problem"' in page.text and "<tbody>" not in page.text
    assert len(_events(env, "audit.search")) == before


def test_record_values_are_printed_as_text(browser: TestClient, env: Env) -> None:
    _add(env, 1, reason="<b>bold</b>", details={"note": "<script>alert(1)</script>"}, image_id=IMAGE)
    sign_in(browser, env, "kim")
    page = browser.get(f"/audit?image_id={IMAGE}")
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text and "<script>alert" not in page.text
    assert "&lt;b&gt;bold&lt;/b&gt;" in page.text


@pytest.mark.parametrize("username", ["sam", "alex", "ada"])
def test_people_without_audit_read_are_refused_and_the_refusal_is_recorded(
    browser: TestClient, env: Env, username: str
) -> None:
    sign_in(browser, env, username)
    page = browser.get("/requests")
    csrf = hidden(page.text, "csrf_token")
    for response in (
        browser.get("/audit"),
        browser.get("/audit?since=not-a-date"),
        browser.post("/audit/verify", data={"csrf_token": csrf}),
        browser.post("/audit/export", data={"csrf_token": csrf, "format": "csv"}),
    ):
        assert response.status_code == 403 and "Not allowed" in response.text
    denials = [e for e in _events(env, "access.decision") if e.actor == username and e.outcome == "deny"]
    assert len(denials) == 4
    assert all(e.details["requested"] == "audit:read" for e in denials)
    assert not [e for e in _events(env, "audit.search") if e.actor == username]


def test_verify_shows_the_head_then_the_first_bad_record_of_a_tampered_chain(
    browser: TestClient, env: Env
) -> None:
    sign_in(browser, env, "kim")
    page = browser.get("/audit")
    csrf = hidden(page.text, "csrf_token")
    assert browser.post("/audit/verify", data={"csrf_token": "f" * 64}).status_code == 403

    intact = browser.post("/audit/verify", data={"csrf_token": csrf})
    assert intact.status_code == 200 and "The chain is intact" in intact.text
    head = re.search(r"<dt>Head record \(seq\)</dt><dd>(\d+)</dd>", intact.text)
    assert head is not None and int(head.group(1)) >= 10
    assert re.search(r'<code class="secret">[0-9a-f]{64}</code>', intact.text)

    with env.workspace.engine.begin() as conn:
        conn.execute(text("update audit_events set actor = 'someone-else' where seq = 7"))
    broken = browser.post("/audit/verify", data={"csrf_token": csrf})
    assert broken.status_code == 200 and "NOT INTACT" in broken.text
    assert "<dt>First bad record (seq)</dt><dd>7</dd>" in broken.text
    assert "record 7: contents do not match its seal" in broken.text
    outcomes = [(e.actor, e.outcome, e.details["ok"]) for e in _events(env, "audit.verify")]
    assert outcomes == [("kim", "success", True), ("kim", "failure", False)]


def test_evidence_is_exported_as_an_attachment_of_the_filtered_records_and_recorded(
    browser: TestClient, env: Env
) -> None:
    wanted = _add(env, 4, image_id=IMAGE)
    _add(env, 3, image_id=OTHER_IMAGE)
    sign_in(browser, env, "kim")
    page = browser.get(f"/audit?image_id={IMAGE}")
    assert f'<input type="hidden" name="image_id" value="{IMAGE}">' in page.text
    form = {"csrf_token": hidden(page.text, "csrf_token"), "image_id": IMAGE}
    assert (
        browser.post("/audit/export", data={**form, "format": "jsonl", "csrf_token": "0" * 64}).status_code
        == 403
    )
    assert browser.post("/audit/export", data={**form, "format": "pdf"}).status_code == 400

    jsonl = browser.post("/audit/export", data={**form, "format": "jsonl"})
    assert jsonl.status_code == 200, jsonl.text[:300]
    assert jsonl.headers["content-disposition"].startswith('attachment; filename="sealroom-audit-')
    assert jsonl.headers["cache-control"] == "no-store"
    assert jsonl.headers["x-sealroom-sha256"] == hashlib.sha256(jsonl.content).hexdigest()
    lines = [json.loads(line) for line in jsonl.text.splitlines()]
    assert [line["seq"] for line in lines[:-1]] == wanted
    manifest = lines[-1]
    assert manifest["type"] == "sealroom.export.manifest" and manifest["record_count"] == 4
    assert manifest["signature"] and manifest["filter"] == {"image_id": IMAGE}

    csv_file = browser.post("/audit/export", data={**form, "format": "csv"})
    assert csv_file.status_code == 200 and csv_file.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(csv_file.text)))
    assert len(rows) == 1 + 4 + 1 and rows[-1][0] == "sealroom.export.manifest"
    ocsf = browser.post("/audit/export", data={**form, "format": "ocsf"})
    assert ocsf.status_code == 200 and len(ocsf.text.splitlines()) == 5

    exports = _events(env, "audit.export")
    assert [(e.actor, e.details["format"], e.details["records"]) for e in exports] == [
        ("kim", "jsonl", 4), ("kim", "csv", 4), ("kim", "ocsf", 4)
    ]  # fmt: skip
    assert IMAGE not in json.dumps([e.details for e in exports])  # the filter is named, not its value


def test_the_readiness_report_is_for_administrators_and_reviewers_and_reviewers_sign_off(
    browser: TestClient, env: Env
) -> None:
    sign_in(browser, env, "sam")
    assert browser.get("/admin/readiness").status_code == 403
    browser.cookies.clear()

    sign_in(browser, env, "alex")
    report = browser.get("/admin/readiness")
    assert report.status_code == 200 and report.headers["cache-control"] == "no-store"
    assert re.search(
        r'Overall: <span class="badge badge-(pass|warn|fail)">(PASS|WARN|FAIL)</span>', report.text
    )
    assert "Compliance review signed off" in report.text and "No sign-off is recorded" in report.text
    assert "sealroom signoff" in report.text  # the remedy of the failing sign-off check
    assert 'action="/admin/readiness/signoff"' not in report.text  # administrators do not sign off
    csrf = hidden(report.text, "csrf_token")
    assert browser.post(
        "/admin/readiness/signoff", data={"csrf_token": csrf, "notes": "Looks fine"}
    ).status_code == 403  # fmt: skip
    assert _events(env, "readiness.evaluate")[-1].actor == "alex"
    browser.cookies.clear()

    sign_in(browser, env, "kim")
    page = browser.get("/admin/readiness")
    assert page.status_code == 200 and 'action="/admin/readiness/signoff"' in page.text
    csrf = hidden(page.text, "csrf_token")
    # The reviewer is the signed-in user; a name in the form is ignored, not trusted.
    form = {"csrf_token": csrf, "reviewer": "Someone Else", "notes": "Reviewed roles, retention and audit."}
    assert browser.post("/admin/readiness/signoff", data={**form, "csrf_token": "0" * 64}).status_code == 403
    signed = browser.post("/admin/readiness/signoff", data=form)
    assert signed.status_code == 303 and signed.headers["location"] == "/admin/readiness?notice=signed_off"
    after = browser.get(signed.headers["location"])
    assert "The sign-off was recorded" in after.text and "by kim (recorded by kim)" in after.text
    assert "Someone Else" not in after.text
    assert '<span class="badge badge-pass">CURRENT</span>' in after.text
    record = _events(env, "readiness.signoff")[-1]
    assert record.actor == "kim" and "Reviewed roles" not in str(record.details)
    empty = browser.post("/admin/readiness/signoff", data={**form, "notes": "   "})
    assert empty.status_code == 400 and 'href="/admin/readiness"' in empty.text
