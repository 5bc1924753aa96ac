"""The built-in offline analysis engine: RapidOCR + Presidio with Sealroom's own recognisers."""

from sealroom.analysis.local.engine import LocalEngine

__all__ = ["LocalEngine"]
