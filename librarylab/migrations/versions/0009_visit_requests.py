"""Visit requests, the marks of mail sent about a visit, the log of personal-data actions,
and the visit's wishes, contact language and post link.

Revision ID: 0009
Revises: 0008
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "personal_data_actions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("actor", sa.String(length=80), nullable=False),
        sa.Column("subject_digest", sa.String(length=64), nullable=False),
        sa.Column("records", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_personal_data_actions")),
    )
    with op.batch_alter_table("personal_data_actions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_personal_data_actions_at"), ["at"], unique=False)

    op.create_table(
        "visit_mails",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("visit_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("occasion", sa.String(length=40), nullable=False),
        sa.Column("mail_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["mail_id"],
            ["outbox_mails.id"],
            name=op.f("fk_visit_mails_mail_id_outbox_mails"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["visit_id"],
            ["visits.id"],
            name=op.f("fk_visit_mails_visit_id_visits"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_visit_mails")),
        sa.UniqueConstraint("visit_id", "kind", "occasion", name=op.f("uq_visit_mails_visit_id")),
    )
    with op.batch_alter_table("visit_mails", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_visit_mails_visit_id"), ["visit_id"], unique=False)

    op.create_table(
        "visit_requests",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column(
            "state",
            sa.Enum(
                "new",
                "confirmed",
                "accepted",
                "declined",
                "expired",
                name="requeststate",
                native_enum=False,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column("visit_id", sa.Integer(), nullable=True),
        sa.Column("library", sa.String(length=200), nullable=False),
        sa.Column("town", sa.String(length=120), nullable=False),
        sa.Column("contact_name", sa.String(length=200), nullable=False),
        sa.Column("contact_email", sa.String(length=320), nullable=False),
        sa.Column("participants", sa.Integer(), nullable=False),
        sa.Column("topics", sa.JSON(), nullable=False),
        sa.Column("wishes", sa.Text(), nullable=False, server_default=""),
        sa.Column("channels", sa.JSON(), nullable=False),
        sa.Column("language", sa.String(length=8), nullable=False),
        sa.Column("consent_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("opt_in_digest", sa.String(length=64), nullable=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("confirmed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("decided_by", sa.String(length=80), nullable=False),
        sa.Column("decline_message", sa.Text(), nullable=False),
        sa.Column("erased_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["visit_id"],
            ["visits.id"],
            name=op.f("fk_visit_requests_visit_id_visits"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_visit_requests")),
        sa.UniqueConstraint("opt_in_digest", name=op.f("uq_visit_requests_opt_in_digest")),
    )
    with op.batch_alter_table("visit_requests", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_visit_requests_contact_email"), ["contact_email"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_visit_requests_state"), ["state"], unique=False)
        batch_op.create_index(batch_op.f("ix_visit_requests_visit_id"), ["visit_id"], unique=False)

    with op.batch_alter_table("visits", schema=None) as batch_op:
        batch_op.add_column(sa.Column("wishes", sa.Text(), nullable=False, server_default=""))
        batch_op.add_column(
            sa.Column("contact_language", sa.String(length=8), nullable=False, server_default="de")
        )
        batch_op.add_column(sa.Column("post_link_nonce", sa.String(length=32), nullable=True))
        batch_op.add_column(
            sa.Column("contact_erased_at", sa.DateTime(timezone=True), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("visits", schema=None) as batch_op:
        batch_op.drop_column("contact_erased_at")
        batch_op.drop_column("post_link_nonce")
        batch_op.drop_column("contact_language")
        batch_op.drop_column("wishes")

    with op.batch_alter_table("visit_requests", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_visit_requests_visit_id"))
        batch_op.drop_index(batch_op.f("ix_visit_requests_state"))
        batch_op.drop_index(batch_op.f("ix_visit_requests_contact_email"))

    op.drop_table("visit_requests")
    with op.batch_alter_table("visit_mails", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_visit_mails_visit_id"))

    op.drop_table("visit_mails")
    with op.batch_alter_table("personal_data_actions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_personal_data_actions_at"))

    op.drop_table("personal_data_actions")
