"""Engines by config name. Adding an engine registers a factory here; the core never changes."""

from __future__ import annotations

import threading
from collections.abc import Callable

from sealroom.analysis.models import AnalysisEngine
from sealroom.errors import InputError

EngineFactory = Callable[[], AnalysisEngine]


def _local() -> AnalysisEngine:
    from sealroom.analysis.local.engine import LocalEngine

    return LocalEngine()


DEFAULT_FACTORIES: dict[str, EngineFactory] = {"local": _local}


class EngineRegistry:
    """Builds each configured engine once, on first use (models load lazily)."""

    def __init__(self, factories: dict[str, EngineFactory] | None = None) -> None:
        self._factories = dict(factories or DEFAULT_FACTORIES)
        self._engines: dict[str, AnalysisEngine] = {}
        self._lock = threading.Lock()

    def names(self) -> list[str]:
        """Names of the engines that can be chosen."""
        return sorted(self._factories)

    def get(self, name: str) -> AnalysisEngine:
        """The engine called ``name``; ``InputError`` names the choices when it is unknown."""
        if name not in self._factories:
            raise InputError(f"unknown engine {name!r}; available: {', '.join(self.names())}")
        with self._lock:
            if name not in self._engines:
                self._engines[name] = self._factories[name]()
            return self._engines[name]
