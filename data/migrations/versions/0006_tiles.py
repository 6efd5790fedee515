"""Vector tiles: generalised geometry per zoom band, the tile cache and its precise invalidation.

`tile_bands` are the zoom bands of the pre-generalised geometry. A band's tolerance is four MVT
units (4096 per tile) at the band's top zoom, half a pixel of a tile shown at 512 px, so
simplification never moves a vertex by a visible amount; the last band (z10+) keeps the stored geometry. Every band but
the first is split into pieces of at most 256–512 points (`tile_split`, a quadtree of
`ST_ClipByBox2D`) so a tile reads small pieces, not whole provinces.

`tile_parts` holds the pieces of the current polygons and lines (divisions, boundary_lines) in
EPSG:3857, built by `prepare_tiles` (maps.tiles.build_tile_geometry) and kept in step by the triggers
below once built (the `datasets` row `tile-geometry` says it is).

`tile_cache` holds rendered tiles (empty ones too), keyed by tile set and z/x/y, with the envelope of
the tile plus its MVT buffer in the storage CRS, the base tables the tile set reads and the data
version it was rendered at. A statement on a source table appends the old and new geometry of its
rows to `tile_invalidations` with a new version (`tile_data_version`); a cached tile is stale, and
rendered again, when a committed entry of one of its tables with a later version intersects its
envelope — exactly the tiles the edit touches, at every zoom, from the moment it commits. Editors
only append, so they never wait on the cache or on one another; `tile_prune()` drops stale tiles and
old entries.

A tile rendered from a snapshot an edit is about to replace must not be stored as current: before
rendering, `tile_begin_render` reads the version and then tries each table's advisory lock, which an
editor holds shared from its first changed row until it commits. A locked table means an edit in
flight, and the tile is served but not stored; otherwise any later edit gets a later version.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-24
"""

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

# (table, geometry column, has generalised parts)
SOURCES = (
    ("divisions", "geom", True),
    ("boundary_lines", "geom", True),
    ("place_names", "geom", False),
    ("addresses", "point", False),
    ("markers", "geom", False),
    ("facilities", "geom", False),
)

