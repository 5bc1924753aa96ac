"""Analysis engines: the engine contract and its implementations."""
