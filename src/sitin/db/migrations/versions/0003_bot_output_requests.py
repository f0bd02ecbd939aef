"""bot_output_requests: audio and speech waiting for the bot to play them

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "bot_output_requests",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("bot_id", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("container", sa.String(length=16), nullable=True),
        sa.Column("data", sa.LargeBinary(), nullable=True),
        sa.Column("text", sa.Text(), nullable=True),
        sa.Column(
            "settings",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["bot_id"],
            ["bots.id"],
            name=op.f("fk_bot_output_requests_bot_id_bots"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bot_output_requests")),
    )
    with op.batch_alter_table("bot_output_requests", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_bot_output_requests_bot_id_id"), ["bot_id", "id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("bot_output_requests", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_bot_output_requests_bot_id_id"))
    op.drop_table("bot_output_requests")
