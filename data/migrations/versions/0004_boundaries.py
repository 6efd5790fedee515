"""Boundary lines, tri-junctions, markers (界桩), joint inspections (联检), field surveys, attachments.

A line is identified by its two parties' codes in order ("330102-330105"); its 4-character
line number prefixes every marker number (§5.3: line number + 3-digit sequence + type code).
Markers carry a version that every change increments; `marker_history` keeps one row per version
with the fields changed, so a field upload's `base_version` can be compared field by field.
Attachments (photos, agreements, reports) are stored once by SHA-256; resumable uploads collect
their parts in `attachment_parts` until the whole file is there and its hash checks out.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-24
"""

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

UPGRADE = r"""
CREATE TABLE attachments (
    sha256 char(64) PRIMARY KEY CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    size bigint NOT NULL CHECK (size > 0),
    media_type text NOT NULL,
    content bytea NOT NULL,
    uploaded_by text NOT NULL,
    uploaded_at timestamptz NOT NULL DEFAULT now()
);

-- A resumable upload in progress: parts arrive with Content-Range and are joined when complete.
CREATE TABLE attachment_uploads (
    sha256 char(64) PRIMARY KEY CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    total_size bigint NOT NULL CHECK (total_size > 0),
    media_type text NOT NULL,
    started_by text NOT NULL,
    started_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL
);
CREATE TABLE attachment_parts (
    sha256 char(64) NOT NULL REFERENCES attachment_uploads (sha256) ON DELETE CASCADE,
    start_byte bigint NOT NULL CHECK (start_byte >= 0),
    content bytea NOT NULL,
    PRIMARY KEY (sha256, start_byte)
);

CREATE TABLE boundary_lines (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    line_id text NOT NULL CHECK (line_id ~ '^[0-9]{6,12}-[0-9]{6,12}$'),
    level text NOT NULL CHECK (level IN ('province', 'county', 'township')),
    left_code varchar(12) NOT NULL,
    right_code varchar(12) NOT NULL,
    line_number varchar(4) NOT NULL CHECK (line_number ~ '^[0-9A-Z]{4}$'),
    name text NOT NULL,
    geom geometry(MultiLineString, 4490) NOT NULL,
    length_m double precision NOT NULL CHECK (length_m > 0),
    approving_authority text NOT NULL,
    last_inspection date,                  -- the last completed joint inspection (or the agreement's date)
    inspection_cycle_years smallint NOT NULL DEFAULT 5 CHECK (inspection_cycle_years > 0),
    geom_source text NOT NULL,
    geom_approximate boolean NOT NULL DEFAULT true,
    valid_from date NOT NULL DEFAULT current_date,
    valid_to date,
    created_at timestamptz NOT NULL DEFAULT now(),
    CHECK (left_code < right_code),
    CHECK (line_id = left_code || '-' || right_code)
);
CREATE UNIQUE INDEX boundary_lines_current ON boundary_lines (line_id) WHERE valid_to IS NULL;
CREATE UNIQUE INDEX boundary_lines_number ON boundary_lines (line_number) WHERE valid_to IS NULL;
CREATE INDEX boundary_lines_geom ON boundary_lines USING gist (geom) WHERE valid_to IS NULL;
CREATE INDEX boundary_lines_left ON boundary_lines (left_code) WHERE valid_to IS NULL;
CREATE INDEX boundary_lines_right ON boundary_lines (right_code) WHERE valid_to IS NULL;

-- Points where three divisions meet (三交点).
CREATE TABLE tri_junctions (
    id text PRIMARY KEY,                   -- the three codes in order, joined by '-'
    level text NOT NULL CHECK (level IN ('province', 'county', 'township')),
    codes varchar(12)[] NOT NULL CHECK (cardinality(codes) = 3),
    geom geometry(Point, 4490) NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

-- Agreement documents (协议书, 详图) and other line files.
CREATE TABLE line_documents (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    line_id text NOT NULL,
    kind text NOT NULL CHECK (kind IN ('协议书', '详图', '界桩登记表', '界桩成果表', '联检报告', '会议纪要', '其他')),
    title text NOT NULL CHECK (title <> ''),
    doc_number text,
    signed_on date,
    sha256 char(64) REFERENCES attachments (sha256),
    filename text,
    added_by text NOT NULL,
    added_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX line_documents_line ON line_documents (line_id);

-- Surveyors may upload only for the lines they are assigned to.
CREATE TABLE line_assignments (
    line_id text NOT NULL,
    username text NOT NULL REFERENCES users (username),
    assigned_by text NOT NULL,
    assigned_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (line_id, username)
);

CREATE TABLE markers (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    number varchar(8) NOT NULL UNIQUE CHECK (number ~ '^[0-9A-Z]{4}[0-9]{3}[QABCDE]$'),
    line_id text NOT NULL,
    seq smallint NOT NULL CHECK (seq BETWEEN 1 AND 999),
    type text NOT NULL CHECK (type IN ('单立', '同号双立', '同号三立', '三交点')),
    type_code char(1) NOT NULL CHECK (type_code IN ('Q', 'A', 'B', 'C', 'D', 'E')),
    side_code varchar(12),                 -- the division the marker stands in (paired and triple markers)
    tri_junction_id text REFERENCES tri_junctions (id),
    geom geometry(Point, 4490) NOT NULL,
    source_datum text NOT NULL,            -- datum of the registered coordinates before transformation
    precision_m real CHECK (precision_m >= 0),
    managing_party varchar(12) NOT NULL,
    reference_objects jsonb NOT NULL DEFAULT '[]'::jsonb,   -- 方位物: [{name, bearing_deg, distance_m}]
    reference_objects_complete boolean NOT NULL DEFAULT true,
    status text NOT NULL DEFAULT '完好' CHECK (status IN ('完好', '损坏', '丢失', '移位')),
    version integer NOT NULL DEFAULT 1 CHECK (version >= 1),
    erected_on date,
    retired_on date,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (line_id, seq, type_code),
    CHECK ((type = '单立') = (type_code = 'Q' AND tri_junction_id IS NULL)
           OR type = '三交点'),
    CHECK (type <> '同号双立' OR type_code IN ('A', 'B')),
    CHECK (type <> '同号三立' OR type_code IN ('C', 'D', 'E')),
    CHECK (type <> '三交点' OR tri_junction_id IS NOT NULL)
);
CREATE INDEX markers_line ON markers (line_id, seq);
CREATE INDEX markers_geom ON markers USING gist (geom);

-- One row per marker version: what changed (field → [before, after]), by whom, from which source.
CREATE TABLE marker_history (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    marker_id bigint NOT NULL REFERENCES markers (id),
    version integer NOT NULL,
    changed jsonb NOT NULL,
    status text NOT NULL,
    geom geometry(Point, 4490) NOT NULL,
    source text NOT NULL CHECK (source IN ('register', 'inspection', 'survey', 'repair', 'manual', 'demo')),
    source_ref text,
    reason text,
    actor text NOT NULL,
    at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (marker_id, version)
);

CREATE TABLE marker_photos (
    marker_id bigint NOT NULL REFERENCES markers (id),
    sha256 char(64) NOT NULL,              -- may arrive before or after the record that names it
    filename text NOT NULL,
    caption text,
    source_ref text,
    added_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (marker_id, sha256)
);

CREATE TABLE inspections (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    line_id text NOT NULL,
    kind text NOT NULL CHECK (kind IN ('routine', 'ad_hoc')),
    round smallint CHECK (round >= 1),     -- routine rounds only
    reason text,                           -- ad hoc: disaster, river, road, other
    section geometry(Geometry, 4490),      -- ad hoc: the affected section
    lead_party varchar(12) NOT NULL,
    cooperating_party varchar(12) NOT NULL,
    planned_start date,
    planned_end date,
    state text NOT NULL DEFAULT 'planned' CHECK (state IN ('planned', 'in_progress', 'completed', 'cancelled')),
    completed_on date,
    basis jsonb NOT NULL DEFAULT '{}'::jsonb,   -- document ids: 协议书, 界桩登记表, previous 联检报告
    summary text,
    report_sha256 char(64) REFERENCES attachments (sha256),
    created_by text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    CHECK (lead_party <> cooperating_party),
    CHECK ((kind = 'routine') = (round IS NOT NULL)),
    CHECK (kind = 'routine' OR reason IS NOT NULL),
    CHECK ((state = 'completed') = (completed_on IS NOT NULL))
);
CREATE UNIQUE INDEX inspections_round ON inspections (line_id, round) WHERE kind = 'routine';
CREATE INDEX inspections_line ON inspections (line_id, completed_on);

CREATE TABLE inspection_marker_records (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    inspection_id bigint NOT NULL REFERENCES inspections (id),
    marker_id bigint NOT NULL REFERENCES markers (id),
    status text NOT NULL CHECK (status IN ('完好', '损坏', '丢失', '移位')),
    reference_objects_complete boolean NOT NULL DEFAULT true,
    measured geometry(Point, 4490),
    measured_datum text,
    accuracy_m real,
    displacement_m double precision,
    photos char(64)[] NOT NULL DEFAULT '{}',
    notes text,
    survey_record uuid,
    recorded_by text NOT NULL,
    recorded_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (inspection_id, marker_id)
);

CREATE TABLE inspection_section_records (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    inspection_id bigint NOT NULL REFERENCES inspections (id),
    from_marker bigint REFERENCES markers (id),
    to_marker bigint REFERENCES markers (id),
    geom geometry(Geometry, 4490),
    recognisable boolean NOT NULL,
    changes_near_line text,
    cross_boundary_construction text,
    notes text,
    photos char(64)[] NOT NULL DEFAULT '{}',
    survey_record uuid,
    recorded_by text NOT NULL,
    recorded_at timestamptz NOT NULL DEFAULT now()
);

-- Opened for every marker found other than 完好; repaired by the managing party with the neighbour present.
CREATE TABLE repair_tasks (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    marker_id bigint NOT NULL REFERENCES markers (id),
    found_status text NOT NULL CHECK (found_status IN ('损坏', '丢失', '移位')),
    action text NOT NULL,
    assigned_party varchar(12) NOT NULL,
    neighbour_party varchar(12) NOT NULL,
    neighbour_presence_required boolean NOT NULL DEFAULT true,
    inspection_id bigint REFERENCES inspections (id),
    survey_record uuid,
    state text NOT NULL DEFAULT 'open' CHECK (state IN ('open', 'done', 'cancelled')),
    opened_at timestamptz NOT NULL DEFAULT now(),
    closed_at timestamptz,
    closed_by text,
    note text
);
CREATE UNIQUE INDEX repair_tasks_open ON repair_tasks (marker_id) WHERE state = 'open';

CREATE TABLE survey_batches (
    uuid uuid PRIMARY KEY,
    content_sha256 char(64) NOT NULL,
    device text NOT NULL,
    surveyor text NOT NULL,
    captured_at timestamptz NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now(),
    inspection_id bigint REFERENCES inspections (id),
    receipt jsonb NOT NULL
);

CREATE TABLE survey_records (
    uuid uuid PRIMARY KEY,
    batch_uuid uuid NOT NULL REFERENCES survey_batches (uuid),
    content_sha256 char(64) NOT NULL,
    kind text NOT NULL CHECK (kind IN ('marker_check', 'line_observation', 'marker_proposal')),
    line_id text NOT NULL,
    marker_id bigint REFERENCES markers (id),
    base_version integer,
    status text CHECK (status IN ('完好', '损坏', '丢失', '移位')),
    geom geometry(Geometry, 4490),         -- a point (marker check, proposal) or a section (observation)
    position jsonb,                        -- the GeoJSON as sent, before datum transformation
    datum text,
    accuracy_m real,
    displacement_m double precision,
    observed_at timestamptz NOT NULL,
    body jsonb NOT NULL,                   -- the whole record as sent
    outcome text NOT NULL CHECK (outcome IN ('accepted', 'flagged')),
    reasons jsonb NOT NULL DEFAULT '[]'::jsonb,
    review_state text NOT NULL DEFAULT 'received'
        CHECK (review_state IN ('received', 'accepted', 'flagged', 'approved', 'rejected')),
    reviewed_by text,
    reviewed_at timestamptz,
    review_note text
);
CREATE INDEX survey_records_batch ON survey_records (batch_uuid);
CREATE INDEX survey_records_review ON survey_records (review_state, line_id);

CREATE TABLE survey_record_attachments (
    record_uuid uuid NOT NULL REFERENCES survey_records (uuid),
    sha256 char(64) NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    filename text NOT NULL,
    size bigint NOT NULL CHECK (size > 0),
    media_type text NOT NULL,
    PRIMARY KEY (record_uuid, sha256)
);
CREATE INDEX survey_record_attachments_sha ON survey_record_attachments (sha256);

-- A record whose base_version is not the marker's current version: soft (base not latest) or
-- hard (a field the record sets was changed since its base). A reviewer resolves it.
CREATE TABLE survey_conflicts (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    record_uuid uuid NOT NULL UNIQUE REFERENCES survey_records (uuid),
    marker_id bigint NOT NULL REFERENCES markers (id),
    base_version integer NOT NULL,
    current_version integer NOT NULL,
    kind text NOT NULL CHECK (kind IN ('soft', 'hard')),
    fields text[] NOT NULL DEFAULT '{}',
    state text NOT NULL DEFAULT 'open' CHECK (state IN ('open', 'resolved')),
    resolution text,
    resolved_by text,
    resolved_at timestamptz
);
"""

DOWNGRADE = """
DROP TABLE survey_conflicts;
DROP TABLE survey_record_attachments;
DROP TABLE survey_records;
DROP TABLE survey_batches;
DROP TABLE repair_tasks;
DROP TABLE inspection_section_records;
DROP TABLE inspection_marker_records;
DROP TABLE inspections;
DROP TABLE marker_photos;
DROP TABLE marker_history;
DROP TABLE markers;
DROP TABLE line_assignments;
DROP TABLE line_documents;
DROP TABLE tri_junctions;
DROP TABLE boundary_lines;
DROP TABLE attachment_parts;
DROP TABLE attachment_uploads;
DROP TABLE attachments;
"""


def upgrade() -> None:
    """Create the boundary, marker, inspection, survey and attachment tables."""
    op.execute(UPGRADE)


def downgrade() -> None:
    """Drop them."""
    op.execute(DOWNGRADE)
