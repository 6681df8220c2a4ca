"""initial tables: scored_message, feedback, audit_event

Revision ID: 0001
Revises:
Create Date: 2026-11-29
"""
import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "scored_message",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("message_key", sa.String(64)),
        sa.Column("ticket_id", sa.String(200)),
        sa.Column("customer_key", sa.String(64)),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("scored_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("harassment", sa.Boolean, nullable=False),
        sa.Column("risk", sa.Float, nullable=False),
        sa.Column("level", sa.String(16), nullable=False),
        sa.Column("labels", sa.JSON, nullable=False),
        sa.Column("scores", sa.JSON, nullable=False),
        sa.Column("model_version", sa.String(64), nullable=False),
        sa.Column("text", sa.Text),
        sa.Column("text_expires_at", sa.DateTime(timezone=True)),
    )
    op.create_index("ix_scored_message_message_key", "scored_message", ["message_key"])
    op.create_index("ix_scored_message_ticket_id", "scored_message", ["ticket_id"])
    op.create_index("ix_scored_message_customer_key", "scored_message", ["customer_key"])
    op.create_index("ix_scored_message_received_at", "scored_message", ["received_at"])
    op.create_table(
        "feedback",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("ticket_id", sa.String(200)),
        sa.Column("message_key", sa.String(64)),
        sa.Column("labels", sa.JSON, nullable=False),
        sa.Column("harassment", sa.Boolean, nullable=False),
        sa.Column("annotator", sa.String(200)),
        sa.Column("comment", sa.Text),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_feedback_ticket_id", "feedback", ["ticket_id"])
    op.create_index("ix_feedback_message_key", "feedback", ["message_key"])
    op.create_table(
        "audit_event",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("action", sa.String(40), nullable=False),
        sa.Column("ticket_id", sa.String(200)),
        sa.Column("message_key", sa.String(64)),
        sa.Column("detail", sa.JSON, nullable=False),
    )
    op.create_index("ix_audit_event_at", "audit_event", ["at"])


def downgrade() -> None:
    op.drop_table("audit_event")
    op.drop_table("feedback")
    op.drop_table("scored_message")
