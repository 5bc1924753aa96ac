"""From a provider's claims to Sealroom: roles by the configured mapping, and MFA evidence.

Only the mapping confers roles: a claim value no rule names confers nothing (default deny), and the
roles are recomputed from the current claims at every sign-in and re-check.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sealroom.config import OidcProviderSettings


@dataclass(frozen=True)
class RoleMapping:
    """The roles the claims confer, and which ``claim=value`` pairs conferred them."""

    roles: tuple[str, ...]
    matched: tuple[str, ...]


def claim_values(claims: Mapping[str, Any], claim: str) -> set[str]:
    """A claim's values as strings (a string claim is one value; a list, several; others none)."""
    value = claims.get(claim)
    if isinstance(value, str):
        return {value}
    if isinstance(value, list):
        return {item for item in value if isinstance(item, str)}
    return set()


def map_roles(settings: OidcProviderSettings, claims: Mapping[str, Any]) -> RoleMapping:
    """The roles conferred by ``claims`` under the provider's ``role_mapping`` (in rule order)."""
    roles: dict[str, None] = {}
    matched: list[str] = []
    for rule in settings.role_mapping:
        if rule.value in claim_values(claims, rule.claim):
            matched.append(f"{rule.claim}={rule.value}")
            roles.update(dict.fromkeys(rule.roles))
    return RoleMapping(tuple(roles), tuple(dict.fromkeys(matched)))


def mfa_evidence(settings: OidcProviderSettings, claims: Mapping[str, Any]) -> str | None:
    """What in the claims shows multi-factor authentication (``amr:mfa``, ``acr:<value>``), or None."""
    for value in sorted(claim_values(claims, "amr") & set(settings.mfa_amr)):
        return f"amr:{value}"
    acr = claims.get("acr")
    if isinstance(acr, str) and acr in settings.mfa_acr:
        return f"acr:{acr}"
    return None
