"""Single sign-on settings are checked when the workspace starts, and claims map to roles and MFA as
configured, nothing more."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from sealroom.config import OidcProviderSettings, Settings
from sealroom.sso.mapping import map_roles, mfa_evidence

ROLES = {
    "clinician": {
        "actions": ["metadata:view"],
        "datasets": [],
        "max_classification": "internal",
        "document_types": [],
    },
    "auditor": {
        "actions": ["audit:read"],
        "datasets": [],
        "max_classification": "internal",
        "document_types": [],
    },
}


def provider(**overrides: Any) -> dict[str, Any]:
    settings: dict[str, Any] = {
        "display_name": "Corp ID",
        "issuer": "https://id.example.org",
        "client_id": "sealroom",
        "role_mapping": [{"value": "radiology-clinicians", "roles": ["clinician"]}],
    }
    settings.update(overrides)
    return settings


def settings(**sso_provider: Any) -> Settings:
    return Settings.model_validate(
        {
            "roles": ROLES,
            "sso": {
                "public_url": "https://sealroom.example.org",
                "providers": {"corp": provider(**sso_provider)},
            },
        }
    )


def test_a_valid_provider_is_accepted() -> None:
    assert settings().sso.providers["corp"].scopes[0] == "openid"


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"role_mapping": [{"value": "g", "roles": ["surgeon"]}]}, "unknown roles ['surgeon']"),
        ({"issuer": "http://id.example.org"}, "plain http to another host"),
        ({"scopes": ["profile"]}, "must include 'openid'"),
        ({"api_audience": "sealroom"}, "api_audience must differ from client_id"),
        ({"client_secret_env": "A", "client_secret_file": "b"}, "not both"),
        ({"client_secret_file": "../outside"}, "inside the workspace"),
        ({"surprise": True}, "extra"),
    ],
)
def test_unsafe_or_inconsistent_provider_settings_are_refused(
    overrides: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValidationError, match=message.replace("[", r"\[").replace("]", r"\]")):
        settings(**overrides)


def test_sso_needs_a_public_url_and_local_accounts_can_only_be_off_with_a_provider() -> None:
    with pytest.raises(ValidationError, match="public_url is required"):
        Settings.model_validate({"roles": ROLES, "sso": {"providers": {"corp": provider()}}})
    with pytest.raises(ValidationError, match="needs at least one"):
        Settings.model_validate({"login": {"local_accounts": False}})


def test_roles_come_only_from_mapped_claim_values() -> None:
    corp = OidcProviderSettings.model_validate(
        provider(
            role_mapping=[
                {"value": "radiology-clinicians", "roles": ["clinician"]},
                {"claim": "department", "value": "audit", "roles": ["auditor", "clinician"]},
            ]
        )
    )
    both = map_roles(corp, {"groups": ["radiology-clinicians", "canteen"], "department": "audit"})
    assert both.roles == ("clinician", "auditor")
    assert both.matched == ("groups=radiology-clinicians", "department=audit")
    assert map_roles(corp, {"groups": ["Radiology-Clinicians", "radiology-clinicians "]}).roles == ()
    assert map_roles(corp, {"groups": {"radiology-clinicians": True}}).roles == ()  # not a list of names
    assert map_roles(corp, {}).roles == ()


def test_mfa_is_taken_only_from_the_configured_amr_or_acr_values() -> None:
    corp = OidcProviderSettings.model_validate(provider(mfa_acr=["phr"]))
    assert mfa_evidence(corp, {"amr": ["pwd", "mfa"]}) == "amr:mfa"
    assert mfa_evidence(corp, {"amr": ["pwd", "otp"]}) is None
    assert mfa_evidence(corp, {"amr": "mfa"}) == "amr:mfa"
    assert mfa_evidence(corp, {"acr": "phr"}) == "acr:phr"
    assert mfa_evidence(corp, {"acr": "urn:low"}) is None
    assert mfa_evidence(corp, {}) is None
