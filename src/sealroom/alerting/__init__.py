"""Alert rules over the audit log, and the periodic watch (anchors, verification) that raises them.

``monitor.Monitor`` holds the steps ``serve`` runs (``Workspace.maintain``) and ``sealroom alerts run``
runs once; ``status`` answers what the watch last found.
"""
