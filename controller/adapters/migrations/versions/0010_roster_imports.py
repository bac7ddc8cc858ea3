"""roster imports

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02 06:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op


revision: str = '0010'
down_revision: str | None = '0009'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # The import that last wrote each roster row: a replacing import of several requests tags the rows
    # it writes and, with its last request, removes the course's other rows, so a failed import never
    # leaves the roster short of anyone (it used to clear the roster with its first request).
    with op.batch_alter_table('roster', schema=None) as batch_op:
        batch_op.add_column(sa.Column('import_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('roster', schema=None) as batch_op:
        batch_op.drop_column('import_id')
