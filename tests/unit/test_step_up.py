"""Step-up rules: minutes per classification (never looser upwards) and what a pre-scan triggers on."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from sealroom.config import Settings
from sealroom.policy.stepup import stale_step_up, triggered_by

NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


def _settings(**step_up: object) -> Settings:
    return Settings.model_validate({"step_up": step_up})


def test_a_level_not_listed_takes_the_strictest_value_below_it() -> None:
    settings = _settings(classifications={"confidential": 30, "restricted": 60})
    assert settings.step_up_minutes("internal") is None
    assert settings.step_up_minutes("confidential") == 30
    assert settings.step_up_minutes("restricted") == 30, "a higher level is never looser"
    assert settings.step_up_minutes("no-such-level") == 30, "unknown levels get the strictest"


@pytest.mark.parametrize(("verified_minutes_ago", "stale"), [(None, 10), (11, 10), (10, None), (0, None)])
def test_a_check_older_than_the_limit_is_stale(verified_minutes_ago: int | None, stale: int | None) -> None:
    settings = _settings(classifications={"restricted": 10})
    verified = None if verified_minutes_ago is None else NOW - timedelta(minutes=verified_minutes_ago)
    assert stale_step_up(settings, "restricted", verified, NOW) == stale
    assert stale_step_up(settings, "confidential", verified, NOW) is None


def test_triggers_are_the_configured_entities_and_document_types() -> None:
    settings = _settings(trigger_entities=["CREDIT_CARD", "SSN"], trigger_document_types=["identity"])
    assert triggered_by(settings, {"PERSON", "SSN"}, "clinical") == ["SSN"]
    assert triggered_by(settings, {"PERSON"}, "identity") == ["doc:identity"]
    assert triggered_by(settings, {"PERSON", "DATE"}, "financial") == []


def test_step_up_settings_refuse_unknown_levels_and_silly_minutes() -> None:
    with pytest.raises(ValueError, match="unknown classifications"):
        _settings(classifications={"top-secret": 5})
    with pytest.raises(ValueError, match="minutes"):
        _settings(classifications={"restricted": 0})
    with pytest.raises(ValueError, match="raise_to"):
        _settings(raise_to="top-secret")
