"""Shared fixtures for the offline analysis engine tests."""

from __future__ import annotations

import pytest

from sealroom.analysis.local.engine import LocalEngine


@pytest.fixture(scope="session")
def engine() -> LocalEngine:
    """One engine for the whole run (its Presidio analyser is built once)."""
    return LocalEngine()


def found(engine: LocalEngine, text: str) -> dict[str, list[str]]:
    """Entity texts found in ``text``, by type."""
    out: dict[str, list[str]] = {}
    for ent in engine.analyze_text(text):
        out.setdefault(ent.type, []).append(ent.text)
    return out
