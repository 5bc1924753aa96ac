"""What can be chosen: the configured engines (with readiness) and the egress policy they run under.

Shown by ``sealroom engines`` and ``GET /api/v1/engines``. Nothing here contacts an endpoint or
reveals a credential: readiness only says whether one is present and where it is expected.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import asdict
from typing import Any

from sealroom.analysis.registry import EngineRegistry
from sealroom.analysis.tasks import preset_titles
from sealroom.egress import EgressPolicy
from sealroom.errors import SealroomError


def engine_catalog(
    engines: EngineRegistry, egress: EgressPolicy, datasets: Collection[str] | None = None
) -> dict[str, Any]:
    """``{"engines": [...], "egress": {dataset: {classification: mode}}, "schemas": {...}}``.

    ``datasets`` limits the egress table to those data sets (a user sees only their role's).
    """
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
    modes = egress.modes_by_dataset()
    if datasets is not None:
        modes = {name: levels for name, levels in modes.items() if name in datasets}
    return {"engines": listed, "egress": modes, "schemas": preset_titles()}
