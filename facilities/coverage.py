"""Coverage analysis (domain.md §9 rule 51): which residential addresses lie within 300 / 500 / 1,000 m
(and the asked radius) of an operating facility of the asked types, straight-line and along the walking
network, per division one level below the one asked; plus the gap list.

A residential address is a current, non-reserved address element at level `plate` or `building`; a
division's are those whose village code starts with its code prefix. Straight-line distances are
geodesic, to the nearest facility found in bulk (`facilities.nearest`). Network
distances: one pgRouting driving-distance run from a virtual source joined to every facility's nearest
vertex (edge cost = that snap distance), so a vertex's cost is its walk to the nearest facility; an
address is covered at R when the cost of its nearest vertex plus its own snap distance is ≤ R.

Population (where loaded) is weighted by addresses: a village's covered population is its population
times its share of covered addresses; a division above sums its villages (or uses its own row).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import shapely
from sqlalchemy import Connection, text
from sqlalchemy.orm import Session

from data.errors import InvalidInput
from facilities.divisions import Division, children, get_division, townships, village_kind, villages
from facilities.model import RADII_M, CoverageReport, DivisionCoverage, FacilityType, Gap
from facilities.nearest import GEOD, nearest_metres
from facilities.network import network_edges_in, pgrouting_installed
from facilities.types import MEAL_POINT, SOCIAL_WORK, check_type_codes, types_by_code

MIN_RADIUS_M, MAX_RADIUS_M = 50, 5000
LARGE_VILLAGE = 3000   # §8 plans: a village this populous should have a meal point (issue 7)
M_PER_DEG = 111_320.0
# `code LIKE` as well: a code starts with its village code, and its text_pattern_ops index serves prefixes.
RESIDENTIAL = ("a.valid_to IS NULL AND a.level IN ('plate', 'building') AND NOT a.reserved "
               "AND a.village_code LIKE :prefix AND a.code LIKE :prefix")
OPERATING = "f.valid_to IS NULL AND f.status = 'operating' AND f.type_code = ANY(:types)"


@dataclass
class _Village:
    """Per-village working numbers."""

    code: str
    addresses: int = 0
    covered: dict[int, int] = field(default_factory=dict)
    network: dict[int, int] | None = None
    lon: float | None = None
    lat: float | None = None
    population: int | None = None


def _no_jit(db) -> None:
    """Skip JIT for this transaction: the spatial joins' cost estimates trigger seconds of compiling."""
    db.execute(text("SET LOCAL jit = off"))


def check_radius(radius_m: int | None, default: int) -> int:
    """RADIUS_M (or DEFAULT) when within 50–5000 m, else a 422."""
    radius = default if radius_m is None else radius_m
    if not isinstance(radius, int) or not MIN_RADIUS_M <= radius <= MAX_RADIUS_M:
        raise InvalidInput(f"radius must be {MIN_RADIUS_M}–{MAX_RADIUS_M} m",
                           errors=[{"field": "radius", "message": f"{radius_m} is not {MIN_RADIUS_M}–{MAX_RADIUS_M}"}])
    return radius


def _extent(db, prefix: str) -> tuple[float, float, float, float] | None:
    row = db.execute(text(
        f"SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) FROM (SELECT ST_Extent(a.point) AS e "
        f"FROM addresses a WHERE {RESIDENTIAL}) q"), {"prefix": prefix + "%"}).first()
    return None if row is None or row[0] is None else tuple(float(v) for v in row)


def _margin_deg(radius_m: float, lat: float) -> float:
    """Degrees that cover RADIUS_M in every direction at latitude LAT (longitude degrees are the shorter)."""
    from math import cos, radians

    return radius_m / (M_PER_DEG * max(cos(radians(min(abs(lat), 85.0))), 0.05))


@dataclass(frozen=True)
class _Points:
    """Residential addresses (in code order) and facility points, as arrays."""

    village: np.ndarray
    lon: np.ndarray
    lat: np.ndarray
    fac_lon: np.ndarray
    fac_lat: np.ndarray


