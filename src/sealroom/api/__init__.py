"""The HTTP API (FastAPI): a thin shell over the workspace services. It never serves image bytes."""
