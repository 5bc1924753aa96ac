"""Every action name the searches, alert rules and OCSF mapping look for is one the code records.

The modules that read the log name actions by string; a name that nothing records makes a search or
a rule silently miss what it is meant to find (a "who accessed this image" that never lists the result
deliveries). The names the code records are the string constants of the modules that write the log.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import sealroom
from sealroom.alerting import rules
from sealroom.audit import ocsf, query
from sealroom.audit.events import ACTION_PATTERN, Action

SOURCE = Path(sealroom.__file__).parent
READERS = {
    SOURCE / "audit" / "query.py",
    SOURCE / "alerting" / "rules.py",
    SOURCE / "audit" / "ocsf.py",
    SOURCE / "audit" / "events.py",
}


def _recorded_names() -> set[str]:
    """String constants shaped like action names in every module except those that only read them."""
    names: set[str] = set()
    for path in SOURCE.rglob("*.py"):
        if path in READERS:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            value = node.value if isinstance(node, ast.Constant) else None
            if isinstance(value, str) and "." in value and ACTION_PATTERN.fullmatch(value):
                names.add(value)
    return names


RECORDED = _recorded_names()
LOOKED_FOR = sorted(
    set(query.ACCESS_ACTIONS)
    | set(query.BREAK_GLASS_ACTIONS)
    | set(query.EXPORT_ACTIONS)
    | set(rules.ACCESS_ACTIONS)
    | {rules.BREAK_GLASS_ACTION}
    | {Action.DELIVERY_RESULT, Action.DELIVERY_EXPORT, Action.IMAGE_OPEN, Action.ANALYSIS_RUN}
)


@pytest.mark.parametrize("action", LOOKED_FOR)
def test_searched_and_alerted_actions_are_recorded_somewhere(action: str) -> None:
    assert action in RECORDED, f"{action!r} is searched for but no module records it"


def test_the_result_delivery_is_mapped_to_ocsf_as_a_read() -> None:
    record = {
        "seq": 1, "event_id": "e" * 32, "ts": "2030-01-07 09:00:00.000000Z", "category": "delivery",
        "action": "result.deliver", "outcome": "success", "actor": "sam", "session_id": None,
        "image_id": "i" * 32, "case_id": None, "reason": None, "details": {}, "prev_mac": "0" * 64,
        "mac": "1" * 64,
    }  # fmt: skip
    event = ocsf.to_ocsf(record)
    assert (event["class_uid"], event["activity_name"]) == (6003, "Read")
