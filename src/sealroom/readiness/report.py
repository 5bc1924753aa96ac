"""The readiness report: checks grouped into the five review items, each pass / warn / fail.

A ``Check`` answers one concrete question (``b.mfa``: "does every user who can reach sensitive material
have a second factor?"); an ``Item`` (``b``) groups the checks of one review question and takes the
worst of their statuses. Nothing in a report names a person or holds a secret: users are counted,
not listed, and the configuration appears only as its SHA-256.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, Literal

Status = Literal["pass", "warn", "fail"]
STATUS_ORDER: Final[dict[Status, int]] = {"pass": 0, "warn": 1, "fail": 2}

EXIT_PASS: Final = 0
EXIT_WARN: Final = 1
EXIT_FAIL: Final = 2
"""Exit codes of ``sealroom readiness``: 0 every check passed, 1 warnings but no failure, 2 at least one
failure. Errors that stop the evaluation itself use the error's own code (3 and up, see ``errors.py``)."""


def worst(statuses: Sequence[Status]) -> Status:
    """The most severe status of ``statuses`` (``pass`` when empty)."""
    return max(statuses, key=STATUS_ORDER.__getitem__, default="pass")


@dataclass(frozen=True)
class Check:
    """One question answered: ``detail`` says what was found, ``remedy`` what to change (None on pass)."""

    id: str
    title: str
    status: Status
    detail: str
    remedy: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready values."""
        return {
            "id": self.id,
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
            "remedy": self.remedy,
        }


def passed(check_id: str, title: str, detail: str) -> Check:
    """A passing check."""
    return Check(check_id, title, "pass", detail)


@dataclass(frozen=True)
class Item:
    """One review question (``a`` to ``e``) and the checks that answer it."""

    id: str
    title: str
    checks: tuple[Check, ...]

    @property
    def status(self) -> Status:
        """The worst status of the item's checks."""
        return worst([check.status for check in self.checks])

    @property
    def detail(self) -> str:
        """One line: how many checks passed, and what the first problem is."""
        problems = [check for check in self.checks if check.status != "pass"]
        if not problems:
            return f"all {len(self.checks)} checks pass"
        first = max(problems, key=lambda check: STATUS_ORDER[check.status])
        return f"{len(problems)} of {len(self.checks)} checks need attention; first: {first.detail}"

    @property
    def remedy(self) -> str | None:
        """The remedies of the checks that did not pass, most severe first (None when all pass)."""
        problems = sorted(
            (check for check in self.checks if check.status != "pass" and check.remedy),
            key=lambda check: -STATUS_ORDER[check.status],
        )
        return "; ".join(f"[{check.id}] {check.remedy}" for check in problems) or None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready values, with the checks."""
        return {
            "id": self.id,
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
            "remedy": self.remedy,
            "checks": [check.to_dict() for check in self.checks],
        }


@dataclass(frozen=True)
class ReadinessReport:
    """The whole evaluation: items ``a`` to ``e``, the configuration hash it ran against, and when."""

    items: tuple[Item, ...]
    config_sha256: str
    evaluated_at: datetime
    profile: str | None = None

    @property
    def status(self) -> Status:
        """The worst status of all items."""
        return worst([item.status for item in self.items])

    @property
    def exit_code(self) -> int:
        """0 all pass, 1 warnings only, 2 any failure."""
        return STATUS_ORDER[self.status]

    @property
    def checks(self) -> list[Check]:
        """Every check of every item, in order."""
        return [check for item in self.items for check in item.checks]

    def check(self, check_id: str) -> Check:
        """The check with id ``check_id``; raises ``KeyError``."""
        for check in self.checks:
            if check.id == check_id:
                return check
        raise KeyError(check_id)

    def item(self, item_id: str) -> Item:
        """The item with id ``item_id``; raises ``KeyError``."""
        for item in self.items:
            if item.id == item_id:
                return item
        raise KeyError(item_id)

    def counts(self) -> dict[str, int]:
        """How many checks have each status."""
        result = {"pass": 0, "warn": 0, "fail": 0}
        for check in self.checks:
            result[check.status] += 1
        return result

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready values (``sealroom readiness --json`` and ``GET /api/v1/readiness``)."""
        return {
            "status": self.status,
            "exit_code": self.exit_code,
            "evaluated_at": self.evaluated_at.isoformat(),
            "config_sha256": self.config_sha256,
            "profile": self.profile,
            "counts": self.counts(),
            "items": [item.to_dict() for item in self.items],
        }
