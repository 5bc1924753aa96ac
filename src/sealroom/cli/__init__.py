"""The ``sealroom`` command line: a thin shell over the workspace services."""
