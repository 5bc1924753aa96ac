"""Egress policy: the stricter of the data set's setting and the classification ceiling wins."""

from __future__ import annotations

import pytest

from sealroom.config import Settings
from sealroom.egress import EgressPolicy, strictest


def _settings(**egress: str) -> Settings:
    datasets = {
        name: {"purpose": "p", "owner": "o", "default_classification": "internal", "egress": mode}
        for name, mode in egress.items()
    }
    return Settings.model_validate(
        {"datasets": datasets, "egress": {"classifications": {"restricted": "local-only",
                                                              "confidential": "redacted"}}}
    )


def test_strictest_orders_local_only_redacted_allowed() -> None:
    assert strictest("allowed", "redacted") == "redacted"
    assert strictest("allowed", "local-only", "redacted") == "local-only"
    assert strictest("allowed") == "allowed"


@pytest.mark.parametrize(
    ("dataset_mode", "classification", "mode", "basis"),
    [
        ("allowed", "internal", "allowed", "dataset:d"),
        ("allowed", "confidential", "redacted", "classification:confidential"),
        ("allowed", "restricted", "local-only", "classification:restricted"),
        ("redacted", "internal", "redacted", "dataset:d"),
        ("local-only", "internal", "local-only", "dataset:d"),
        ("local-only", "confidential", "local-only", "dataset:d"),
    ],
)
def test_mode_is_the_stricter_of_dataset_and_classification(
    dataset_mode: str, classification: str, mode: str, basis: str
) -> None:
    decision = EgressPolicy(_settings(d=dataset_mode)).decide("d", classification)
    assert (decision.mode, decision.basis) == (mode, basis)
    assert decision.allowed is (mode != "local-only")
    assert decision.reason == "egress_" + mode.replace("-", "_")


def test_a_dataset_without_egress_setting_is_local_only() -> None:
    settings = Settings.model_validate(
        {"datasets": {"d": {"purpose": "p", "owner": "o", "default_classification": "internal"}}}
    )
    assert EgressPolicy(settings).decide("d", "internal").mode == "local-only"


def test_a_dataset_no_longer_configured_is_local_only() -> None:
    decision = EgressPolicy(_settings(d="allowed")).decide("removed", "internal")
    assert (decision.mode, decision.basis) == ("local-only", "unknown_dataset")


def test_listing_covers_every_dataset_and_classification() -> None:
    modes = EgressPolicy(_settings(a="allowed", b="local-only")).modes_by_dataset()
    assert modes == {
        "a": {"internal": "allowed", "confidential": "redacted", "restricted": "local-only"},
        "b": {"internal": "local-only", "confidential": "local-only", "restricted": "local-only"},
    }


def test_unknown_mode_or_classification_is_a_config_error() -> None:
    with pytest.raises(ValueError, match="egress"):
        _settings(d="sometimes")
    with pytest.raises(ValueError, match="unknown classifications"):
        Settings.model_validate({"egress": {"classifications": {"secret": "allowed"}}})


def test_a_higher_classification_is_never_looser_than_a_lower_ones_ceiling() -> None:
    settings = Settings.model_validate(
        {
            "classifications": ["internal", "confidential", "restricted", "secret"],
            "datasets": {"d": {"purpose": "p", "owner": "o", "default_classification": "internal",
                               "egress": "allowed"}},
            "egress": {"classifications": {"restricted": "local-only"}},
        }
    )
    decision = EgressPolicy(settings).decide("d", "secret")
    assert (decision.mode, decision.basis) == ("local-only", "classification:restricted")
    assert EgressPolicy(settings).decide("d", "confidential").mode == "allowed"
    assert EgressPolicy(settings).decide("d", "unheard-of").mode == "local-only"
