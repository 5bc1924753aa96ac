"""Accounts and single sign-on without the provider being involved: password sign-in switched off for
the whole workspace, and accounts that may only sign in through their provider."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from typer.testing import CliRunner

from sealroom.api.app import create_app
from sealroom.cli.main import app as cli
from sealroom.clock import ManualClock
from sealroom.db.models import AuditEvent
from sealroom.readiness.evaluate import evaluate
from sealroom.workspace import Workspace
from tests.conftest import PASSWORD, START
from tests.sso_world import SECRET_ENV, sso_config

UNREACHABLE_ISSUER = "http://127.0.0.1:9"


def _workspace(tmp_path: Path, template: tuple[Path, dict[str, str]], *, local_accounts: bool) -> Path:
    root = tmp_path / "ws"
    shutil.copytree(template[0], root)
    config = root / "sealroom.toml"
    text = config.read_text(encoding="utf-8")
    if not local_accounts:
        text = text.replace("\nlocal_accounts = true", "\nlocal_accounts = false", 1)
        assert "local_accounts = false" in text
    config.write_text(text + sso_config(UNREACHABLE_ISSUER, "https://sealroom.example.org"), encoding="utf-8")
    return root


@pytest.fixture
def sso_only(tmp_path: Path, template: tuple[Path, dict[str, str]]) -> Iterator[Workspace]:
    workspace = Workspace.open(_workspace(tmp_path, template, local_accounts=False), clock=ManualClock(START))
    yield workspace
    workspace.close()


def _failures(workspace: Workspace, actor: str) -> list[str | None]:
    with workspace.db() as db:
        rows = db.scalars(
            select(AuditEvent.reason).where(
                AuditEvent.action == "auth.login", AuditEvent.actor == actor, AuditEvent.outcome == "failure"
            )
        )
        return list(rows)


def test_with_local_accounts_off_no_password_signs_in_and_the_page_offers_only_sso(
    sso_only: Workspace, template: tuple[Path, dict[str, str]]
) -> None:
    with TestClient(create_app(sso_only, sweep=False)) as client:
        refused = client.post(
            "/api/v1/login", json={"username": "alex", "password": PASSWORD, "totp": "123456"}
        )
        page = client.get("/login")
    assert refused.status_code == 401
    assert "single sign-on" in refused.json()["message"]
    assert _failures(sso_only, "alex") == ["local_accounts_disabled"]
    assert page.status_code == 200
    assert 'href="/sso/corp/login?next=/"' in page.text and 'name="password"' not in page.text


def test_an_sso_account_cannot_use_a_password_and_says_no_more_than_any_failure(
    tmp_path: Path, template: tuple[Path, dict[str, str]]
) -> None:
    root = _workspace(tmp_path, template, local_accounts=True)
    runner = CliRunner()
    added = runner.invoke(cli, ["user", "add", "dr.lee", "--sso", "corp", "--workspace", str(root)])
    assert added.exit_code == 0, added.output
    assert "roles come from its groups" in added.output
    with_role = runner.invoke(
        cli, ["user", "add", "dr.kim", "--sso", "corp", "--role", "clinician", "--workspace", str(root)]
    )
    assert with_role.exit_code != 0 and "--role does not apply" in with_role.output
    unknown = runner.invoke(cli, ["user", "add", "dr.kim", "--sso", "okta", "--workspace", str(root)])
    assert unknown.exit_code != 0 and "unknown identity provider" in unknown.output
    listed = runner.invoke(cli, ["user", "list", "--workspace", str(root)])
    assert "via corp" in listed.output

    workspace = Workspace.open(root, clock=ManualClock(START))
    try:
        with TestClient(create_app(workspace, sweep=False)) as client:
            sso_try = client.post("/api/v1/login", json={"username": "dr.lee", "password": "!sso"})
            nobody = client.post("/api/v1/login", json={"username": "nobody.here", "password": "!sso"})
        assert sso_try.status_code == nobody.status_code == 401
        assert sso_try.json() == nobody.json()
        assert _failures(workspace, "dr.lee") == ["sso_account"]
    finally:
        workspace.close()


def test_readiness_fails_on_a_provider_without_its_secret_or_out_of_reach(
    sso_only: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    no_secret = evaluate(sso_only).check("b.sso")
    assert no_secret.status == "fail" and f"set the environment variable {SECRET_ENV}" in no_secret.detail
    monkeypatch.setenv(SECRET_ENV, "a-secret")
    unreachable = evaluate(sso_only).check("b.sso")
    assert unreachable.status == "fail"
    assert "corp" in unreachable.detail and "cannot be reached" in unreachable.detail
    assert unreachable.remedy is not None and "docs/sso.md" in unreachable.remedy


def test_operators_are_told_what_to_fix(tmp_path: Path, template: tuple[Path, dict[str, str]]) -> None:
    root = _workspace(tmp_path, template, local_accounts=False)
    runner = CliRunner()
    password_account = runner.invoke(
        cli, ["user", "add", "bob", "--role", "intake", "--workspace", str(root)]
    )
    assert password_account.exit_code != 0 and "add it with --sso PROVIDER" in password_account.output
    assert (
        runner.invoke(cli, ["user", "add", "dr.park", "--sso", "corp", "--workspace", str(root)]).exit_code
        == 0
    )
    listed = runner.invoke(cli, ["user", "list", "--workspace", str(root)])
    assert "sso corp (not linked yet)" in listed.output
    linked = runner.invoke(
        cli, ["user", "link-sso", "dr.park", "--subject", "0f3c-77", "--workspace", str(root)]
    )
    assert linked.exit_code == 0, linked.output
    assert "not linked yet" not in runner.invoke(cli, ["user", "list", "--workspace", str(root)]).output
    local = runner.invoke(cli, ["user", "link-sso", "alex", "--subject", "x", "--workspace", str(root)])
    assert local.exit_code != 0 and "local account" in local.output
    serve = runner.invoke(cli, ["serve", "--workspace", str(root)], env={SECRET_ENV: ""})
    assert serve.exit_code != 0 and f"set the environment variable {SECRET_ENV}" in serve.output
