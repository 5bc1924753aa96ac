"""audit search indexes: (column, seq) for each filter an auditor searches by

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-04
"""

from __future__ import annotations

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_INDEXES = (
    ("ix_audit_events_image_seq", ["image_id", "seq"]),
    ("ix_audit_events_case_seq", ["case_id", "seq"]),
    ("ix_audit_events_actor_seq", ["actor", "seq"]),
    ("ix_audit_events_outcome_seq", ["outcome", "seq"]),
    ("ix_audit_events_action_seq", ["action", "seq"]),
)


def upgrade() -> None:
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        for name, columns in _INDEXES:
            batch_op.create_index(name, columns, unique=False)


def downgrade() -> None:
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        for name, _columns in reversed(_INDEXES):
            batch_op.drop_index(name)
