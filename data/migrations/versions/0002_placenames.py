"""Place names: versioned registry, romanization overrides, applications workflow, announcements,
protection list, signs, built-up areas.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

UPGRADE = r"""
CREATE SEQUENCE place_name_ids;

-- One row per version of a standard name; name_id is the stable identity across versions.
CREATE TABLE place_names (
    version_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name_id bigint NOT NULL,
    name text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 50),
    specific text NOT NULL,                 -- 专名
    generic text NOT NULL DEFAULT '',       -- 通名
    category varchar(4) NOT NULL CHECK (category ~ '^\d{2}(\d{2})?$'),
    romanization text,
    minority_name text,
    minority_language text,
    geom geometry(Geometry, 4490),
    division_code varchar(12),              -- the deepest division it lies in
    division_codes varchar(12)[] NOT NULL DEFAULT '{}',  -- every division it lies in (crossing names)
    entity_code varchar(12),                -- for division and village-committee names: the code named
    meaning text,                           -- 含义
    history text,                           -- 沿革
    status text NOT NULL CHECK (status IN ('standard', 'historical', 'cancelled')),
    aliases text[] NOT NULL DEFAULT '{}',
    former_names text[] NOT NULL DEFAULT '{}',
    source text NOT NULL,
    pinyin_key text NOT NULL,
    initials text NOT NULL,
    valid_from date NOT NULL,
    valid_to date,
    application_id bigint,
    change_note text,
    created_by text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT place_names_valid_range CHECK (valid_to IS NULL OR valid_to >= valid_from)
);
CREATE UNIQUE INDEX place_names_current ON place_names (name_id) WHERE valid_to IS NULL;
CREATE INDEX place_names_history ON place_names (name_id, valid_from);
CREATE INDEX place_names_name_trgm ON place_names USING gin (name gin_trgm_ops) WHERE valid_to IS NULL;
CREATE INDEX place_names_name ON place_names (name text_pattern_ops) WHERE valid_to IS NULL;
CREATE INDEX place_names_aliases ON place_names USING gin (aliases) WHERE valid_to IS NULL;
CREATE INDEX place_names_former ON place_names USING gin (former_names) WHERE valid_to IS NULL;
CREATE INDEX place_names_pinyin ON place_names (pinyin_key text_pattern_ops) WHERE valid_to IS NULL;
CREATE INDEX place_names_initials ON place_names (initials text_pattern_ops) WHERE valid_to IS NULL;
CREATE INDEX place_names_division ON place_names (division_code text_pattern_ops) WHERE valid_to IS NULL;
CREATE INDEX place_names_entity ON place_names (entity_code) WHERE valid_to IS NULL;
CREATE INDEX place_names_category ON place_names (category) WHERE valid_to IS NULL;
CREATE INDEX place_names_geom ON place_names USING gist (geom) WHERE valid_to IS NULL;

-- A reviewer's correction of the computed romanization, with the reason (audited on write).
CREATE TABLE romanization_overrides (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 50),
    category varchar(4),
    romanization text NOT NULL CHECK (romanization <> ''),
    reason text NOT NULL CHECK (char_length(reason) >= 2),
    created_by text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX romanization_overrides_key ON romanization_overrides (name, coalesce(category, ''));

-- 建成区 polygons: the scope of the duplicate check for streets and important buildings (§9 rule 5).
CREATE TABLE builtup_areas (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name text NOT NULL,
    division_code varchar(12),
    geom geometry(MultiPolygon, 4490) NOT NULL,
    source text NOT NULL
);
CREATE INDEX builtup_areas_geom ON builtup_areas USING gist (geom);

CREATE TABLE applications (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind text NOT NULL CHECK (kind IN ('name', 'rename', 'cancel')),
    state text NOT NULL CHECK (state IN ('draft', 'submitted', 'accepted', 'under_review', 'approved',
        'rejected', 'withdrawn', 'filed', 'announced')),
    name_id bigint,                         -- the registry name renamed or cancelled (set on approval for 命名)
    proposed_name text CHECK (proposed_name IS NULL OR char_length(proposed_name) BETWEEN 1 AND 50),
    specific text,
    generic text,
    category varchar(4) NOT NULL,
    division_code varchar(12) NOT NULL,
    geom geometry(Geometry, 4490),
    location_description text,
    reasons text NOT NULL,
    attributes jsonb NOT NULL DEFAULT '{}', -- site_area_m2, floor_area_m2, approval_documents, …
    romanization text,
    applicant text NOT NULL,
    approver_kind text,
    approver_division varchar(12),          -- NULL for central bodies
    approver_name text,
    approval_document text,
    approval_date date,
    placename_dept_consulted boolean NOT NULL DEFAULT false,
    filing_target text,
    filing_due date,                        -- approval + 15 days (Art. 13); NULL when nothing is filed
    filing_date date,
    announcement_due date,                  -- approval + 15 days, or filing + 15 for other departments
    announcement_date date,
    idempotency_key text UNIQUE,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT applications_name_needed CHECK (kind = 'cancel' OR proposed_name IS NOT NULL),
    CONSTRAINT applications_target_needed CHECK (kind = 'name' OR name_id IS NOT NULL)
);
CREATE INDEX applications_state ON applications (state);
CREATE INDEX applications_applicant ON applications (applicant, id);