def _points(db, prefix: str, codes: list[str], far: float, extent: tuple[float, float, float, float]) -> _Points:
    homes = db.execute(text(f"SELECT a.village_code, ST_X(a.point), ST_Y(a.point) FROM addresses a "
                            f"WHERE {RESIDENTIAL} ORDER BY a.code"), {"prefix": prefix + "%"}).all()
    margin = _margin_deg(far, max(abs(extent[1]), abs(extent[3])))
    facilities = db.execute(text(
        f"SELECT ST_X(f.geom), ST_Y(f.geom) FROM facilities f WHERE {OPERATING} "
        "AND f.geom && ST_MakeEnvelope(:x0, :y0, :x1, :y1, 4490)"),
        {"types": codes, "x0": extent[0] - margin, "y0": extent[1] - margin, "x1": extent[2] + margin,
         "y1": extent[3] + margin}).all()
    return _Points(np.array([h[0] for h in homes]), np.array([h[1] for h in homes], dtype=float),
                   np.array([h[2] for h in homes], dtype=float), np.array([f[0] for f in facilities], dtype=float),
                   np.array([f[1] for f in facilities], dtype=float))


def _distances(points: _Points, far: float) -> np.ndarray:
    counties = np.array([v[:6] for v in points.village]) if len(points.village) else points.village
    return nearest_metres(counties, points.lon, points.lat, points.fac_lon, points.fac_lat, far)


def _straight(points: _Points, radii: Sequence[int]) -> dict[str, _Village]:
    """Per village: residential addresses, those within each radius of a facility, and their centroid."""
    distance = _distances(points, max(radii))
    stats: dict[str, _Village] = {}
    # homes come in code order, so each village's are one run
    villages_, starts, sizes = np.unique(points.village, return_index=True, return_counts=True)
    for village, start, size in zip(villages_, starts, sizes, strict=True):
        run = slice(start, start + size)
        near = distance[run]
        stats[str(village)] = _Village(str(village), int(size), {r: int((near <= r).sum()) for r in radii},
                                       None, float(points.lon[run].mean()), float(points.lat[run].mean()))
    return stats


def _network(db, points: _Points, radii: Sequence[int],
             extent: tuple[float, float, float, float]) -> dict[str, dict[int, int]] | None:
    """Per village: residential addresses within each radius along the network (None: no network here)."""
    if not pgrouting_installed(db):
        return None
    far = max(radii)
    margin = _margin_deg(far, max(abs(extent[1]), abs(extent[3])))
    box = (extent[0] - margin, extent[1] - margin, extent[2] + margin, extent[3] + margin)
    if network_edges_in(db, box) == 0:
        return None
    vertices = db.execute(text("SELECT id, ST_X(geom), ST_Y(geom) FROM network_vertices "
                               "WHERE geom && ST_MakeEnvelope(:x0, :y0, :x1, :y1, 4490)"),
                          dict(zip(("x0", "y0", "x1", "y1"), box, strict=True))).all()
    snap = _Snapper(vertices)
    sources = [(vid, d) for vid, d in zip(*snap.nearest(points.fac_lon, points.fac_lat), strict=True) if d <= far]
    cost = _walk_costs(db, sources, box, far) if sources else {}
    counts: dict[str, dict[int, int]] = {}
    for village, vid, d in zip(points.village, *snap.nearest(points.lon, points.lat), strict=True):
        row = counts.setdefault(str(village), dict.fromkeys(radii, 0))
        walk = cost.get(vid)
        if walk is not None:
            for r in radii:
                row[r] += walk + d <= r
    return counts


