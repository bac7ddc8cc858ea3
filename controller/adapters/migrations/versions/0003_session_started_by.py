"""session started_by

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26 10:12:41.300218
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op


revision: str = '0003'
down_revision: str | None = '0002'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Who started each session (the broker user of its request). Sessions from before are owned by
    # nobody (''): under the secure profile only an admin may end or read them.
    with op.batch_alter_table('session', schema=None) as batch_op:
        batch_op.add_column(sa.Column('started_by', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False,
                                      server_default=''))


def downgrade() -> None:
    with op.batch_alter_table('session', schema=None) as batch_op:
        batch_op.drop_column('started_by')
