"""The demo: synthetic sample documents with invented personal data, and an example workspace."""
