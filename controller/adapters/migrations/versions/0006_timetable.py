"""timetable

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02 04:30:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op


revision: str = '0006'
down_revision: str | None = '0005'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # The timetable: one row per lecture (an occurrence of a timetabled series), which the
    # scheduler starts and ends sessions for.
    op.create_table(
        'lecture',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('uid', sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
        sa.Column('course_code', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column('title', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column('room', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column('lecturer', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column('academic_session', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column('semester', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column('starts_at', sa.BigInteger(), nullable=False),
        sa.Column('ends_at', sa.BigInteger(), nullable=False),
        sa.Column('session_id', sa.Integer(), nullable=True),
        sa.Column('state', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column('error', sqlmodel.sql.sqltypes.AutoString(length=128), nullable=True),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('uid', 'starts_at', name='uq_lecture_uid_start'),
    )
    with op.batch_alter_table('lecture', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_lecture_course_code'), ['course_code'], unique=False)
        batch_op.create_index(batch_op.f('ix_lecture_starts_at'), ['starts_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('lecture', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_lecture_starts_at'))
        batch_op.drop_index(batch_op.f('ix_lecture_course_code'))
    op.drop_table('lecture')
