"""Part of item (b): the single sign-on providers, checked live.

Each configured provider must answer its discovery document with the configured issuer, publish its
keys, have its client secret where the configuration says, and confer roles only through a mapping;
a provider that asserts no MFA the configuration recognises makes every sign-in fall back to Sealroom's
own TOTP, which is worth knowing before staff are told to use it.
"""

from __future__ import annotations

from sealroom.errors import SealroomError
from sealroom.readiness.report import Check, passed
from sealroom.sso.provider import OidcProvider

TITLE = "Single sign-on providers answer and confer roles only by mapping"


def check_sso(providers: dict[str, OidcProvider]) -> Check:
    """``b.sso``: pass without providers; fail when one cannot be used; warn on weak spots."""
    if not providers:
        return passed(
            "b.sso", TITLE, "no single sign-on provider is configured; people sign in with local accounts"
        )
    failures: list[str] = []
    warnings: list[str] = []
    for name, provider in providers.items():
        try:
            provider.client_secret()
            provider.metadata()
            provider.key_set()
        except SealroomError as exc:
            failures.append(f"{name}: {exc.message}")
            continue
        if not provider.settings.role_mapping:
            warnings.append(f"{name}: role_mapping is empty, so nobody signing in through it gets a role")
        if not provider.settings.client_secret_env and not provider.settings.client_secret_file:
            warnings.append(f"{name}: no client secret, so Sealroom signs in as a public client (PKCE only)")
        if provider.settings.api_audience and not provider.settings.api_requires_mfa:
            warnings.append(
                f"{name}: API tokens are accepted without multi-factor evidence (api_requires_mfa)"
            )
        if not provider.settings.mfa_amr and not provider.settings.mfa_acr:
            warnings.append(
                f"{name}: no amr/acr value counts as MFA, so every sign-in also asks for a Sealroom code"
            )
    if failures:
        return Check(
            "b.sso",
            TITLE,
            "fail",
            "; ".join(failures),
            "check [sso.providers] (issuer, client secret, ca_bundle) and that this server reaches the "
            "provider; docs/sso.md lists what to register with the provider",
        )
    if warnings:
        return Check("b.sso", TITLE, "warn", "; ".join(warnings), "see docs/sso.md, Roles and MFA")
    return passed(
        "b.sso",
        TITLE,
        f"{len(providers)} provider(s) answer with their issuer and keys and map groups to roles",
    )
