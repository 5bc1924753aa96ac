"""Controlled export: the only path by which pixels leave the workspace."""
