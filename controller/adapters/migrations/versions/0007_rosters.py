"""rosters, the late rule, manual attendance marks

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02 04:40:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op


revision: str = '0007'
down_revision: str | None = '0006'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # A course's roster (who is enrolled, so the report lists those who never came) and its late
    # rule; a lecturer's manual marks (excused, or any override), every one kept with who and when.
    with op.batch_alter_table('course', schema=None) as batch_op:
        batch_op.add_column(sa.Column('late_after_s', sa.Float(), nullable=False, server_default='600'))
    op.create_table(
        'roster',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('course_code', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column('student_id', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column('email', sqlmodel.sql.sqltypes.AutoString(length=254), nullable=True),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('course_code', 'student_id', name='uq_roster_student'),
    )
    with op.batch_alter_table('roster', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_roster_course_code'), ['course_code'], unique=False)
    op.create_table(
        'attendance_mark',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('session_id', sa.Integer(), nullable=False),
        sa.Column('student_id', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column('note', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column('marked_by', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column('marked_at', sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint('id'),
    )
    with op.batch_alter_table('attendance_mark', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_attendance_mark_session_id'), ['session_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('attendance_mark', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_attendance_mark_session_id'))
    op.drop_table('attendance_mark')
    with op.batch_alter_table('roster', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_roster_course_code'))
    op.drop_table('roster')
    with op.batch_alter_table('course', schema=None) as batch_op:
        batch_op.drop_column('late_after_s')
