-- Views the peers (tipg, pygeoapi) serve in the benchmark: the same rows and properties as our
-- collections `addresses` and `counties` (maps/registry.py), current rows only. bench/ogc.py creates
-- this schema before a run and drops it afterwards.
CREATE SCHEMA IF NOT EXISTS bench;

CREATE OR REPLACE VIEW bench.addresses AS
SELECT t.code, t.level, t.name, t.full_address, t.village_code, t.county_code, t.valid_from, t.valid_to,
       t.point AS geom
FROM public.addresses t
WHERE NOT t.reserved AND t.valid_to IS NULL;

CREATE OR REPLACE VIEW bench.counties AS
SELECT t.code, t.name, t.parent_code, t.kind, t.geom_approximate, t.valid_from, t.valid_to, t.geom
FROM public.divisions t
WHERE t.level = 3 AND t.geom IS NOT NULL AND NOT t.placeholder AND t.valid_to IS NULL;

-- The tile layers carry what our tiles carry (maps/tiles.py TILE_PROPERTIES; units and rooms stand at
-- their building's point and are left out of address tiles), so every server encodes the same features.
CREATE OR REPLACE VIEW bench.address_tiles AS
SELECT t.code, t.level, t.name, t.point AS geom
FROM public.addresses t
WHERE NOT t.reserved AND t.valid_to IS NULL AND t.level NOT IN ('unit', 'room');

CREATE OR REPLACE VIEW bench.county_tiles AS
SELECT t.code, t.name, t.kind, t.parent_code, t.geom
FROM public.divisions t
WHERE t.level = 3 AND t.geom IS NOT NULL AND NOT t.placeholder AND t.valid_to IS NULL;
