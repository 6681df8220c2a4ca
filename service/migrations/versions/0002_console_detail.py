"""scored_message.detail (evidence offsets, actions, history at scoring time) and
scored_message.quoted (demands / targets, which quote the customer: kept and cleared with the text),
for the agent console; an index on level for the queue filter

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29
"""
import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("scored_message") as batch:
        batch.add_column(sa.Column("detail", sa.JSON))
        batch.add_column(sa.Column("quoted", sa.JSON))
    op.create_index("ix_scored_message_level", "scored_message", ["level"])


def downgrade() -> None:
    op.drop_index("ix_scored_message_level", "scored_message")
    with op.batch_alter_table("scored_message") as batch:
        batch.drop_column("quoted")
        batch.drop_column("detail")
