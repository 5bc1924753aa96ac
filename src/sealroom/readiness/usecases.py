"""Item (a), use cases identified: every data set says why it exists, who owns it and how it is classified.

Data sets are how a deployment states its use cases; a data set without a purpose or an owner is
material nobody has answered for. Images filed under a data set that is no longer configured are
outside every role (so unreachable), but they are still held and still need an owner.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from sealroom.config import Settings
from sealroom.db.models import Image
from sealroom.readiness.report import Check, Item, passed

TITLE = "Use cases identified"
MIN_PURPOSE_CHARS = 10
"""A purpose shorter than this ("x", "tbd") does not state a use case."""


def check_use_cases(db: Session, settings: Settings) -> Item:
    """Item ``a``: data sets with purpose, owner and classification; no images left without one."""
    return Item("a", TITLE, (_datasets(settings), _orphaned_images(db, settings)))


def _datasets(settings: Settings) -> Check:
    title = "Data sets have a purpose, an owner and a classification"
    if not settings.datasets:
        return Check(
            "a.datasets", title, "fail", "no data sets are configured",
            "define each use case as [datasets.NAME] with purpose, owner and default_classification in "
            "sealroom.toml (or start from a profile: sealroom init --profile clinical|financial|legal|"
            "government)",
        )  # fmt: skip
    incomplete = sorted(
        name
        for name, dataset in settings.datasets.items()
        if len(dataset.purpose.strip()) < MIN_PURPOSE_CHARS or not dataset.owner.strip()
    )
    if incomplete:
        return Check(
            "a.datasets", title, "fail",
            f"{len(incomplete)} of {len(settings.datasets)} data sets lack a purpose (at least "
            f"{MIN_PURPOSE_CHARS} characters) or an owner: {', '.join(incomplete)}",
            "set purpose and owner under " + ", ".join(f"[datasets.{name}]" for name in incomplete),
        )  # fmt: skip
    return passed(
        "a.datasets", title,
        f"{len(settings.datasets)} data sets, each with purpose, owner and classification",
    )  # fmt: skip


def _orphaned_images(db: Session, settings: Settings) -> Check:
    title = "Every stored image belongs to a configured data set"
    held = set(db.scalars(select(Image.dataset).distinct()))
    unknown = sorted(held - set(settings.datasets))
    if unknown:
        return Check(
            "a.orphans", title, "warn",
            f"images are filed under {len(unknown)} data sets no longer configured: {', '.join(unknown)}",
            "restore " + ", ".join(f"[datasets.{name}]" for name in unknown)
            + " with purpose and owner, or let retention remove those images",
        )  # fmt: skip
    return passed("a.orphans", title, "no image lies outside the configured data sets")
