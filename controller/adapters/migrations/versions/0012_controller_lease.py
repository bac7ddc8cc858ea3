"""controller lease: the active/standby lease row (issue 17 part 4)

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-02 07:40:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op


revision: str = '0012'
down_revision: str | None = '0011'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Controllers in `--ha lease` mode compete for this row: its holder acts until `expires_at`
    # (renewed every few seconds); `term` counts the changes of holder. A row, not an advisory lock:
    # it works on SQLite too, outlives no connection it depends on, and shows who leads.
    op.create_table(
        'controller_lease',
        sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column('holder', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column('expires_at', sa.Float(), nullable=False),
        sa.Column('term', sa.BigInteger(), nullable=False),
        sa.Column('since', sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint('name'),
    )


def downgrade() -> None:
    op.drop_table('controller_lease')
