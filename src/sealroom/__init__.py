"""Sealroom: a secure workspace for visual AI analysis of sensitive images."""

__version__ = "0.1.0"
