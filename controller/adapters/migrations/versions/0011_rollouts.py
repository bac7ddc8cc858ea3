"""rollouts: firmware rollouts and their devices (issue 16 part 3)

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02 07:40:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op


revision: str = '0011'
down_revision: str | None = '0010'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # A rollout and one row per device it targets: the state machine (core.rollout) reads and writes
    # only these, under a row lock on the rollout, so it survives restarts and several controllers.
    op.create_table(
        'rollout',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('version', sqlmodel.sql.sqltypes.AutoString(length=31), nullable=False),
        sa.Column('target', sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
        sa.Column('canary', sa.Float(), nullable=False),
        sa.Column('rate_per_min', sa.Float(), nullable=False),
        sa.Column('max_failures', sa.Float(), nullable=False),
        sa.Column('min_sample', sa.Integer(), nullable=False),
        sa.Column('allow_downgrade', sa.Boolean(), nullable=False),
        sa.Column('state', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column('reason', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column('created_by', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column('created_at', sa.Float(), nullable=False),
        sa.Column('updated_at', sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint('id'),
    )
    with op.batch_alter_table('rollout', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_rollout_state'), ['state'], unique=False)
    op.create_table(
        'rollout_device',
        sa.Column('rollout_id', sa.Integer(), nullable=False),
        sa.Column('device_id', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column('wave', sa.Integer(), nullable=False),
        sa.Column('state', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.Column('changed_at', sa.Float(), nullable=False),
        sa.Column('commanded_at', sa.Float(), nullable=True),
        sa.Column('percent', sa.Integer(), nullable=True),
        sa.Column('reason', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.PrimaryKeyConstraint('rollout_id', 'device_id'),
    )
    with op.batch_alter_table('rollout_device', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_rollout_device_device_id'), ['device_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('rollout_device', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_rollout_device_device_id'))
    op.drop_table('rollout_device')
    with op.batch_alter_table('rollout', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_rollout_state'))
    op.drop_table('rollout')
