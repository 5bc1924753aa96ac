"""The hash-chained audit log: event vocabulary, chain seal, append, verify, search and export.

Import from the submodules (``sealroom.audit.log``, ``.verify``, ``.query``, ``.export``); this package
module stays empty so importing one part does not load the others.
"""
