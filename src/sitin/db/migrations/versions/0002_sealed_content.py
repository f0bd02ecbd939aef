"""captured content sealed: TEXT for sealed participant columns, keyed hash of the uuid

Sealed values are longer than the plaintext (nonce, tag, base64), so the columns that were
VARCHAR(255) become TEXT. Participants are found by ``uuid_hash`` instead of ``uuid``. Rows written
before this revision are sealed in place by ``sitin storage encrypt`` (run by every start).

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("participants") as batch_op:
        batch_op.add_column(sa.Column("uuid_hash", sa.String(length=64), nullable=True))
        batch_op.drop_constraint("uq_participants_bot_id_uuid", type_="unique")
        batch_op.create_unique_constraint(
            "uq_participants_bot_id_uuid_hash", ["bot_id", "uuid_hash"]
        )
        for column in ("uuid", "user_uuid", "name"):
            batch_op.alter_column(column, type_=sa.Text(), existing_type=sa.String(length=255))
    with op.batch_alter_table("bot_chat_message_requests") as batch_op:
        batch_op.alter_column("to_user_uuid", type_=sa.Text(), existing_type=sa.String(length=255))


def downgrade() -> None:
    with op.batch_alter_table("bot_chat_message_requests") as batch_op:
        batch_op.alter_column("to_user_uuid", type_=sa.String(length=255), existing_type=sa.Text())
    with op.batch_alter_table("participants") as batch_op:
        for column in ("uuid", "user_uuid", "name"):
            batch_op.alter_column(column, type_=sa.String(length=255), existing_type=sa.Text())
        batch_op.drop_constraint("uq_participants_bot_id_uuid_hash", type_="unique")
        batch_op.create_unique_constraint("uq_participants_bot_id_uuid", ["bot_id", "uuid"])
        batch_op.drop_column("uuid_hash")
