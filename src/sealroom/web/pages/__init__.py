"""The page routers of the browser workspace, one module per area."""
