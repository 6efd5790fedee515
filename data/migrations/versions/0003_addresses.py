"""Standard address library (一库一码), API keys and usage, background jobs.

Address code (GB/T 39609 区划式地理代码, component order 区划 → 街巷院落 → 建筑门楼 → 单元户室;
the standard gives no digit lengths, these are ours):

    village/community code  12 digits   330106001001
    street or compound       5 digits   00001–79999 streets, 80000–99999 compounds (unique in the county)
    plate                    4 digits   serial within (village, street); 0000 = no plate (compound building)
    building                 3 digits   serial within the plate or compound
    unit                     2 digits
    room                     4 digits

so a street or compound has 17 digits, a plate 21, a building 24, a unit 26 and a room 30.
Serials are allocated as the largest ever used + 1, so a retired code is never given again (废码不用).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23
"""

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

UPGRADE = r"""
CREATE SEQUENCE address_ids;

-- One row per version of an address element; address_id is the stable identity across versions.
CREATE TABLE addresses (
    version_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    address_id bigint NOT NULL,
    code varchar(30) NOT NULL,
    level text NOT NULL CHECK (level IN ('street', 'compound', 'plate', 'building', 'unit', 'room')),
    parent_id bigint,                       -- address_id of the element above (NULL for streets/compounds)
    street_id bigint,                       -- plates and below: the street they are numbered on
    compound_id bigint,                     -- buildings and below inside a compound
    village_code varchar(12) NOT NULL,
    county_code varchar(6) GENERATED ALWAYS AS (left(village_code, 6)) STORED,
    name text NOT NULL,                     -- the element as written on its plate: 文一路, 100号, 3幢, 2单元, 301室
    number integer,                         -- plate, building, unit, room number
    suffix text NOT NULL DEFAULT '',        -- 之1, 附2, -1, A …
    side char(1) CHECK (side IN ('N', 'S', 'E', 'W')),     -- plates: which side of the street
    direction text CHECK (direction IN ('EW', 'NS', 'dead_end')), -- streets: for the parity rules
    reserved boolean NOT NULL DEFAULT false,               -- a reserved number (预留号), not a real plate
    place_name_id bigint,                   -- streets and compounds: the standard name they carry
    local_address text NOT NULL,            -- below the village: 文一路100号3幢2单元301室
    full_address text NOT NULL,             -- 浙江省杭州市西湖区……文一路100号3幢2单元301室
    pinyin_key text NOT NULL DEFAULT '',
    initials text NOT NULL DEFAULT '',
    geom geometry(Geometry, 4490),          -- streets: lines; compounds: polygons or points
    point geometry(Point, 4490) NOT NULL,   -- the address point (a street: a point on its line)
    source text NOT NULL,
    valid_from date NOT NULL,
    valid_to date,
    created_by text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT addresses_code_digits CHECK (
        (level IN ('street', 'compound') AND code ~ '^\d{17}$')
        OR (level = 'plate' AND code ~ '^\d{21}$')
        OR (level = 'building' AND code ~ '^\d{24}$')
        OR (level = 'unit' AND code ~ '^\d{26}$')
        OR (level = 'room' AND code ~ '^\d{30}$')),
    CONSTRAINT addresses_village CHECK (left(code, 12) = village_code),
    CONSTRAINT addresses_parent CHECK ((level IN ('street', 'compound')) = (parent_id IS NULL)),
    CONSTRAINT addresses_plate_street CHECK (level <> 'plate' OR street_id IS NOT NULL),
    CONSTRAINT addresses_name CHECK (char_length(name) BETWEEN 1 AND 60),
    CONSTRAINT addresses_valid_range CHECK (valid_to IS NULL OR valid_to >= valid_from)
);
CREATE UNIQUE INDEX addresses_current ON addresses (address_id) WHERE valid_to IS NULL;
CREATE UNIQUE INDEX addresses_current_code ON addresses (code) WHERE valid_to IS NULL;
CREATE INDEX addresses_history ON addresses (address_id, valid_from);
CREATE INDEX addresses_code_any ON addresses (code text_pattern_ops);
CREATE INDEX addresses_parent_idx ON addresses (parent_id) WHERE valid_to IS NULL;
CREATE INDEX addresses_street_number ON addresses (street_id, number) WHERE valid_to IS NULL;
CREATE INDEX addresses_village_idx ON addresses (village_code) WHERE valid_to IS NULL;
CREATE INDEX addresses_county_local ON addresses (county_code, local_address text_pattern_ops)
    WHERE valid_to IS NULL;
CREATE INDEX addresses_local_prefix ON addresses (local_address text_pattern_ops) WHERE valid_to IS NULL;
-- Two-character names cannot use the trigram index: scan the county's few streets and compounds.
-- Misspelt street and compound names: trigram similarity over the (few) named elements only.
CREATE INDEX addresses_named_trgm ON addresses USING gin (name gin_trgm_ops)
    WHERE valid_to IS NULL AND level IN ('street', 'compound');
CREATE INDEX addresses_named_county ON addresses (county_code, name)
    WHERE valid_to IS NULL AND level IN ('street', 'compound');
CREATE INDEX addresses_local_trgm ON addresses USING gin (local_address gin_trgm_ops) WHERE valid_to IS NULL;
CREATE INDEX addresses_named ON addresses (name text_pattern_ops, county_code text_pattern_ops)
    WHERE valid_to IS NULL AND level IN ('street', 'compound');
CREATE INDEX addresses_pinyin ON addresses (pinyin_key text_pattern_ops)
    WHERE valid_to IS NULL AND level IN ('street', 'compound');
CREATE INDEX addresses_initials ON addresses (initials text_pattern_ops)
    WHERE valid_to IS NULL AND level IN ('street', 'compound');
CREATE INDEX addresses_reverse ON addresses USING gist (point)
    WHERE valid_to IS NULL AND level IN ('plate', 'building', 'compound') AND NOT reserved;

-- Callers of the address-lookup API.
CREATE TABLE api_keys (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name text NOT NULL CHECK (name <> ''),
    prefix text NOT NULL UNIQUE,            -- first characters of the key, shown in listings
    key_hash text NOT NULL UNIQUE,          -- SHA-256 of the key; the key itself is shown once
    daily_quota integer NOT NULL CHECK (daily_quota > 0),
    per_second integer NOT NULL CHECK (per_second > 0),
    created_by text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    revoked_at timestamptz
);

-- Requests per caller and day (Asia/Shanghai): 'key:<id>' or 'anon:<client address>'.
CREATE TABLE api_usage (
    caller text NOT NULL,
    day date NOT NULL,
    requests bigint NOT NULL DEFAULT 0,
    refused bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (caller, day)
);

-- Background jobs (batch geocoding); the files live under the service's home folder.
CREATE TABLE jobs (
    id uuid PRIMARY KEY,
    kind text NOT NULL,
    status text NOT NULL CHECK (status IN ('queued', 'running', 'done', 'failed')),
    params jsonb NOT NULL DEFAULT '{}',
    total integer,
    done integer NOT NULL DEFAULT 0,
    summary jsonb,
    error text,
    owner text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    started_at timestamptz,
    finished_at timestamptz
);
"""

DOWNGRADE = """
DROP TABLE jobs;
DROP TABLE api_usage;
DROP TABLE api_keys;
DROP TABLE addresses;
DROP SEQUENCE address_ids;
"""


def upgrade() -> None:
    """Create the address library, API-key and job tables."""
    op.execute(UPGRADE)


def downgrade() -> None:
    """Drop them."""
    op.execute(DOWNGRADE)
