"""The readiness check: the questions of a deployment review, answered from the live workspace.

``evaluate(workspace)`` returns a ``ReadinessReport`` of five items, each made of checks that pass, warn
or fail with the remedy: (a) use cases identified, (b) access control enforceable, (c) audit complete,
(d) session clearing and retention meet policy, (e) compliance review signed off. ``record_signoff``
records a sign-off bound to ``config_sha256(settings)``. See ``docs/readiness.md``.
"""

from sealroom.readiness.confighash import config_sha256
from sealroom.readiness.evaluate import evaluate
from sealroom.readiness.report import EXIT_FAIL, EXIT_PASS, EXIT_WARN, Check, Item, ReadinessReport, Status
from sealroom.readiness.signoff import SignoffView, latest_signoff, record_signoff

__all__ = [
    "EXIT_FAIL",
    "EXIT_PASS",
    "EXIT_WARN",
    "Check",
    "Item",
    "ReadinessReport",
    "SignoffView",
    "Status",
    "config_sha256",
    "evaluate",
    "latest_signoff",
    "record_signoff",
]
