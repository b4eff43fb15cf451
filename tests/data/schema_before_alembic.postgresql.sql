-- The PostgreSQL schema create_all built on main at 2a41be0 (before Alembic): pg_dump --schema-only --no-owner --no-privileges.


CREATE TABLE audit_log (
    id integer NOT NULL,
    at timestamp with time zone NOT NULL,
    actor character varying(64) NOT NULL,
    action character varying(64) NOT NULL,
    target character varying(128) NOT NULL,
    detail json NOT NULL
);

CREATE SEQUENCE audit_log_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

ALTER SEQUENCE audit_log_id_seq OWNED BY audit_log.id;

CREATE TABLE faq_entries (
    id character varying(64) NOT NULL,
    question text NOT NULL,
    question_key character varying(255) NOT NULL,
    "similar" json NOT NULL,
    answer text NOT NULL,
    tags json NOT NULL,
    department character varying(128) NOT NULL,
    search_text text NOT NULL,
    status character varying(16) NOT NULL,
    valid_from date,
    valid_until date,
    version integer NOT NULL,
    created_at timestamp with time zone NOT NULL,
    created_by character varying(64) NOT NULL,
    updated_at timestamp with time zone NOT NULL,
    updated_by character varying(64) NOT NULL
);

CREATE TABLE faq_feedback (
    id integer NOT NULL,
    faq_id character varying(64) NOT NULL,
    helpful boolean NOT NULL,
    question text NOT NULL,
    sender character varying(64) NOT NULL,
    at timestamp with time zone NOT NULL
);

CREATE SEQUENCE faq_feedback_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

ALTER SEQUENCE faq_feedback_id_seq OWNED BY faq_feedback.id;

CREATE TABLE faq_history (
    id integer NOT NULL,
    faq_id character varying(64) NOT NULL,
    version integer NOT NULL,
    revision integer NOT NULL,
    at timestamp with time zone NOT NULL,
    actor character varying(64) NOT NULL,
    action character varying(32) NOT NULL,
    changes json NOT NULL
);

CREATE SEQUENCE faq_history_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

ALTER SEQUENCE faq_history_id_seq OWNED BY faq_history.id;

CREATE TABLE faq_revision (
    id integer NOT NULL,
    revision integer NOT NULL,
    changed_at timestamp with time zone
);

CREATE SEQUENCE faq_revision_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

ALTER SEQUENCE faq_revision_id_seq OWNED BY faq_revision.id;

CREATE TABLE faq_unanswered (
    id integer NOT NULL,
    question_key character varying(255) NOT NULL,
    question text NOT NULL,
    count integer NOT NULL,
    first_seen timestamp with time zone NOT NULL,
    last_seen timestamp with time zone NOT NULL,
    last_sender character varying(64) NOT NULL,
    last_sender_hash character varying(16) NOT NULL,
    reason character varying(32) NOT NULL,
    best_faq_id character varying(64),
    best_confidence integer,
    status character varying(16) NOT NULL,
    resolved_faq_id character varying(64),
    resolved_by character varying(64),
    resolved_at timestamp with time zone
);

CREATE SEQUENCE faq_unanswered_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

ALTER SEQUENCE faq_unanswered_id_seq OWNED BY faq_unanswered.id;

CREATE TABLE handoff_sessions (
    id integer NOT NULL,
    sender_id character varying(128) NOT NULL,
    channel character varying(32) NOT NULL,
    status character varying(16) NOT NULL,
    reason character varying(16) NOT NULL,
    queued_at timestamp with time zone NOT NULL,
    claimed_by character varying(64),
    claimed_at timestamp with time zone,
    closed_at timestamp with time zone,
    closed_by character varying(64),
    outcome character varying(16),
    last_message character varying(200),
    last_message_at timestamp with time zone
);

CREATE SEQUENCE handoff_sessions_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

ALTER SEQUENCE handoff_sessions_id_seq OWNED BY handoff_sessions.id;

CREATE TABLE staff_presence (
    username character varying(64) NOT NULL,
    instance character varying(64) NOT NULL,
    last_seen timestamp with time zone NOT NULL
);

CREATE TABLE staff_sessions (
    token_hash character varying(64) NOT NULL,
    user_id integer NOT NULL,
    created_at timestamp with time zone NOT NULL,
    expires_at timestamp with time zone NOT NULL
);

