"""Egress policy: may an image's pixels leave the workspace for an external engine, and how?

The mode for an image is the stricter of its data set's ``egress`` and the workspace ceiling for its
classification (``[egress.classifications]``). ``local-only`` refuses every external engine,
``redacted`` sends pixels only after PII regions and faces are burned out, ``allowed`` sends them as
they are. A data set without a setting is ``local-only``: nothing leaves unless someone said so.
"""

from __future__ import annotations

from dataclasses import dataclass

from sealroom.config import EGRESS_MODES, EgressMode, Settings


@dataclass(frozen=True)
class EgressDecision:
    """The egress mode for one image and which setting decided it."""

    mode: EgressMode
    basis: str
    """``dataset:<name>``, ``classification:<level>``, or ``unknown_dataset`` (a data set no longer
    in the configuration: treated as ``local-only``)."""

    @property
    def allowed(self) -> bool:
        """Whether any external engine may receive the image (possibly after redaction)."""
        return self.mode != "local-only"

    @property
    def reason(self) -> str:
        """The machine reason recorded in the audit log."""
        return f"egress_{self.mode.replace('-', '_')}"


def strictest(*modes: EgressMode) -> EgressMode:
    """The most restrictive of ``modes``."""
    return min(modes, key=EGRESS_MODES.index)


class EgressPolicy:
    """Decides the egress mode of images from the workspace settings."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings

    def decide(self, dataset: str, classification: str) -> EgressDecision:
        """The egress mode for an image of ``dataset`` at ``classification``."""
        configured = self._settings.datasets.get(dataset)
        if configured is None:
            return EgressDecision("local-only", "unknown_dataset")
        by_dataset = configured.egress
        level, ceiling = self._ceiling(classification)
        mode = strictest(by_dataset, ceiling)
        basis = f"dataset:{dataset}" if mode == by_dataset else f"classification:{level}"
        return EgressDecision(mode, basis)

    def _ceiling(self, classification: str) -> tuple[str, EgressMode]:
        """The strictest ceiling set for this classification or any below it: a higher level is never
        looser than a lower one. An unknown classification gets ``local-only``."""
        levels = self._settings.classifications
        if classification not in levels:
            return classification, "local-only"
        named = self._settings.egress.classifications
        candidates = [(level, named[level]) for level in levels[: levels.index(classification) + 1]
                      if level in named]
        if not candidates:
            return classification, "allowed"
        return min(candidates, key=lambda item: EGRESS_MODES.index(item[1]))

    def modes_by_dataset(self) -> dict[str, dict[str, EgressMode]]:
        """``{dataset: {classification: mode}}`` for every data set and classification, for listings."""
        return {
            dataset: {level: self.decide(dataset, level).mode for level in self._settings.classifications}
            for dataset in self._settings.datasets
        }
