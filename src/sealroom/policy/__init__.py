"""Access policy: roles from the workspace configuration, case grants, and the decisions they make."""

from sealroom.policy.decision import Decision
from sealroom.policy.engine import PolicyEngine
from sealroom.policy.grants import GrantService

__all__ = ["Decision", "GrantService", "PolicyEngine"]