UPGRADE = r"""
CREATE EXTENSION IF NOT EXISTS btree_gist;

CREATE TABLE tile_bands (
    band smallint PRIMARY KEY,
    min_zoom smallint NOT NULL,
    max_zoom smallint NOT NULL CHECK (max_zoom >= min_zoom),
    tolerance_m double precision NOT NULL CHECK (tolerance_m >= 0),  -- 0: the stored geometry
    subdivide_vertices integer CHECK (subdivide_vertices >= 8)       -- NULL: whole geometries
);
-- tolerance = 4 · 2π·6378137 / 2^z / 4096 at the band's top zoom z (3, 6, 8, 9): four MVT units, half
-- a pixel of a tile shown at 512 px. One unit (a 4096th of the tile) kept z8 county tiles at ~40,000
-- points and ~50 ms; four units draw the same on screen with a third of the points.
INSERT INTO tile_bands VALUES
    (0, 0, 3, 4891.97, NULL),
    (1, 4, 6, 611.50, 512),
    (2, 7, 8, 152.87, 512),
    (3, 9, 9, 76.44, 512),
    (4, 10, 22, 0, 256);

CREATE TABLE tile_parts (
    source text NOT NULL,            -- the base table: divisions | boundary_lines
    source_id bigint NOT NULL,       -- its id
    class text NOT NULL,             -- its level (divisions 1–5, lines province/county/township)
    band smallint NOT NULL REFERENCES tile_bands (band),
    geom geometry(Geometry, 3857) NOT NULL
);
CREATE INDEX tile_parts_geom ON tile_parts USING gist (source, class, band, geom);
CREATE INDEX tile_parts_source ON tile_parts (source, source_id);

CREATE TABLE tile_cache (
    tileset text NOT NULL,
    z smallint NOT NULL CHECK (z BETWEEN 0 AND 30),
    x integer NOT NULL,
    y integer NOT NULL,
    tables text[] NOT NULL,                         -- the base tables the tile set reads
    envelope geometry(Polygon, 4490) NOT NULL,      -- the tile plus its MVT buffer
    data bytea NOT NULL,                            -- empty for an empty tile
    etag text NOT NULL,
    data_version bigint NOT NULL,                   -- tile_data_version when it was rendered
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tileset, z, x, y)
);
CREATE INDEX tile_cache_envelope ON tile_cache USING gist (envelope);

-- What committed edits changed: a cached tile is stale when an entry of one of its tables with a
-- later version intersects its envelope. Written by the triggers (append only: an editor never
-- waits on a cached tile), read with every cache hit, pruned by tile_prune().
CREATE TABLE tile_invalidations (
    version bigint NOT NULL,
    source text NOT NULL,
    geom geometry(Geometry, 4490) NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX tile_invalidations_geom ON tile_invalidations USING gist (source, geom);
CREATE INDEX tile_invalidations_version ON tile_invalidations (version);

CREATE SEQUENCE tile_data_version;
SELECT setval('tile_data_version', 1);  -- is_called, so the first nextval moves last_value

-- One advisory lock per source table (first key: 'tl' = 0x746c).
CREATE FUNCTION tile_lock_key(source text) RETURNS integer
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$ SELECT hashtext(source) $$;

-- Before a tile is rendered: the data version, or NULL when an edit of SOURCES is in flight (an
-- editor holds its table's lock shared until it commits). The version is read before the locks are
-- tried: an editor takes its lock before it takes a version, so it is either seen or later.
CREATE FUNCTION tile_begin_render(sources text[]) RETURNS bigint
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    seen bigint := (SELECT last_value FROM tile_data_version);
    source text;
    free boolean := true;
BEGIN
    FOREACH source IN ARRAY sources LOOP
        IF pg_try_advisory_lock(29804, tile_lock_key(source)) THEN
            PERFORM pg_advisory_unlock(29804, tile_lock_key(source));
        ELSE
            free := false;
        END IF;
    END LOOP;
    RETURN CASE WHEN free THEN seen END;
END
$$;

-- Whether a cached tile (its tables, envelope, version) has been changed by a committed edit since.
CREATE FUNCTION tile_stale(tables text[], envelope geometry, data_version bigint) RETURNS boolean
LANGUAGE sql STABLE AS $$
    SELECT EXISTS (SELECT 1 FROM tile_invalidations i
                   WHERE i.source = ANY(tables) AND i.geom && envelope AND i.version > data_version
                     AND ST_Intersects(i.geom, envelope))
$$;

-- Drop stale cached tiles and the log entries older than KEEP (a tile render never takes that long).
CREATE FUNCTION tile_prune(keep interval DEFAULT '5 minutes') RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    upto bigint := (SELECT max(version) FROM tile_invalidations WHERE created_at < now() - keep);
    dropped integer;
BEGIN
    IF upto IS NULL THEN
        RETURN 0;
    END IF;
    DELETE FROM tile_cache c WHERE c.data_version < upto AND EXISTS (
        SELECT 1 FROM tile_invalidations i WHERE i.version <= upto AND i.source = ANY(c.tables)
          AND i.geom && c.envelope AND i.version > c.data_version AND ST_Intersects(i.geom, c.envelope));
    GET DIAGNOSTICS dropped = ROW_COUNT;
    DELETE FROM tile_invalidations WHERE version <= upto;
    RETURN dropped;
END
$$;

-- G cut in halves (across its longer side) until each piece has at most MAX_VERTICES points.
-- ST_ClipByBox2D is fast and tolerates invalid input (ST_Subdivide's overlay fails on it and is 10x
-- slower here); its pieces may be invalid, and ST_AsMVTGeom makes the tile's geometry valid.
CREATE FUNCTION tile_split(g geometry, max_vertices integer, depth integer DEFAULT 0) RETURNS SETOF geometry
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
DECLARE
    box box2d;
    mid double precision;
    halves box2d[];
    half box2d;
    piece geometry;
BEGIN
    IF g IS NULL OR ST_IsEmpty(g) THEN
        RETURN;
    END IF;
    IF ST_NPoints(g) <= max_vertices OR depth >= 16 THEN
        RETURN NEXT g;
        RETURN;
    END IF;
    box := box2d(g);
    IF ST_XMax(box) - ST_XMin(box) >= ST_YMax(box) - ST_YMin(box) THEN
        mid := (ST_XMin(box) + ST_XMax(box)) / 2;
        halves := ARRAY[ST_MakeBox2D(ST_Point(ST_XMin(box), ST_YMin(box)), ST_Point(mid, ST_YMax(box))),
                        ST_MakeBox2D(ST_Point(mid, ST_YMin(box)), ST_Point(ST_XMax(box), ST_YMax(box)))];
    ELSE
        mid := (ST_YMin(box) + ST_YMax(box)) / 2;
        halves := ARRAY[ST_MakeBox2D(ST_Point(ST_XMin(box), ST_YMin(box)), ST_Point(ST_XMax(box), mid)),
                        ST_MakeBox2D(ST_Point(ST_XMin(box), mid), ST_Point(ST_XMax(box), ST_YMax(box)))];
    END IF;
    FOREACH half IN ARRAY halves LOOP
        piece := ST_ClipByBox2D(g, half);
        RETURN QUERY SELECT tile_split(piece, max_vertices, depth + 1);
    END LOOP;
END
$$;

-- The pieces of G per band, in EPSG:3857: simplified and split.
CREATE FUNCTION tile_generalise(g geometry) RETURNS TABLE (band smallint, geom geometry)
LANGUAGE plpgsql STABLE PARALLEL SAFE AS $$
DECLARE
    m geometry := ST_Transform(g, 3857);
    b record;
    s geometry;
BEGIN
    FOR b IN SELECT * FROM tile_bands ORDER BY tile_bands.band LOOP
        s := CASE WHEN b.tolerance_m > 0 THEN ST_Simplify(m, b.tolerance_m, true) ELSE m END;
        CONTINUE WHEN s IS NULL OR ST_IsEmpty(s);
        IF b.subdivide_vertices IS NULL THEN
            band := b.band;
            geom := s;
            RETURN NEXT;
        ELSE
            RETURN QUERY SELECT b.band, piece FROM tile_split(s, b.subdivide_vertices) AS piece;
        END IF;
    END LOOP;
END
$$;

CREATE FUNCTION tile_parts_ready() RETURNS boolean
LANGUAGE sql STABLE AS $$ SELECT EXISTS (SELECT 1 FROM datasets WHERE name = 'tile-geometry') $$;

-- After each statement on a source table: invalidate the cached tiles the old and new geometry
-- touch and, for divisions and boundary lines, refresh their generalised pieces.
-- TG_ARGV[0]: the geometry column; TG_ARGV[1]: 'parts' when the table has generalised pieces.
CREATE FUNCTION tile_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    geom_col text := TG_ARGV[0];
    changed text;
    version bigint;
    rows_changed bigint;
BEGIN
    PERFORM pg_advisory_xact_lock_shared(29804, tile_lock_key(TG_TABLE_NAME));
    version := nextval('tile_data_version');
    IF TG_ARGV[1] = 'parts' AND tile_parts_ready() THEN
        IF TG_OP IN ('UPDATE', 'DELETE') THEN
            DELETE FROM tile_parts WHERE source = TG_TABLE_NAME AND source_id IN (SELECT id FROM old_rows);
        END IF;
        IF TG_OP IN ('INSERT', 'UPDATE') THEN
            EXECUTE format(
                'INSERT INTO tile_parts (source, source_id, class, band, geom) '
                'SELECT %L, n.id, n.level::text, p.band, p.geom FROM new_rows n '
                'CROSS JOIN LATERAL tile_generalise(n.%I) p '
                'WHERE n.valid_to IS NULL AND n.%I IS NOT NULL', TG_TABLE_NAME, geom_col, geom_col);
        END IF;
    END IF;
    changed := CASE TG_OP
        WHEN 'INSERT' THEN format('SELECT %I AS g FROM new_rows', geom_col)
        WHEN 'DELETE' THEN format('SELECT %I AS g FROM old_rows', geom_col)
        ELSE format('SELECT %I AS g FROM old_rows UNION ALL SELECT %I FROM new_rows', geom_col, geom_col)
    END;
    EXECUTE format('SELECT count(*) FROM (%s) ch WHERE g IS NOT NULL', changed) INTO rows_changed;
    IF rows_changed <= 1000 THEN
        EXECUTE format('INSERT INTO tile_invalidations (version, source, geom) '
                       'SELECT $1, %L, g FROM (%s) ch WHERE g IS NOT NULL', TG_TABLE_NAME, changed) USING version;
    ELSE
        -- a bulk statement: the extent of its rows per 0.01° cell (about 1 km), a few hundred entries
        EXECUTE format('INSERT INTO tile_invalidations (version, source, geom) '
                       'SELECT $1, %L, ST_SetSRID(ST_Extent(g)::geometry, 4490) FROM (%s) ch WHERE g IS NOT NULL '
                       'GROUP BY floor(ST_XMin(g) * 100), floor(ST_YMin(g) * 100)',
                       TG_TABLE_NAME, changed) USING version;
    END IF;
    RETURN NULL;
END
$$;

CREATE FUNCTION tile_truncated() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_advisory_xact_lock_shared(29804, tile_lock_key(TG_TABLE_NAME));
    DELETE FROM tile_parts WHERE source = TG_TABLE_NAME;
    INSERT INTO tile_invalidations (version, source, geom)
    VALUES (nextval('tile_data_version'), TG_TABLE_NAME, ST_MakeEnvelope(-1000, -1000, 1000, 1000, 4490));
    RETURN NULL;
END
$$;

-- Points are read from the base tables; addresses need a GiST index matching the collection's filter.
CREATE INDEX addresses_tile_point ON addresses USING gist (point) WHERE valid_to IS NULL AND NOT reserved;
"""