class _Snapper:
    """Nearest network vertex of points, on a local equirectangular plane; distances geodesic (GRS80)."""

    def __init__(self, vertices: list) -> None:
        self.ids = np.array([v[0] for v in vertices], dtype=np.int64)
        self.lon = np.array([v[1] for v in vertices], dtype=float)
        self.lat = np.array([v[2] for v in vertices], dtype=float)
        self.scale = float(np.cos(np.radians(self.lat.mean()))) if len(vertices) else 1.0
        self.tree = shapely.STRtree(shapely.points(self.lon * self.scale, self.lat))

    def nearest(self, lon: np.ndarray, lat: np.ndarray) -> tuple[list[int], list[float]]:
        """Vertex ids nearest to the points and the distances to them in metres."""
        if not len(lon) or not len(self.ids):
            return [], []
        found = self.tree.query_nearest(shapely.points(lon * self.scale, lat), all_matches=False)
        index = found[1][np.argsort(found[0], kind="stable")]
        _, _, metres = GEOD.inv(lon, lat, self.lon[index], self.lat[index])
        return self.ids[index].tolist(), metres.tolist()


def _walk_costs(db, sources: list[tuple[int, float]], box: tuple[float, ...], far: float) -> dict[int, float]:
    """Walking metres from the nearest facility to every vertex within FAR: one pgRouting run from a virtual
    source 0 joined to each facility's vertex by an edge as long as the facility's snap distance."""
    # Edges SQL is text for pgRouting; every value in it is a number computed here, none from the user.
    virtual = ", ".join(f"({-(i + 1)}::bigint, 0::bigint, {vid}::bigint, {d!r}::float8, {d!r}::float8)"
                        for i, (vid, d) in enumerate(sources))
    edges_sql = (
        "SELECT id, source, target, cost, reverse_cost FROM network_edges WHERE geom && "
        f"ST_MakeEnvelope({box[0]!r}, {box[1]!r}, {box[2]!r}, {box[3]!r}, 4490) UNION ALL "
        f"SELECT * FROM (VALUES {virtual}) AS v(id, source, target, cost, reverse_cost)")
    rows = db.execute(text("SELECT node, agg_cost FROM pgr_drivingDistance(:edges, 0, :far, false)"),
                      {"edges": edges_sql, "far": float(far)})
    return {int(node): float(cost) for node, cost in rows}


def _populations(db, prefix: str) -> dict[str, int]:
    return dict(db.execute(text("SELECT code, population FROM division_population WHERE code LIKE :p"),
                           {"p": prefix + "%"}).all())


def _aggregate(division: Division, items: list[_Village], radii: Sequence[int], network: bool,
               own_population: int | None) -> DivisionCoverage:
    addresses = sum(v.addresses for v in items)
    covered = {r: sum(v.covered.get(r, 0) for v in items) for r in radii}
    net = {r: sum((v.network or {}).get(r, 0) for v in items) for r in radii} if network else None
    weighted = [v for v in items if v.population is not None]
    if weighted:
        population = sum(v.population for v in weighted)
        pop_covered = {r: round(sum(v.population * v.covered.get(r, 0) / v.addresses
                                    for v in weighted if v.addresses)) for r in radii}
    elif own_population is not None:
        population = own_population
        pop_covered = {r: round(own_population * covered[r] / addresses) if addresses else 0 for r in radii}
    else:
        population, pop_covered = None, None
    return DivisionCoverage(division.code, division.name, division.level, addresses, covered, net, population,
                            pop_covered)