CREATE TABLE staff_users (
    id integer NOT NULL,
    username character varying(64) NOT NULL,
    display_name character varying(64) NOT NULL,
    password_hash character varying(256) NOT NULL,
    role character varying(16) NOT NULL,
    active boolean NOT NULL,
    created_at timestamp with time zone NOT NULL
);

CREATE SEQUENCE staff_users_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

ALTER SEQUENCE staff_users_id_seq OWNED BY staff_users.id;

CREATE TABLE submission_keys (
    key character varying(128) NOT NULL,
    ticket_number character varying(32) NOT NULL,
    created_at timestamp with time zone NOT NULL
);

CREATE TABLE ticket_events (
    id integer NOT NULL,
    ticket_number character varying(32) NOT NULL,
    at timestamp with time zone NOT NULL,
    status character varying(16) NOT NULL,
    actor character varying(64) NOT NULL,
    note character varying(2000) NOT NULL,
    request_key character varying(128)
);

CREATE SEQUENCE ticket_events_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

ALTER SEQUENCE ticket_events_id_seq OWNED BY ticket_events.id;

CREATE TABLE ticket_sequences (
    prefix character varying(4) NOT NULL,
    day character varying(8) NOT NULL,
    last_value integer NOT NULL
);

CREATE TABLE tickets (
    id integer NOT NULL,
    number character varying(32) NOT NULL,
    type character varying(16) NOT NULL,
    status character varying(16) NOT NULL,
    sender_id character varying(128) NOT NULL,
    channel character varying(32) NOT NULL,
    fields json NOT NULL,
    anonymous boolean NOT NULL,
    query_code character varying(16),
    contact_phone character varying(20),
    id_last4 character varying(4),
    category character varying(64),
    subcategory character varying(64),
    department character varying(128),
    deadlines json NOT NULL,
    created_at timestamp with time zone NOT NULL,
    updated_at timestamp with time zone NOT NULL,
    rating integer
);

CREATE SEQUENCE tickets_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

ALTER SEQUENCE tickets_id_seq OWNED BY tickets.id;

ALTER TABLE ONLY audit_log ALTER COLUMN id SET DEFAULT nextval('audit_log_id_seq'::regclass);

ALTER TABLE ONLY faq_feedback ALTER COLUMN id SET DEFAULT nextval('faq_feedback_id_seq'::regclass);

ALTER TABLE ONLY faq_history ALTER COLUMN id SET DEFAULT nextval('faq_history_id_seq'::regclass);

ALTER TABLE ONLY faq_revision ALTER COLUMN id SET DEFAULT nextval('faq_revision_id_seq'::regclass);

ALTER TABLE ONLY faq_unanswered ALTER COLUMN id SET DEFAULT nextval('faq_unanswered_id_seq'::regclass);

ALTER TABLE ONLY handoff_sessions ALTER COLUMN id SET DEFAULT nextval('handoff_sessions_id_seq'::regclass);

ALTER TABLE ONLY staff_users ALTER COLUMN id SET DEFAULT nextval('staff_users_id_seq'::regclass);

ALTER TABLE ONLY ticket_events ALTER COLUMN id SET DEFAULT nextval('ticket_events_id_seq'::regclass);

ALTER TABLE ONLY tickets ALTER COLUMN id SET DEFAULT nextval('tickets_id_seq'::regclass);

ALTER TABLE ONLY audit_log
    ADD CONSTRAINT pk_audit_log PRIMARY KEY (id);

ALTER TABLE ONLY faq_entries
    ADD CONSTRAINT pk_faq_entries PRIMARY KEY (id);

ALTER TABLE ONLY faq_feedback
    ADD CONSTRAINT pk_faq_feedback PRIMARY KEY (id);

ALTER TABLE ONLY faq_history
    ADD CONSTRAINT pk_faq_history PRIMARY KEY (id);

ALTER TABLE ONLY faq_revision
    ADD CONSTRAINT pk_faq_revision PRIMARY KEY (id);

ALTER TABLE ONLY faq_unanswered
    ADD CONSTRAINT pk_faq_unanswered PRIMARY KEY (id);

ALTER TABLE ONLY handoff_sessions
    ADD CONSTRAINT pk_handoff_sessions PRIMARY KEY (id);