TRIGGERS = """
CREATE TRIGGER {t}_tiles_insert AFTER INSERT ON {t} REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION tile_changed('{g}', '{p}');
CREATE TRIGGER {t}_tiles_update AFTER UPDATE ON {t} REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION tile_changed('{g}', '{p}');
CREATE TRIGGER {t}_tiles_delete AFTER DELETE ON {t} REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION tile_changed('{g}', '{p}');
CREATE TRIGGER {t}_tiles_truncate AFTER TRUNCATE ON {t} FOR EACH STATEMENT EXECUTE FUNCTION tile_truncated();
"""

DOWNGRADE = """
DROP INDEX addresses_tile_point;
DROP FUNCTION tile_changed() CASCADE;
DROP FUNCTION tile_truncated() CASCADE;
DROP FUNCTION tile_parts_ready();
DROP FUNCTION tile_generalise(geometry);
DROP FUNCTION tile_split(geometry, integer, integer);
DROP FUNCTION tile_begin_render(text[]);
DROP FUNCTION tile_stale(text[], geometry, bigint);
DROP FUNCTION tile_prune(interval);
DROP FUNCTION tile_lock_key(text);
DROP SEQUENCE tile_data_version;
DROP TABLE tile_invalidations;
DROP TABLE tile_cache;
DROP TABLE tile_parts;
DROP TABLE tile_bands;
DELETE FROM datasets WHERE name = 'tile-geometry';
"""


def upgrade() -> None:
    """Create the tile tables, functions and the invalidation triggers on the source tables."""
    op.execute(UPGRADE)
    for table, geom, parts in SOURCES:
        op.execute(TRIGGERS.format(t=table, g=geom, p="parts" if parts else "-"))


def downgrade() -> None:
    """Drop them (the triggers go with their functions)."""
    op.execute(DOWNGRADE)
