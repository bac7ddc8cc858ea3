"""session ends

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02 04:30:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0005'
down_revision: str | None = '0004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_FORGOTTEN_S = 4 * 3600  # the default --max-session: what a session from before may have lasted


def upgrade() -> None:
    # Every session has an end, when the controller ends it; `begins_at` is when its lecture begins
    # (a timetabled session starts a few minutes before), from which lateness counts.
    with op.batch_alter_table('session', schema=None) as batch_op:
        batch_op.add_column(sa.Column('ends_at', sa.Float(), nullable=True))
        batch_op.add_column(sa.Column('begins_at', sa.Float(), nullable=True))
        batch_op.create_index(batch_op.f('ix_session_ends_at'), ['ends_at'], unique=False)
    # a session from before ends 4 h after its start (a forgotten one: at the controller's next
    # tick); an ended one ended when it did
    op.execute(f"UPDATE session SET ends_at = started_at + {_FORGOTTEN_S} WHERE active")
    op.execute("UPDATE session SET ends_at = ended_at WHERE NOT active")


def downgrade() -> None:
    with op.batch_alter_table('session', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_session_ends_at'))
        batch_op.drop_column('begins_at')
        batch_op.drop_column('ends_at')