ALTER TABLE ONLY staff_presence
    ADD CONSTRAINT pk_staff_presence PRIMARY KEY (username, instance);

ALTER TABLE ONLY staff_sessions
    ADD CONSTRAINT pk_staff_sessions PRIMARY KEY (token_hash);

ALTER TABLE ONLY staff_users
    ADD CONSTRAINT pk_staff_users PRIMARY KEY (id);

ALTER TABLE ONLY submission_keys
    ADD CONSTRAINT pk_submission_keys PRIMARY KEY (key);

ALTER TABLE ONLY ticket_events
    ADD CONSTRAINT pk_ticket_events PRIMARY KEY (id);

ALTER TABLE ONLY ticket_sequences
    ADD CONSTRAINT pk_ticket_sequences PRIMARY KEY (prefix, day);

ALTER TABLE ONLY tickets
    ADD CONSTRAINT pk_tickets PRIMARY KEY (id);

ALTER TABLE ONLY faq_unanswered
    ADD CONSTRAINT uq_faq_unanswered_question_key UNIQUE (question_key);

ALTER TABLE ONLY staff_users
    ADD CONSTRAINT uq_staff_users_username UNIQUE (username);

ALTER TABLE ONLY ticket_events
    ADD CONSTRAINT uq_ticket_events_request_key UNIQUE (request_key);

ALTER TABLE ONLY tickets
    ADD CONSTRAINT uq_tickets_number UNIQUE (number);

ALTER TABLE ONLY tickets
    ADD CONSTRAINT uq_tickets_query_code UNIQUE (query_code);

CREATE INDEX ix_audit_log_actor ON audit_log USING btree (actor);

CREATE INDEX ix_audit_log_at ON audit_log USING btree (at);

CREATE INDEX ix_faq_entries_question_key ON faq_entries USING btree (question_key);

CREATE INDEX ix_faq_entries_status ON faq_entries USING btree (status);

CREATE INDEX ix_faq_feedback_at ON faq_feedback USING btree (at);

CREATE INDEX ix_faq_feedback_faq_id ON faq_feedback USING btree (faq_id);

CREATE INDEX ix_faq_history_faq_id ON faq_history USING btree (faq_id);

CREATE INDEX ix_faq_unanswered_last_seen ON faq_unanswered USING btree (last_seen);

CREATE INDEX ix_faq_unanswered_status ON faq_unanswered USING btree (status);

CREATE INDEX ix_faq_unanswered_status_count ON faq_unanswered USING btree (status, count);

CREATE INDEX ix_handoff_sessions_sender_id ON handoff_sessions USING btree (sender_id);

CREATE INDEX ix_handoff_sessions_status ON handoff_sessions USING btree (status);

CREATE INDEX ix_staff_presence_last_seen ON staff_presence USING btree (last_seen);

CREATE INDEX ix_staff_sessions_user_id ON staff_sessions USING btree (user_id);

CREATE INDEX ix_ticket_events_ticket_number ON ticket_events USING btree (ticket_number);

CREATE INDEX ix_tickets_contact_phone ON tickets USING btree (contact_phone);

CREATE INDEX ix_tickets_created_at ON tickets USING btree (created_at);

CREATE INDEX ix_tickets_sender_id ON tickets USING btree (sender_id);

CREATE INDEX ix_tickets_status_type ON tickets USING btree (status, type);

CREATE UNIQUE INDEX uq_handoff_sessions_open_sender ON handoff_sessions USING btree (sender_id) WHERE ((status)::text <> 'closed'::text);

ALTER TABLE ONLY staff_sessions
    ADD CONSTRAINT fk_staff_sessions_user_id_staff_users FOREIGN KEY (user_id) REFERENCES staff_users(id) ON DELETE CASCADE;

ALTER TABLE ONLY submission_keys
    ADD CONSTRAINT fk_submission_keys_ticket_number_tickets FOREIGN KEY (ticket_number) REFERENCES tickets(number) ON DELETE CASCADE;

ALTER TABLE ONLY ticket_events
    ADD CONSTRAINT fk_ticket_events_ticket_number_tickets FOREIGN KEY (ticket_number) REFERENCES tickets(number) ON DELETE CASCADE;