def coverage_report(session: Session | Connection, division: str, type_codes: list[str] | None = None,
                    radius_m: int | None = None) -> CoverageReport:
    """Coverage of DIVISION's children by operating facilities of TYPE_CODES (default: all types) within
    300 / 500 / 1,000 m and RADIUS_M (default: the largest default radius of the types), and the gap list."""
    top = get_division(session, division)
    kinds = check_type_codes(session, type_codes)
    _no_jit(session)
    radius = check_radius(radius_m, max(t.default_radius_m for t in kinds))
    codes = [t.code for t in kinds]
    radii = tuple(sorted({*RADII_M, radius}))
    extent = _extent(session, top.prefix)
    points = _points(session, top.prefix, codes, max(radii), extent) if extent else None
    stats = _straight(points, radii) if points else {}
    net = _network(session, points, radii, extent) if points else None
    populations = _populations(session, top.prefix)
    for code, population in populations.items():
        if len(code) == 12 and code.startswith(top.prefix):
            stats.setdefault(code, _Village(code, 0, dict.fromkeys(radii, 0))).population = population
    for village in stats.values():
        village.network = (net or {}).get(village.code, dict.fromkeys(radii, 0)) if net is not None else None
    rows = []
    for child in children(session, top) if top.level < 5 else [top]:
        items = [v for v in stats.values() if v.code.startswith(child.prefix)]
        rows.append(_aggregate(child, items, radii, net is not None, populations.get(child.code)))
    total = _aggregate(top, list(stats.values()), radii, net is not None, populations.get(top.code))
    gaps = find_gaps(session, top, kinds, radius, stats)
    facilities = session.execute(text(f"SELECT count(*) FROM facilities f WHERE {OPERATING} "
                                      "AND f.division_code LIKE :prefix"),
                                 {"types": codes, "prefix": top.prefix + "%"}).scalar_one()
    notes = _notes(session, top, net is not None, bool(populations), stats, extent)
    return CoverageReport(top.code, top.name, tuple(codes), radius, radii, net is not None, rows, total, gaps,
                          facilities, notes)


def _notes(db, top: Division, network: bool, population: bool, stats: dict[str, _Village],
           extent) -> list[str]:
    notes = []
    if extent is None:
        notes.append("no residential addresses in this division: nothing to cover")
    if not network:
        notes.append("no walking network loaded here" + ("" if pgrouting_installed(db) else " (pgRouting is not "
                     "installed)") + ": network shares are null; `gazetteer facilities import-network FILE`")
    if not population:
        notes.append("no population loaded: shares by address only; `gazetteer facilities import-population`")
    missing = sum(1 for v in villages(db, top) if not stats.get(v.code) or not stats[v.code].addresses)
    if missing:
        notes.append(f"{missing} villages or communities have no residential addresses in the library: their "
                     "coverage is unknown (listed as gaps unless a facility of the type is recorded in them)")
    notes.append("rule 52 (elderly-facility floor area per 100 households) is not checked: no project floor "
                 "areas are recorded")
    return notes


def _nearest(db, codes: list[str], points: list[tuple[str, float, float]]) -> dict[str, float]:
    """The distance (m) from each point to the nearest operating facility of CODES."""
    if not points:
        return {}
    rows = db.execute(text(
        "SELECT p.code, (SELECT min(ST_Distance(f.geom::geography, ST_SetSRID(ST_MakePoint(p.lon, p.lat), "
        "4490)::geography)) FROM (SELECT f.geom FROM facilities f WHERE " + OPERATING +
        " ORDER BY f.geom <-> ST_SetSRID(ST_MakePoint(p.lon, p.lat), 4490) LIMIT 8) f) AS d "
        "FROM unnest(CAST(:codes AS text[]), CAST(:lons AS float8[]), CAST(:lats AS float8[])) AS p(code, lon, lat)"),
        {"types": codes, "codes": [p[0] for p in points], "lons": [p[1] for p in points],
         "lats": [p[2] for p in points]})
    return {r.code: float(r.d) for r in rows if r.d is not None}


def _holders(db, codes: list[str], prefix: str) -> set[str]:
    """Division codes that hold an operating facility of CODES, with every division above them (so a
    membership test answers "is there one inside this division" without scanning)."""
    held = db.execute(text(f"SELECT DISTINCT f.division_code FROM facilities f WHERE {OPERATING} "
                           "AND f.division_code LIKE :prefix"), {"types": codes, "prefix": prefix + "%"}).scalars()
    return {code[:n] for code in held for n in (2, 4, 6, 9, 12) if n <= len(code)}


