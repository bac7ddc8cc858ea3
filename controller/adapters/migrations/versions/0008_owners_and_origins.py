"""course owners, session origins, partial indexes for the schedule

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02 05:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op


revision: str = '0008'
down_revision: str | None = '0007'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_WAITING = "state IN ('scheduled', 'no_device')"


def upgrade() -> None:
    # A course's owner is the broker user who teaches it, set by an admin: only they (and admins)
    # manage its roster, settings and report, and the timetable starts its sessions in their name.
    # Ownership used to follow whoever had started a session of the course, which anyone could.
    with op.batch_alter_table('course', schema=None) as batch_op:
        batch_op.add_column(sa.Column('owner', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False,
                                      server_default=''))
    # How a session started: 'manual' (a request) or 'timetable' (the scheduler), apart from who owns it.
    with op.batch_alter_table('session', schema=None) as batch_op:
        batch_op.add_column(sa.Column('origin', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False,
                                      server_default='manual'))
        batch_op.drop_index('ix_session_ends_at')
    op.execute("UPDATE session SET origin = 'timetable' WHERE started_by = 'timetable'")
    # The schedule's queries every few seconds look at running sessions and waiting or started
    # lectures only: partial indexes keep them from walking every past session and lecture.
    op.create_index('ix_session_active_ends', 'session', ['ends_at'], sqlite_where=sa.text('active'),
                    postgresql_where=sa.text('active'))
    op.create_index('ix_lecture_waiting', 'lecture', ['starts_at'], sqlite_where=sa.text(_WAITING),
                    postgresql_where=sa.text(_WAITING))
    op.create_index('ix_lecture_started', 'lecture', ['session_id'], sqlite_where=sa.text("state = 'started'"),
                    postgresql_where=sa.text("state = 'started'"))


def downgrade() -> None:
    op.drop_index('ix_lecture_started', table_name='lecture')
    op.drop_index('ix_lecture_waiting', table_name='lecture')
    op.drop_index('ix_session_active_ends', table_name='session')
    with op.batch_alter_table('session', schema=None) as batch_op:
        batch_op.create_index('ix_session_ends_at', ['ends_at'], unique=False)
        batch_op.drop_column('origin')
    with op.batch_alter_table('course', schema=None) as batch_op:
        batch_op.drop_column('owner')