CREATE TABLE application_attachments (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    application_id bigint NOT NULL REFERENCES applications (id),
    kind text NOT NULL,
    filename text NOT NULL,
    media_type text NOT NULL,
    size integer NOT NULL CHECK (size > 0),
    sha256 char(64) NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    content bytea NOT NULL,
    uploaded_by text NOT NULL,
    uploaded_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (application_id, kind, sha256)
);

CREATE TABLE application_events (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    application_id bigint NOT NULL REFERENCES applications (id),
    action text NOT NULL,
    from_state text,
    to_state text NOT NULL,
    actor text NOT NULL,
    at timestamptz NOT NULL DEFAULT now(),
    note text,
    details jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX application_events_app ON application_events (application_id, id);

-- 公告: the six fields of the 2023 备案公告管理办法 are all required (§9 rule 19).
CREATE TABLE announcements (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    application_id bigint NOT NULL UNIQUE REFERENCES applications (id),
    name_id bigint NOT NULL,
    kind text NOT NULL,
    standard_name text NOT NULL CHECK (standard_name <> ''),
    romanization text NOT NULL CHECK (romanization <> ''),
    division text NOT NULL CHECK (division <> ''),
    location text NOT NULL CHECK (location <> ''),
    approver text NOT NULL CHECK (approver <> ''),
    approval_date date NOT NULL,
    published_on date NOT NULL,
    former_name text,
    created_at timestamptz NOT NULL DEFAULT now()
);

-- 地名保护名录 (Art. 25) and its protection measures (实施办法: 设立标志、派生命名、活化使用…).
CREATE TABLE protected_names (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name_id bigint NOT NULL,
    category text NOT NULL,
    reason text NOT NULL CHECK (reason <> ''),
    listed_on date NOT NULL,
    created_by text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX protected_names_name ON protected_names (name_id);

CREATE TABLE protection_measures (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    protected_id bigint NOT NULL REFERENCES protected_names (id),
    kind text NOT NULL CHECK (kind IN ('设立标志', '派生命名', '活化使用', '文化产品', '宣传推广', '其他')),
    description text NOT NULL CHECK (description <> ''),
    application_id bigint REFERENCES applications (id),
    created_by text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

-- 地名标志 (GB 17733) and their inspections.
CREATE TABLE signs (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name_id bigint NOT NULL,
    kind text NOT NULL,
    geom geometry(Point, 4490) NOT NULL,
    text_zh text NOT NULL CHECK (text_zh <> ''),
    text_pinyin text NOT NULL CHECK (text_pinyin <> ''),
    condition text NOT NULL CHECK (condition IN ('good', 'damaged', 'faded', 'missing', 'moved')),
    installed_on date,
    created_by text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX signs_name ON signs (name_id);
CREATE INDEX signs_geom ON signs USING gist (geom);

CREATE TABLE sign_inspections (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    sign_id bigint NOT NULL REFERENCES signs (id),
    inspected_on date NOT NULL,
    condition text NOT NULL CHECK (condition IN ('good', 'damaged', 'faded', 'missing', 'moved')),
    note text,
    inspector text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
"""

DOWNGRADE = """
DROP TABLE sign_inspections; DROP TABLE signs; DROP TABLE protection_measures; DROP TABLE protected_names;
DROP TABLE announcements; DROP TABLE application_events; DROP TABLE application_attachments;
DROP TABLE applications; DROP TABLE builtup_areas; DROP TABLE romanization_overrides;
DROP TABLE place_names; DROP SEQUENCE place_name_ids;
"""


def upgrade() -> None:
    op.execute(UPGRADE)


def downgrade() -> None:
    op.execute(DOWNGRADE)
