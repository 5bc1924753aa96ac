"""Use-case profiles: complete ``sealroom.toml`` files seeded for a field (``sealroom init --profile``).

Each profile is a TOML file in this package (shipped as package data): classifications, data sets with
purpose, owner, egress, retention and break-glass where it fits, scoped roles, step-up, the offline
engine's recogniser set, alert rules and audit retention. ``docs/profiles.md`` explains each choice.
"""

from __future__ import annotations

from importlib import resources
from typing import Final, Literal

from sealroom.errors import ConfigError

ProfileName = Literal["clinical", "financial", "legal", "government"]
PROFILES: Final[tuple[ProfileName, ...]] = ("clinical", "financial", "legal", "government")


def profile_config_text(name: str) -> str:
    """The ``sealroom.toml`` text of profile ``name``; ``ConfigError`` for an unknown profile."""
    if name not in PROFILES:
        raise ConfigError(f"unknown profile {name!r}; choose one of {', '.join(PROFILES)}")
    return resources.files("sealroom.profiles").joinpath(f"{name}.toml").read_text(encoding="utf-8")
