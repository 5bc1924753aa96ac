"""Engines by config name: the built-in ``local`` engine and every ``[engines.NAME]`` in the settings.

Adding an engine kind registers a transport here; the core never changes. Engines are built on first
use, so listing them needs no credentials and loads no models.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from pathlib import Path

from sealroom.analysis.models import AnalysisEngine
from sealroom.config import EngineSettings, Settings
from sealroom.errors import InputError

EngineFactory = Callable[[], AnalysisEngine]


def _local() -> AnalysisEngine:
    from sealroom.analysis.local.engine import LocalEngine

    return LocalEngine()


DEFAULT_FACTORIES: dict[str, EngineFactory] = {"local": _local}


def model_engine_factory(
    name: str, settings: EngineSettings, workspace_root: Path, document_types: list[str]
) -> EngineFactory:
    """A factory for the model engine ``name`` configured by ``settings``."""

    def build() -> AnalysisEngine:
        from sealroom.analysis.model.engine import ModelEngine
        from sealroom.analysis.model.transport import Transport

        transport: Transport
        if settings.kind == "anthropic":
            from sealroom.analysis.model.anthropic_transport import AnthropicTransport

            transport = AnthropicTransport(name, settings, workspace_root)
        else:
            from sealroom.analysis.model.openai_transport import OpenAITransport

            transport = OpenAITransport(name, settings, workspace_root)
        return ModelEngine(name, settings, transport, document_types)

    return build


def configured_factories(settings: Settings, workspace_root: Path) -> dict[str, EngineFactory]:
    """Factories for every engine in ``[engines]``."""
    return {
        name: model_engine_factory(name, engine, workspace_root, list(settings.document_types))
        for name, engine in settings.engines.items()
    }


class EngineRegistry:
    """Builds each engine once, on first use (models load lazily)."""

    def __init__(
        self, factories: Mapping[str, EngineFactory] | None = None, *, base: EngineRegistry | None = None
    ) -> None:
        self._factories = dict(DEFAULT_FACTORIES if factories is None and base is None else factories or {})
        self._base = base
        self._engines: dict[str, AnalysisEngine] = {}
        self._lock = threading.Lock()

    def names(self) -> list[str]:
        """Names of the engines that can be chosen."""
        inherited = self._base.names() if self._base is not None else []
        return sorted(set(inherited) | set(self._factories))

    def get(self, name: str) -> AnalysisEngine:
        """The engine called ``name``; ``InputError`` names the choices when it is unknown."""
        if name not in self._factories:
            if self._base is not None and name in self._base.names():
                return self._base.get(name)
            raise InputError(f"unknown engine {name!r}; available: {', '.join(self.names())}")
        with self._lock:
            if name not in self._engines:
                self._engines[name] = self._factories[name]()
            return self._engines[name]

    def extended(self, factories: Mapping[str, EngineFactory]) -> EngineRegistry:
        """A registry with ``factories`` added; this registry's engines are shared, not rebuilt."""
        return EngineRegistry(factories, base=self)
