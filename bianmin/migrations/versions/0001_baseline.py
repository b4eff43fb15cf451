"""baseline: the schema create_all built before migrations

Exactly the tables, columns, keys and indexes of main before Alembic (cases, FAQ, accounts, handoff, audit).

Revision ID: 0001_baseline
Revises: 
Create Date: 2026-12-07 05:29:32.163031
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0001_baseline'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A database built by create_all before migrations existed already has some or all of these tables:
    # it is adopted, not recreated (only the tables it lacks are created, nothing is dropped or altered).
    existing = set(sa.inspect(op.get_bind()).get_table_names())
    if 'audit_log' not in existing:
        op.create_table('audit_log',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('actor', sa.String(length=64), nullable=False),
        sa.Column('action', sa.String(length=64), nullable=False),
        sa.Column('target', sa.String(length=128), nullable=False),
        sa.Column('detail', sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_log'))
        )
        with op.batch_alter_table('audit_log', schema=None) as batch_op:
            batch_op.create_index(batch_op.f('ix_audit_log_actor'), ['actor'], unique=False)
            batch_op.create_index(batch_op.f('ix_audit_log_at'), ['at'], unique=False)

    if 'faq_entries' not in existing:
        op.create_table('faq_entries',
        sa.Column('id', sa.String(length=64), nullable=False),
        sa.Column('question', sa.Text(), nullable=False),
        sa.Column('question_key', sa.String(length=255), nullable=False),
        sa.Column('similar', sa.JSON(), nullable=False),
        sa.Column('answer', sa.Text(), nullable=False),
        sa.Column('tags', sa.JSON(), nullable=False),
        sa.Column('department', sa.String(length=128), nullable=False),
        sa.Column('search_text', sa.Text(), nullable=False),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('valid_from', sa.Date(), nullable=True),
        sa.Column('valid_until', sa.Date(), nullable=True),
        sa.Column('version', sa.Integer(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('created_by', sa.String(length=64), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('updated_by', sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_faq_entries'))
        )
        with op.batch_alter_table('faq_entries', schema=None) as batch_op:
            batch_op.create_index(batch_op.f('ix_faq_entries_question_key'), ['question_key'], unique=False)
            batch_op.create_index(batch_op.f('ix_faq_entries_status'), ['status'], unique=False)

    if 'faq_feedback' not in existing:
        op.create_table('faq_feedback',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('faq_id', sa.String(length=64), nullable=False),
        sa.Column('helpful', sa.Boolean(), nullable=False),
        sa.Column('question', sa.Text(), nullable=False),
        sa.Column('sender', sa.String(length=64), nullable=False),
        sa.Column('at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_faq_feedback'))
        )
        with op.batch_alter_table('faq_feedback', schema=None) as batch_op:
            batch_op.create_index(batch_op.f('ix_faq_feedback_at'), ['at'], unique=False)
            batch_op.create_index(batch_op.f('ix_faq_feedback_faq_id'), ['faq_id'], unique=False)

    if 'faq_history' not in existing:
        op.create_table('faq_history',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('faq_id', sa.String(length=64), nullable=False),
        sa.Column('version', sa.Integer(), nullable=False),
        sa.Column('revision', sa.Integer(), nullable=False),
        sa.Column('at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('actor', sa.String(length=64), nullable=False),
        sa.Column('action', sa.String(length=32), nullable=False),
        sa.Column('changes', sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_faq_history'))
        )
        with op.batch_alter_table('faq_history', schema=None) as batch_op:
            batch_op.create_index(batch_op.f('ix_faq_history_faq_id'), ['faq_id'], unique=False)

    if 'faq_revision' not in existing:
        op.create_table('faq_revision',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('revision', sa.Integer(), nullable=False),
        sa.Column('changed_at', sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_faq_revision'))
        )
    if 'faq_unanswered' not in existing:
        op.create_table('faq_unanswered',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('question_key', sa.String(length=255), nullable=False),
        sa.Column('question', sa.Text(), nullable=False),
        sa.Column('count', sa.Integer(), nullable=False),
        sa.Column('first_seen', sa.DateTime(timezone=True), nullable=False),
        sa.Column('last_seen', sa.DateTime(timezone=True), nullable=False),
        sa.Column('last_sender', sa.String(length=64), nullable=False),
        sa.Column('last_sender_hash', sa.String(length=16), nullable=False),
        sa.Column('reason', sa.String(length=32), nullable=False),
        sa.Column('best_faq_id', sa.String(length=64), nullable=True),
        sa.Column('best_confidence', sa.Integer(), nullable=True),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('resolved_faq_id', sa.String(length=64), nullable=True),
        sa.Column('resolved_by', sa.String(length=64), nullable=True),
        sa.Column('resolved_at', sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_faq_unanswered')),
        sa.UniqueConstraint('question_key', name=op.f('uq_faq_unanswered_question_key'))
        )
        with op.batch_alter_table('faq_unanswered', schema=None) as batch_op:
            batch_op.create_index(batch_op.f('ix_faq_unanswered_last_seen'), ['last_seen'], unique=False)
            batch_op.create_index(batch_op.f('ix_faq_unanswered_status'), ['status'], unique=False)
            batch_op.create_index('ix_faq_unanswered_status_count', ['status', 'count'], unique=False)

    if 'handoff_sessions' not in existing:
        op.create_table('handoff_sessions',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('sender_id', sa.String(length=128), nullable=False),
        sa.Column('channel', sa.String(length=32), nullable=False),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('reason', sa.String(length=16), nullable=False),
        sa.Column('queued_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('claimed_by', sa.String(length=64), nullable=True),
        sa.Column('claimed_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('closed_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('closed_by', sa.String(length=64), nullable=True),
        sa.Column('outcome', sa.String(length=16), nullable=True),
        sa.Column('last_message', sa.String(length=200), nullable=True),
        sa.Column('last_message_at', sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_handoff_sessions'))
        )
        with op.batch_alter_table('handoff_sessions', schema=None) as batch_op:
            batch_op.create_index(batch_op.f('ix_handoff_sessions_sender_id'), ['sender_id'], unique=False)
            batch_op.create_index(batch_op.f('ix_handoff_sessions_status'), ['status'], unique=False)
            batch_op.create_index('uq_handoff_sessions_open_sender', ['sender_id'], unique=True, sqlite_where=sa.text("status != 'closed'"), postgresql_where=sa.text("status != 'closed'"))

    if 'staff_presence' not in existing:
        op.create_table('staff_presence',
        sa.Column('username', sa.String(length=64), nullable=False),
        sa.Column('instance', sa.String(length=64), nullable=False),
        sa.Column('last_seen', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('username', 'instance', name=op.f('pk_staff_presence'))
        )
        with op.batch_alter_table('staff_presence', schema=None) as batch_op:
            batch_op.create_index(batch_op.f('ix_staff_presence_last_seen'), ['last_seen'], unique=False)

    if 'staff_users' not in existing:
        op.create_table('staff_users',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('username', sa.String(length=64), nullable=False),
        sa.Column('display_name', sa.String(length=64), nullable=False),
        sa.Column('password_hash', sa.String(length=256), nullable=False),
        sa.Column('role', sa.String(length=16), nullable=False),
        sa.Column('active', sa.Boolean(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_staff_users')),
        sa.UniqueConstraint('username', name=op.f('uq_staff_users_username'))
        )
    if 'ticket_sequences' not in existing:
        op.create_table('ticket_sequences',
        sa.Column('prefix', sa.String(length=4), nullable=False),
        sa.Column('day', sa.String(length=8), nullable=False),
        sa.Column('last_value', sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint('prefix', 'day', name=op.f('pk_ticket_sequences'))
        )
    if 'tickets' not in existing:
        op.create_table('tickets',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('number', sa.String(length=32), nullable=False),
        sa.Column('type', sa.String(length=16), nullable=False),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('sender_id', sa.String(length=128), nullable=False),
        sa.Column('channel', sa.String(length=32), nullable=False),
        sa.Column('fields', sa.JSON(), nullable=False),
        sa.Column('anonymous', sa.Boolean(), nullable=False),
        sa.Column('query_code', sa.String(length=16), nullable=True),
        sa.Column('contact_phone', sa.String(length=20), nullable=True),
        sa.Column('id_last4', sa.String(length=4), nullable=True),
        sa.Column('category', sa.String(length=64), nullable=True),
        sa.Column('subcategory', sa.String(length=64), nullable=True),
        sa.Column('department', sa.String(length=128), nullable=True),
        sa.Column('deadlines', sa.JSON(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('rating', sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_tickets')),
        sa.UniqueConstraint('number', name=op.f('uq_tickets_number')),
        sa.UniqueConstraint('query_code', name=op.f('uq_tickets_query_code'))
        )
        with op.batch_alter_table('tickets', schema=None) as batch_op:
            batch_op.create_index(batch_op.f('ix_tickets_contact_phone'), ['contact_phone'], unique=False)
            batch_op.create_index(batch_op.f('ix_tickets_created_at'), ['created_at'], unique=False)
            batch_op.create_index(batch_op.f('ix_tickets_sender_id'), ['sender_id'], unique=False)
            batch_op.create_index('ix_tickets_status_type', ['status', 'type'], unique=False)

    if 'staff_sessions' not in existing:
        op.create_table('staff_sessions',
        sa.Column('token_hash', sa.String(length=64), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['user_id'], ['staff_users.id'], name=op.f('fk_staff_sessions_user_id_staff_users'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('token_hash', name=op.f('pk_staff_sessions'))
        )
        with op.batch_alter_table('staff_sessions', schema=None) as batch_op:
            batch_op.create_index(batch_op.f('ix_staff_sessions_user_id'), ['user_id'], unique=False)

    if 'submission_keys' not in existing:
        op.create_table('submission_keys',
        sa.Column('key', sa.String(length=128), nullable=False),
        sa.Column('ticket_number', sa.String(length=32), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['ticket_number'], ['tickets.number'], name=op.f('fk_submission_keys_ticket_number_tickets'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('key', name=op.f('pk_submission_keys'))
        )
    if 'ticket_events' not in existing:
        op.create_table('ticket_events',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('ticket_number', sa.String(length=32), nullable=False),
        sa.Column('at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('actor', sa.String(length=64), nullable=False),
        sa.Column('note', sa.String(length=2000), nullable=False),
        sa.Column('request_key', sa.String(length=128), nullable=True),
        sa.ForeignKeyConstraint(['ticket_number'], ['tickets.number'], name=op.f('fk_ticket_events_ticket_number_tickets'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_ticket_events')),
        sa.UniqueConstraint('request_key', name=op.f('uq_ticket_events_request_key'))
        )
        with op.batch_alter_table('ticket_events', schema=None) as batch_op:
            batch_op.create_index(batch_op.f('ix_ticket_events_ticket_number'), ['ticket_number'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('ticket_events', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_ticket_events_ticket_number'))

    op.drop_table('ticket_events')
    op.drop_table('submission_keys')
    with op.batch_alter_table('staff_sessions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_staff_sessions_user_id'))

    op.drop_table('staff_sessions')
    with op.batch_alter_table('tickets', schema=None) as batch_op:
        batch_op.drop_index('ix_tickets_status_type')
        batch_op.drop_index(batch_op.f('ix_tickets_sender_id'))
        batch_op.drop_index(batch_op.f('ix_tickets_created_at'))
        batch_op.drop_index(batch_op.f('ix_tickets_contact_phone'))

    op.drop_table('tickets')
    op.drop_table('ticket_sequences')
    op.drop_table('staff_users')
    with op.batch_alter_table('staff_presence', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_staff_presence_last_seen'))

    op.drop_table('staff_presence')
    with op.batch_alter_table('handoff_sessions', schema=None) as batch_op:
        batch_op.drop_index('uq_handoff_sessions_open_sender', sqlite_where=sa.text("status != 'closed'"), postgresql_where=sa.text("status != 'closed'"))
        batch_op.drop_index(batch_op.f('ix_handoff_sessions_status'))
        batch_op.drop_index(batch_op.f('ix_handoff_sessions_sender_id'))

    op.drop_table('handoff_sessions')
    with op.batch_alter_table('faq_unanswered', schema=None) as batch_op:
        batch_op.drop_index('ix_faq_unanswered_status_count')
        batch_op.drop_index(batch_op.f('ix_faq_unanswered_status'))
        batch_op.drop_index(batch_op.f('ix_faq_unanswered_last_seen'))

    op.drop_table('faq_unanswered')
    op.drop_table('faq_revision')
    with op.batch_alter_table('faq_history', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_faq_history_faq_id'))

    op.drop_table('faq_history')
    with op.batch_alter_table('faq_feedback', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_faq_feedback_faq_id'))
        batch_op.drop_index(batch_op.f('ix_faq_feedback_at'))

    op.drop_table('faq_feedback')
    with op.batch_alter_table('faq_entries', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_faq_entries_status'))
        batch_op.drop_index(batch_op.f('ix_faq_entries_question_key'))

    op.drop_table('faq_entries')
    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_audit_log_at'))
        batch_op.drop_index(batch_op.f('ix_audit_log_actor'))

    op.drop_table('audit_log')
