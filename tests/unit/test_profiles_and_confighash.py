"""Profiles validate as workspace settings; the sign-off's configuration hash ignores layout only."""

from __future__ import annotations

import tomllib

import pytest

from sealroom.config import Settings
from sealroom.errors import ConfigError
from sealroom.profiles import PROFILES, profile_config_text
from sealroom.readiness.access_checks import reaches_sensitive
from sealroom.readiness.confighash import canonical_settings, config_sha256
from sealroom.readiness.report import Check, Item, ReadinessReport
from sealroom.workspace import default_config_text


@pytest.mark.parametrize("name", PROFILES)
def test_each_profile_is_valid_scoped_and_local_only(name: str) -> None:
    settings = Settings.model_validate(tomllib.loads(profile_config_text(name)))
    assert settings.profile == name
    assert all(dataset.egress == "local-only" for dataset in settings.datasets.values())
    assert all(dataset.retention_days for dataset in settings.datasets.values())
    assert settings.audit.retention_days is not None
    assert settings.step_up_minutes(settings.classifications[-1]) is not None
    assert settings.analysis.entities
    for role in settings.roles.values():
        assert "*" not in role.datasets
        # Nobody both administers and reads content; every role reaching the top level is scoped.
        assert not ("workspace:admin" in role.actions and "image:analyze" in role.actions)
        if reaches_sensitive(role, settings):
            assert role.datasets and role.document_types


def test_only_the_clinical_profile_allows_break_glass() -> None:
    for name in PROFILES:
        settings = Settings.model_validate(tomllib.loads(profile_config_text(name)))
        assert any(d.break_glass for d in settings.datasets.values()) == (name == "clinical")


def test_an_unknown_profile_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="clinical, financial, legal, government"):
        profile_config_text("retail")


def _settings(text: str) -> Settings:
    return Settings.model_validate(tomllib.loads(text))


def test_the_hash_ignores_comments_and_layout_but_not_any_setting() -> None:
    text = default_config_text()
    base = config_sha256(_settings(text))
    relaid = "# a comment\n\n" + text.replace("port = 8700", "port  =  8700 # x")
    assert config_sha256(_settings(relaid)) == base
    assert config_sha256(_settings(text.replace("port = 8700", "port = 8701"))) != base
    # A default written out is the same setting as a default left out.
    assert config_sha256(_settings(text.replace("pdf_render_dpi = 200\n", ""))) == base


def test_the_hash_leaves_out_a_database_password_but_not_the_database() -> None:
    text = default_config_text()
    one = text.replace('"sqlite:///sealroom.db"', '"postgresql://app:secret1@db.internal:5432/sealroom"')
    two = text.replace('"sqlite:///sealroom.db"', '"postgresql://app:secret2@db.internal:5432/sealroom"')
    other = text.replace('"sqlite:///sealroom.db"', '"postgresql://app:secret1@db.internal:5432/other"')
    assert config_sha256(_settings(one)) == config_sha256(_settings(two)) != config_sha256(_settings(other))
    assert "secret1" not in str(canonical_settings(_settings(one)))


def test_exit_code_follows_the_worst_check() -> None:
    from datetime import UTC, datetime

    def report(*statuses: str) -> ReadinessReport:
        checks = tuple(Check(f"a.{i}", "t", status, "d") for i, status in enumerate(statuses))  # type: ignore[arg-type]
        return ReadinessReport((Item("a", "t", checks),), "0" * 64, datetime.now(UTC))

    assert report("pass", "pass").exit_code == 0
    assert report("pass", "warn").exit_code == 1
    assert report("warn", "fail", "pass").exit_code == 2
    assert report("warn", "fail").to_dict()["items"][0]["status"] == "fail"
