"""feedback.scored_message_id: the scored message (the store's row, as the console API names it)
a verdict is about, so feedback on one message of a ticket is not shown on, nor imported for, the
ticket's other messages; NULL for older feedback, which keeps matching by ticket / message id

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29
"""
import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("feedback") as batch:
        batch.add_column(sa.Column("scored_message_id", sa.Integer))
    op.create_index("ix_feedback_scored_message_id", "feedback", ["scored_message_id"])


def downgrade() -> None:
    op.drop_index("ix_feedback_scored_message_id", "feedback")
    with op.batch_alter_table("feedback") as batch:
        batch.drop_column("scored_message_id")
