"""Service facilities (养老/儿童/社工/救助…), population per division, a walking network.

Facility types come from a data file (`facilities/types.csv`) with codes and default service
radii. A facility is a point with its type, capacity, operator and dates; `valid_from`/`valid_to`
is its valid time (opening → closing) for OGC `datetime`. Population per division is optional:
coverage reports population shares only where it is loaded. The walking network is a plain edge
table that pgRouting routes on (`source`/`target` node ids, `cost`/`reverse_cost` in metres).

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-24
"""

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

UPGRADE = r"""
CREATE TABLE facility_types (
    code text PRIMARY KEY CHECK (code ~ '^[A-Z][A-Z0-9_]{1,15}$'),
    name text NOT NULL UNIQUE,
    category text NOT NULL CHECK (category IN
        ('elderly', 'children', 'social_work', 'assistance', 'marriage', 'funeral')),
    default_radius_m integer NOT NULL CHECK (default_radius_m > 0),
    capacity_unit text CHECK (capacity_unit IN ('beds', 'meal_seats', 'places')),
    icon text NOT NULL,
    color text NOT NULL CHECK (color ~ '^#[0-9a-f]{6}$'),
    sort_order smallint NOT NULL,
    description text NOT NULL,
    source text NOT NULL
);

CREATE TABLE facilities (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    facility_id text NOT NULL UNIQUE CHECK (facility_id ~ '^[A-Za-z0-9_.:-]{1,64}$'),  -- stable public id
    name text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 100),
    type_code text NOT NULL REFERENCES facility_types (code),
    geom geometry(Point, 4490) NOT NULL,
    address text,                           -- as given
    address_code varchar(30),               -- the standard address it was matched to, when found
    division_code varchar(12) NOT NULL,     -- the deepest division it lies in (village/community when known)
    beds integer CHECK (beds >= 0),
    meal_seats integer CHECK (meal_seats >= 0),
    operator text,
    opened_on date,
    closed_on date,
    status text NOT NULL DEFAULT 'operating' CHECK (status IN ('planned', 'operating', 'suspended', 'closed')),
    valid_from date NOT NULL DEFAULT current_date,   -- valid time: opening date, or when recorded
    valid_to date,                                   -- closing date (NULL while it exists)
    source text NOT NULL,
    version integer NOT NULL DEFAULT 1 CHECK (version >= 1),
    created_by text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CHECK (closed_on IS NULL OR opened_on IS NULL OR closed_on >= opened_on),
    CHECK (valid_to IS NULL OR valid_to >= valid_from)
);
CREATE INDEX facilities_geom ON facilities USING gist (geom);
CREATE INDEX facilities_type ON facilities (type_code);
CREATE INDEX facilities_division ON facilities (division_code text_pattern_ops);

-- Optional population per division (any level); coverage shares by population use it where present.
CREATE TABLE division_population (
    code varchar(12) PRIMARY KEY,
    population integer NOT NULL CHECK (population >= 0),
    elderly_population integer CHECK (elderly_population >= 0),
    year smallint NOT NULL,
    source text NOT NULL,
    loaded_at timestamptz NOT NULL DEFAULT now()
);
-- The walking network (pgRouting routes on it): one network, an import replaces it. Edges are noded
-- (they meet only at their ends), `source`/`target` are vertex ids, costs are lengths in metres
-- (walking: both directions the same).
CREATE TABLE network_vertices (
    id bigint PRIMARY KEY,
    geom geometry(Point, 4490) NOT NULL
);
CREATE INDEX network_vertices_geom ON network_vertices USING gist (geom);

CREATE TABLE network_edges (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    source bigint NOT NULL,                 -- network_vertices.id (no foreign key: the builders write both)
    target bigint NOT NULL,
    cost double precision NOT NULL CHECK (cost >= 0),
    reverse_cost double precision NOT NULL,
    geom geometry(LineString, 4490) NOT NULL,
    name text,
    dataset text NOT NULL
);
CREATE INDEX network_edges_geom ON network_edges USING gist (geom);
"""

DOWNGRADE = """
DROP TABLE network_edges;
DROP TABLE network_vertices;
DROP TABLE division_population;
DROP TABLE facilities;
DROP TABLE facility_types;
"""


def upgrade() -> None:
    """Create the facility, population and walking-network tables."""
    op.execute(UPGRADE)


def downgrade() -> None:
    """Drop them."""
    op.execute(DOWNGRADE)
