"""Foundation: divisions with versions and polygons, change events, datasets, users, audit log.

Revision ID: 0001
Revises:
Create Date: 2026-11-23
"""

from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

UPGRADE = r"""
CREATE TABLE divisions (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    code varchar(12) NOT NULL,
    level smallint NOT NULL CHECK (level BETWEEN 1 AND 5),
    name text NOT NULL CHECK (name <> ''),
    parent_code varchar(12),
    kind text NOT NULL,
    placeholder boolean NOT NULL DEFAULT false,
    geom geometry(MultiPolygon, 4490),
    label_point geometry(Point, 4490),
    geom_source text,
    geom_approximate boolean NOT NULL DEFAULT false,
    valid_from date NOT NULL,
    valid_to date,
    source text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT divisions_code_digits CHECK (
        (level <= 3 AND code ~ '^\d{6}$') OR (level = 4 AND code ~ '^\d{9}$')
        OR (level = 5 AND code ~ '^\d{12}$')),
    CONSTRAINT divisions_valid_range CHECK (valid_to IS NULL OR valid_to > valid_from)
);
-- Versions of one code must not overlap in time. A btree_gist exclusion constraint says that
-- best but made the 665,276-row load take 150 s instead of 20 s; the versioning functions close
-- the old version and open the new one in one transaction instead, and the index below keeps
-- exactly one current version per (code, level).
-- The package keeps 441900, 442000, 460400 both as the prefecture and as a placeholder
-- county row (townships sit directly under those cities), so uniqueness is per level.
CREATE UNIQUE INDEX divisions_current_code ON divisions (code, level) WHERE valid_to IS NULL;
CREATE INDEX divisions_current_parent ON divisions (parent_code, code) WHERE valid_to IS NULL;
CREATE INDEX divisions_name_trgm ON divisions USING gin (name gin_trgm_ops);
CREATE INDEX divisions_geom ON divisions USING gist (geom);

CREATE TABLE division_parts (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    code varchar(12) NOT NULL,
    level smallint NOT NULL,
    geom geometry(Polygon, 4490) NOT NULL
);
CREATE INDEX division_parts_geom ON division_parts USING gist (geom);
CREATE INDEX division_parts_code ON division_parts (code);

CREATE TABLE division_events (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_type text NOT NULL CHECK (event_type IN
        ('create', 'abolish', 'rename', 'merge', 'transfer', 'reparent', 'seat_move')),
    effective_date date NOT NULL,
    approval_document text,
    approved_by text,
    old_codes varchar(12)[] NOT NULL DEFAULT '{}',
    new_codes varchar(12)[] NOT NULL DEFAULT '{}',
    note text,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX division_events_old ON division_events USING gin (old_codes);
CREATE INDEX division_events_new ON division_events USING gin (new_codes);

CREATE TABLE datasets (
    name text PRIMARY KEY,
    version text NOT NULL,
    source text NOT NULL,
    terms text NOT NULL,
    row_count integer NOT NULL,
    details jsonb NOT NULL DEFAULT '{}',
    loaded_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE users (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    username text NOT NULL UNIQUE CHECK (username ~ '^[A-Za-z0-9_.@-]{3,64}$'),
    password_hash text NOT NULL,
    role text NOT NULL CHECK (role IN ('admin', 'approver', 'reviewer', 'applicant', 'surveyor')),
    active boolean NOT NULL DEFAULT true,
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE audit_log (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at timestamptz NOT NULL DEFAULT now(),
    actor text NOT NULL,
    action text NOT NULL,
    entity_type text NOT NULL,
    entity_id text NOT NULL,
    before jsonb,
    after jsonb
);
CREATE INDEX audit_log_entity ON audit_log (entity_type, entity_id, at);

CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only: % is not allowed', TG_OP;
END $$;
CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only();
"""

DOWNGRADE = """
DROP TABLE audit_log; DROP FUNCTION audit_log_append_only();
DROP TABLE users; DROP TABLE datasets; DROP TABLE division_events;
DROP TABLE division_parts; DROP TABLE divisions;
"""


def upgrade() -> None:
    op.execute(UPGRADE)


def downgrade() -> None:
    op.execute(DOWNGRADE)
