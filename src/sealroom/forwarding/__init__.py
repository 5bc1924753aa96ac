"""Forwarding the audit log to SIEM sinks (syslog over TCP/TLS, HTTPS webhooks) without loss.

``Forwarder`` feeds the sinks from the log itself (the durable outbox); ``forwarding_status`` tells
how each sink is doing. See ``docs/compliance.md``.
"""

from sealroom.forwarding.forwarder import Forwarder
from sealroom.forwarding.results import PassResult
from sealroom.forwarding.status import SinkStatus, forwarding_status

__all__ = ["Forwarder", "PassResult", "SinkStatus", "forwarding_status"]
