-- The SQLite schema create_all built on main at 2a41be0 (before Alembic), dumped from sqlite_master.
CREATE TABLE audit_log (
	id INTEGER NOT NULL, 
	at DATETIME NOT NULL, 
	actor VARCHAR(64) NOT NULL, 
	action VARCHAR(64) NOT NULL, 
	target VARCHAR(128) NOT NULL, 
	detail JSON NOT NULL, 
	CONSTRAINT pk_audit_log PRIMARY KEY (id)
);
CREATE TABLE staff_users (
	id INTEGER NOT NULL, 
	username VARCHAR(64) NOT NULL, 
	display_name VARCHAR(64) NOT NULL, 
	password_hash VARCHAR(256) NOT NULL, 
	role VARCHAR(16) NOT NULL, 
	active BOOLEAN NOT NULL, 
	created_at DATETIME NOT NULL, 
	CONSTRAINT pk_staff_users PRIMARY KEY (id), 
	CONSTRAINT uq_staff_users_username UNIQUE (username)
);
CREATE TABLE tickets (
	id INTEGER NOT NULL, 
	number VARCHAR(32) NOT NULL, 
	type VARCHAR(16) NOT NULL, 
	status VARCHAR(16) NOT NULL, 
	sender_id VARCHAR(128) NOT NULL, 
	channel VARCHAR(32) NOT NULL, 
	fields JSON NOT NULL, 
	anonymous BOOLEAN NOT NULL, 
	query_code VARCHAR(16), 
	contact_phone VARCHAR(20), 
	id_last4 VARCHAR(4), 
	category VARCHAR(64), 
	subcategory VARCHAR(64), 
	department VARCHAR(128), 
	deadlines JSON NOT NULL, 
	created_at DATETIME NOT NULL, 
	updated_at DATETIME NOT NULL, 
	rating INTEGER, 
	CONSTRAINT pk_tickets PRIMARY KEY (id), 
	CONSTRAINT uq_tickets_number UNIQUE (number), 
	CONSTRAINT uq_tickets_query_code UNIQUE (query_code)
);
CREATE TABLE ticket_sequences (
	prefix VARCHAR(4) NOT NULL, 
	day VARCHAR(8) NOT NULL, 
	last_value INTEGER NOT NULL, 
	CONSTRAINT pk_ticket_sequences PRIMARY KEY (prefix, day)
);
CREATE TABLE faq_entries (
	id VARCHAR(64) NOT NULL, 
	question TEXT NOT NULL, 
	question_key VARCHAR(255) NOT NULL, 
	similar JSON NOT NULL, 
	answer TEXT NOT NULL, 
	tags JSON NOT NULL, 
	department VARCHAR(128) NOT NULL, 
	search_text TEXT NOT NULL, 
	status VARCHAR(16) NOT NULL, 
	valid_from DATE, 
	valid_until DATE, 
	version INTEGER NOT NULL, 
	created_at DATETIME NOT NULL, 
	created_by VARCHAR(64) NOT NULL, 
	updated_at DATETIME NOT NULL, 
	updated_by VARCHAR(64) NOT NULL, 
	CONSTRAINT pk_faq_entries PRIMARY KEY (id)
);
CREATE TABLE faq_history (
	id INTEGER NOT NULL, 
	faq_id VARCHAR(64) NOT NULL, 
	version INTEGER NOT NULL, 
	revision INTEGER NOT NULL, 
	at DATETIME NOT NULL, 
	actor VARCHAR(64) NOT NULL, 
	action VARCHAR(32) NOT NULL, 
	changes JSON NOT NULL, 
	CONSTRAINT pk_faq_history PRIMARY KEY (id)
);
CREATE TABLE faq_revision (
	id INTEGER NOT NULL, 
	revision INTEGER NOT NULL, 
	changed_at DATETIME, 
	CONSTRAINT pk_faq_revision PRIMARY KEY (id)
);
CREATE TABLE faq_feedback (
	id INTEGER NOT NULL, 
	faq_id VARCHAR(64) NOT NULL, 
	helpful BOOLEAN NOT NULL, 
	question TEXT NOT NULL, 
	sender VARCHAR(64) NOT NULL, 
	at DATETIME NOT NULL, 
	CONSTRAINT pk_faq_feedback PRIMARY KEY (id)
);
CREATE TABLE faq_unanswered (
	id INTEGER NOT NULL, 
	question_key VARCHAR(255) NOT NULL, 
	question TEXT NOT NULL, 
	count INTEGER NOT NULL, 
	first_seen DATETIME NOT NULL, 
	last_seen DATETIME NOT NULL, 
	last_sender VARCHAR(64) NOT NULL, 
	last_sender_hash VARCHAR(16) NOT NULL, 
	reason VARCHAR(32) NOT NULL, 
	best_faq_id VARCHAR(64), 
	best_confidence INTEGER, 
	status VARCHAR(16) NOT NULL, 
	resolved_faq_id VARCHAR(64), 
	resolved_by VARCHAR(64), 
	resolved_at DATETIME, 
	CONSTRAINT pk_faq_unanswered PRIMARY KEY (id), 
	CONSTRAINT uq_faq_unanswered_question_key UNIQUE (question_key)
);
CREATE TABLE handoff_sessions (
	id INTEGER NOT NULL, 
	sender_id VARCHAR(128) NOT NULL, 
	channel VARCHAR(32) NOT NULL, 
	status VARCHAR(16) NOT NULL, 
	reason VARCHAR(16) NOT NULL, 
	queued_at DATETIME NOT NULL, 
	claimed_by VARCHAR(64), 
	claimed_at DATETIME, 
	closed_at DATETIME, 
	closed_by VARCHAR(64), 
	outcome VARCHAR(16), 
	last_message VARCHAR(200), 
	last_message_at DATETIME, 
	CONSTRAINT pk_handoff_sessions PRIMARY KEY (id)
);
CREATE TABLE staff_presence (
	username VARCHAR(64) NOT NULL, 
	instance VARCHAR(64) NOT NULL, 
	last_seen DATETIME NOT NULL, 
	CONSTRAINT pk_staff_presence PRIMARY KEY (username, instance)
);
CREATE TABLE staff_sessions (
	token_hash VARCHAR(64) NOT NULL, 
	user_id INTEGER NOT NULL, 
	created_at DATETIME NOT NULL, 
	expires_at DATETIME NOT NULL, 
	CONSTRAINT pk_staff_sessions PRIMARY KEY (token_hash), 
	CONSTRAINT fk_staff_sessions_user_id_staff_users FOREIGN KEY(user_id) REFERENCES staff_users (id) ON DELETE CASCADE
);
CREATE TABLE ticket_events (
	id INTEGER NOT NULL, 
	ticket_number VARCHAR(32) NOT NULL, 
	at DATETIME NOT NULL, 
	status VARCHAR(16) NOT NULL, 
	actor VARCHAR(64) NOT NULL, 
	note VARCHAR(2000) NOT NULL, 
	request_key VARCHAR(128), 
	CONSTRAINT pk_ticket_events PRIMARY KEY (id), 
	CONSTRAINT fk_ticket_events_ticket_number_tickets FOREIGN KEY(ticket_number) REFERENCES tickets (number) ON DELETE CASCADE, 
	CONSTRAINT uq_ticket_events_request_key UNIQUE (request_key)
);
CREATE TABLE submission_keys (
	"key" VARCHAR(128) NOT NULL, 
	ticket_number VARCHAR(32) NOT NULL, 
	created_at DATETIME NOT NULL, 
	CONSTRAINT pk_submission_keys PRIMARY KEY ("key"), 
	CONSTRAINT fk_submission_keys_ticket_number_tickets FOREIGN KEY(ticket_number) REFERENCES tickets (number) ON DELETE CASCADE
);
CREATE INDEX ix_audit_log_actor ON audit_log (actor);
CREATE INDEX ix_audit_log_at ON audit_log (at);
CREATE INDEX ix_tickets_created_at ON tickets (created_at);
CREATE INDEX ix_tickets_sender_id ON tickets (sender_id);
CREATE INDEX ix_tickets_status_type ON tickets (status, type);
CREATE INDEX ix_tickets_contact_phone ON tickets (contact_phone);
CREATE INDEX ix_faq_entries_question_key ON faq_entries (question_key);
CREATE INDEX ix_faq_entries_status ON faq_entries (status);
CREATE INDEX ix_faq_history_faq_id ON faq_history (faq_id);
CREATE INDEX ix_faq_feedback_at ON faq_feedback (at);
CREATE INDEX ix_faq_feedback_faq_id ON faq_feedback (faq_id);
CREATE INDEX ix_faq_unanswered_status_count ON faq_unanswered (status, count);
CREATE INDEX ix_faq_unanswered_last_seen ON faq_unanswered (last_seen);
CREATE INDEX ix_faq_unanswered_status ON faq_unanswered (status);
CREATE INDEX ix_handoff_sessions_status ON handoff_sessions (status);
CREATE INDEX ix_handoff_sessions_sender_id ON handoff_sessions (sender_id);
CREATE UNIQUE INDEX uq_handoff_sessions_open_sender ON handoff_sessions (sender_id) WHERE status != 'closed';
CREATE INDEX ix_staff_presence_last_seen ON staff_presence (last_seen);
CREATE INDEX ix_staff_sessions_user_id ON staff_sessions (user_id);
CREATE INDEX ix_ticket_events_ticket_number ON ticket_events (ticket_number);
