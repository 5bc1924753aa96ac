"""What can be chosen: the configured engines (with readiness) and the egress policy they run under.

Shown by ``sealroom engines`` and ``GET /api/v1/engines``. Nothing here contacts an endpoint or
reveals a credential: readiness only says whether one is present and where it is expected.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from sealroom.analysis.registry import EngineRegistry
from sealroom.analysis.tasks import preset_titles
from sealroom.egress import EgressPolicy
from sealroom.errors import SealroomError


def engine_catalog(engines: EngineRegistry, egress: EgressPolicy) -> dict[str, Any]:
    """``{"engines": [...], "egress": {dataset: {classification: mode}}, "schemas": {...}}``."""
    listed = []
    for name in engines.names():
        engine = engines.get(name)
        entry: dict[str, Any] = asdict(engine.info())
        check = getattr(engine, "check_ready", None)
        entry["ready"], entry["problem"] = True, None
        if check is not None:
            try:
                check()
            except SealroomError as exc:
                entry["ready"], entry["problem"] = False, exc.message
        listed.append(entry)
    return {"engines": listed, "egress": egress.modes_by_dataset(), "schemas": preset_titles()}
