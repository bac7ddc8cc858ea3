"""firmware images: the records of signed images (issue 16 part 1)

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02 04:50:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op


revision: str = '0009'
down_revision: str | None = '0008'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # One row per version: the image's SHA-256 (its file <sha256>.bin in the images directory), size,
    # the fleet key's signature and notes. Kept in the database so every controller lists the same.
    op.create_table(
        'firmware_image',
        sa.Column('version', sqlmodel.sql.sqltypes.AutoString(length=31), nullable=False),
        sa.Column('sha256', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column('size', sa.BigInteger(), nullable=False),
        sa.Column('signature', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column('notes', sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
        sa.Column('added_at', sa.Float(), nullable=False),
        sa.Column('added_by', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.PrimaryKeyConstraint('version'),
    )
    with op.batch_alter_table('firmware_image', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_firmware_image_sha256'), ['sha256'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('firmware_image', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_firmware_image_sha256'))
    op.drop_table('firmware_image')