def find_gaps(db: Session | Connection, top: Division, kinds: list[FacilityType], radius: int,
              stats: dict[str, _Village]) -> list[Gap]:
    """Communities and villages with no facility of KINDS within RADIUS of their representative point,
    townships without a social-work station, large villages without a meal point within reach."""
    codes = [t.code for t in kinds]
    all_villages = villages(db, top)
    placed = [(v.code, stats[v.code].lon, stats[v.code].lat) for v in all_villages
              if v.code in stats and stats[v.code].lon is not None]
    nearest = _nearest(db, codes, placed)
    holders = _holders(db, codes, top.prefix)
    names = ", ".join(t.name for t in kinds)
    gaps = []
    for v in all_villages:
        info = stats.get(v.code)
        gap = _village_gap(v, info, nearest.get(v.code), radius, names, holders)
        if gap:
            gaps.append(gap)
    gaps.extend(_social_work_gaps(db, top))
    gaps.extend(_meal_gaps(db, top, kinds, radius, all_villages, stats))
    return gaps


def _village_gap(v: Division, info: _Village | None, distance: float | None, radius: int, names: str,
                 holders: set[str]) -> Gap | None:
    kind = village_kind(v.code)
    population = info.population if info else None
    if info is None or info.lon is None:
        if v.code in holders:
            return None
        return Gap(v.code, v.name, 5, kind, "no_facility_in_radius",
                   f"no residential addresses in the library (representative point unknown) and no {names} "
                   "recorded in it", population, None, None, None)
    if distance is not None and distance <= radius:
        return None
    reach = f"nearest {distance:.0f} m" if distance is not None else "none at all"
    return Gap(v.code, v.name, 5, kind, "no_facility_in_radius",
               f"no {names} within {radius} m of the centre of its addresses ({reach})", population,
               None if distance is None else round(distance, 1), info.lon, info.lat)


def _social_work_gaps(db, top: Division) -> list[Gap]:
    holders = _holders(db, [SOCIAL_WORK], top.prefix)
    gaps = []
    for township in townships(db, top):
        if township.code not in holders:
            gaps.append(Gap(township.code, township.name, 4, "township", "no_social_work_station",
                            "no operating 社会工作站 inside the township", None, None, None, None))
    return gaps


def _meal_gaps(db, top: Division, kinds: list[FacilityType], radius: int, all_villages: list[Division],
               stats: dict[str, _Village]) -> list[Gap]:
    meal = types_by_code(db).get(MEAL_POINT)
    if meal is None:
        return []
    reach = radius if any(t.code == MEAL_POINT for t in kinds) else meal.default_radius_m
    large = [v for v in all_villages if village_kind(v.code) == "village" and v.code in stats
             and (stats[v.code].population or 0) >= LARGE_VILLAGE]
    placed = [(v.code, stats[v.code].lon, stats[v.code].lat) for v in large if stats[v.code].lon is not None]
    nearest = _nearest(db, [MEAL_POINT], placed)
    holders = _holders(db, [MEAL_POINT], top.prefix)
    gaps = []
    for v in large:
        info = stats[v.code]
        distance = nearest.get(v.code)
        if (distance is not None and distance <= reach) or (info.lon is None and v.code in holders):
            continue
        gaps.append(Gap(v.code, v.name, 5, "village", "large_village_without_meal_point",
                        f"{info.population} people and no 助餐点 within {reach} m"
                        + (f" (nearest {distance:.0f} m)" if distance is not None else ""),
                        info.population, None if distance is None else round(distance, 1), info.lon, info.lat))
    return gaps


def uncovered_points(session: Session | Connection, division: str, type_codes: list[str] | None, radius_m: int,
                     limit: int = 5000) -> list[tuple[float, float]]:
    """Lon/lat of DIVISION's residential addresses farther than RADIUS_M (straight-line) from every operating
    facility of TYPE_CODES, sampled evenly (every k-th in code order) when more than LIMIT."""
    top = get_division(session, division)
    codes = [t.code for t in check_type_codes(session, type_codes)]
    radius = check_radius(radius_m, radius_m)
    extent = _extent(session, top.prefix)
    if extent is None or limit <= 0:
        return []
    points = _points(session, top.prefix, codes, radius, extent)
    open_ = np.flatnonzero(_distances(points, radius) > radius)
    if len(open_) > limit:
        open_ = open_[np.linspace(0, len(open_) - 1, limit).round().astype(int)]
    return [(float(points.lon[k]), float(points.lat[k])) for k in open_]
