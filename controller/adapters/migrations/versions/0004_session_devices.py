"""session devices

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02 04:20:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op


revision: str = '0004'
down_revision: str | None = '0003'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Which devices served each session and when: a session with several devices, failovers and
    # scaling keeps its history after it ends (the session row holds only its first device).
    op.create_table(
        'session_device',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('session_id', sa.Integer(), nullable=False),
        sa.Column('device_id', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column('joined_at', sa.Float(), nullable=False),
        sa.Column('left_at', sa.Float(), nullable=True),
        sa.Column('left_why', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True),
        sa.PrimaryKeyConstraint('id'),
    )
    with op.batch_alter_table('session_device', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_session_device_session_id'), ['session_id'], unique=False)
    # the history as far as it is known: the devices serving active sessions now, and each ended
    # session's last first device
    op.execute("INSERT INTO session_device (session_id, device_id, joined_at) "
               "SELECT d.session_id, d.id, s.started_at FROM device d JOIN session s ON s.id = d.session_id "
               "WHERE s.active")
    op.execute("INSERT INTO session_device (session_id, device_id, joined_at, left_at, left_why) "
               "SELECT id, device_id, started_at, ended_at, 'ended' FROM session "
               "WHERE NOT active AND device_id IS NOT NULL")


def downgrade() -> None:
    with op.batch_alter_table('session_device', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_session_device_session_id'))
    op.drop_table('session_device')
