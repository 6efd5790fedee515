"""Boundary lines (行政区域界线) derived from the division polygons, and the points where three meet (三交点).

A line is the shared edge of two adjacent current divisions of one level: the part of the smaller
code's boundary that lies within `TOLERANCE_DEG` of the other's polygon (so the geometry is taken
from one side, deterministically). County and township lines are cut from the polygons; a provincial
line is the union of the county lines whose two counties lie in different provinces. Lines from an
official import (`geom_approximate = false`) are never touched.

Re-deriving keeps a line's id and number (matched by line_id), closes the version whose geometry,
name or authority changed and opens a new one, and closes lines that disappeared; no row is deleted,
so markers, documents and inspections keep pointing at their line. Line numbers are never reused
(废码不用): a new line takes the next number that no line has ever carried.

Numbers (§5.3): a provincial line is numbered by its two 2-digit province codes in order ("3334"
for 浙江—安徽); county and township lines by a 4-character base-36 serial with at least one letter,
so a serial can never equal a provincial number.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import Any

from sqlalchemy import Connection, text
from sqlalchemy.orm import Session

from data import audit
from data.copy import copy_rows
from data.errors import InvalidInput, NotFound

DB = Session | Connection
# Where two polygons from different source files meet they do not coincide exactly: of 411 sampled
# shared edges ≥ 3 km, 399 lie ≥ 90 % within 1 m of the neighbour, but along some borders (重庆, 四川,
# 贵州, 湖北) up to half of an edge lies 1–100 m apart. 0.001° (~111 m N–S, ~96 m E–W at 30°N) absorbs that.
TOLERANCE_DEG = 0.001
# A pair is a line only when each side's boundary runs ≥ 500 m near the other. Measured nationally at
# the tolerance above: corners that merely touch (or come close) yield up to ~430 m of fake shared edge
# with < 5 m of it actually coinciding; a real edge measures its length plus ~200 m (the stubs past its
# two ends), so a real edge shorter than ~300 m is dropped too, which the approximate polygons cannot
# resolve anyway. Lengths compared with these thresholds are measured on the sphere (3.5× faster than on
# the spheroid, < 0.3 % apart); `length_m` is measured on the CGCS2000 spheroid.
MIN_SHARED_M = 500.0
# A connected piece of a line shorter than this is dropped: where a boundary comes near the neighbour
# without sharing an edge (a corner elsewhere, a tiny enclave) it leaves a few hundred metres.
MIN_COMPONENT_M = 500.0
# Boundary pieces per division: fewer vertices per piece make the spatial join more selective, more
# pieces make it longer; 256 measured fastest nationally (ST_Subdivide of the boundary 7 s vs 12 s at 64).
PIECE_VERTICES = 256
# Overlapping pieces of one boundary (cut by neighbouring buffered parts) are joined on a 1 cm grid
# (~1e-7°): with floating-point noding they leave slivers that split a line into hundreds of parts.
GRID_DEG = 1e-7
LEVELS = {"province": 1, "county": 3, "township": 4}
LINE_ID = re.compile(r"^([0-9]{6}|[0-9]{9}|[0-9]{12})-([0-9]{6}|[0-9]{9}|[0-9]{12})$")
LINE_ID_HELP = "a line id is the two parties' division codes in order joined by '-', e.g. 330102-330105"
BASE36 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
STATE_COUNCIL = "国务院"
DERIVE_STEPS = 7  # progress steps of a county or township derivation (a provincial one has 2)
_LOCK = "gazetteer.boundary_lines"


def parse_line_id(value: str) -> str:
    """VALUE if it is a well-formed line id (smaller code first), else a 422 naming the pattern."""
    match = LINE_ID.match(value or "")
    if not match or match.group(1) >= match.group(2):
        raise InvalidInput(f"{value!r} is not a line id: {LINE_ID_HELP} (smaller code first)",
                           errors=[{"field": "line_id", "message": "expected ^[0-9]{6,12}-[0-9]{6,12}$, "
                                                                   "smaller code first"}])
    return value


def check_level(level: str) -> str:
    """LEVEL if it is a line level, else a 422 listing them."""
    if level not in LEVELS:
        raise InvalidInput(f"level must be one of {', '.join(LEVELS)}",
                           errors=[{"field": "level", "message": f"unknown line level {level!r}"}])
    return level


def _prefixes(within: str | Sequence[str] | None) -> list[str] | None:
    if within is None:
        return None
    values = [within] if isinstance(within, str) else list(within)
    if not values or not all(re.fullmatch(r"[0-9]{1,12}", v) for v in values):
        raise InvalidInput("within takes division code prefixes (digits), e.g. 3301",
                           errors=[{"field": "within", "message": f"got {within!r}"}])
    return values


def serial_number(index: int) -> str:
    """The INDEX-th 4-character base-36 string (0 → '0000')."""
    digits = []
    for _ in range(4):
        index, rest = divmod(index, 36)
        digits.append(BASE36[rest])
    return "".join(reversed(digits))


def serial_numbers(used: set[str]) -> Iterator[str]:
    """County/township line numbers in order: base-36, at least one letter, none in USED."""
    for index in range(36**4):
        candidate = serial_number(index)
        if not candidate.isdigit() and candidate not in used:
            yield candidate


def provincial_number(left_code: str, right_code: str) -> str:
    """The number of a provincial line: the two 2-digit province codes in order ("3334")."""
    return left_code[:2] + right_code[:2]


# ---------------------------------------------------------------- names and authorities


@dataclass(frozen=True, slots=True)
class Party:
    """A division as a line party: its name, and the name with its parent when the name is not unique."""

    code: str
    name: str
    qualified: str
    ambiguous: bool
    province: str
    county: str | None


def parties(db: DB, codes: Sequence[str], division_level: int) -> dict[str, Party]:
    """The current divisions CODES of DIVISION_LEVEL as line parties."""
    codes = sorted(set(codes))
    if not codes:
        return {}
    rows = db.execute(text("""
        SELECT d.code, d.name, p.name AS parent_name, p.placeholder AS parent_placeholder,
               pr.name AS province_name, c.name AS county_name
        FROM divisions d
        LEFT JOIN divisions p ON p.code = d.parent_code AND p.level = d.level - 1 AND p.valid_to IS NULL
        LEFT JOIN divisions pr ON pr.code = substr(d.code, 1, 2) || '0000' AND pr.level = 1
                               AND pr.valid_to IS NULL
        LEFT JOIN divisions c ON c.code = substr(d.code, 1, 6) AND c.level = 3 AND c.valid_to IS NULL
                              AND d.level > 3
        WHERE d.code = ANY(:codes) AND d.level = :level AND d.valid_to IS NULL
    """), {"codes": codes, "level": division_level}).all()
    names = [r.name for r in rows]
    shared = set(db.execute(text(
        "SELECT name FROM divisions WHERE level = :level AND valid_to IS NULL AND name = ANY(:names) "
        "GROUP BY name HAVING count(*) > 1"), {"level": division_level, "names": names}).scalars())
    found = {}
    for r in rows:
        # Under 市辖区 / 省直辖县级行政区划 the grouping row says nothing; the province does.
        parent = r.province_name if r.parent_placeholder or r.parent_name is None else r.parent_name
        ambiguous = r.name in shared and division_level > 1
        found[r.code] = Party(r.code, r.name, f"{parent}{r.name}" if ambiguous else r.name, ambiguous,
                              r.province_name or "", r.county_name)
    return found


def line_name(left: Party, right: Party) -> str:
    """"{left}—{right}线"; a name other divisions of the level share (two equal names included) takes its
    parent's name in front (杭州市西湖区), so the line name says which division is meant."""
    return f"{left.qualified}—{right.qualified}线"


def approving_authority(level: str, left: Party, right: Party) -> str:
    """Who approves the line: provincial → 国务院; county → the province's government (国务院 when the two
    counties are in two provinces: the line is part of a provincial line); township → the county's
    government (a design choice; the province or 国务院 when the townships are in two counties/provinces)."""
    if level == "province" or left.code[:2] != right.code[:2]:
        return STATE_COUNCIL
    if level == "county" or left.code[:6] != right.code[:6]:
        return f"{left.province}人民政府"
    return f"{left.county}人民政府"


# ---------------------------------------------------------------- deriving


class _Timed:
    """A run report with per-step timings (seconds)."""

    timings: dict[str, float]

    @property
    def seconds(self) -> float:
        """Total time of the run."""
        return round(sum(self.timings.values()), 2)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return asdict(self) | {"seconds": self.seconds}


@dataclass
class DeriveReport(_Timed):
    """What one derivation run did."""

    level: str
    within: list[str] | None
    lines: int = 0
    added: int = 0
    replaced: int = 0
    unchanged: int = 0
    closed: int = 0
    official_kept: int = 0
    dropped_pairs: int = 0
    tolerance_deg: float = TOLERANCE_DEG
    min_shared_m: float = MIN_SHARED_M
    min_component_m: float = MIN_COMPONENT_M
    timings: dict[str, float] = field(default_factory=dict)

    def summary(self) -> str:
        """Counts, parameters and timings, one line each."""
        scope = f" within {','.join(self.within)}" if self.within else ""
        steps = ", ".join(f"{k} {v:.1f} s" for k, v in self.timings.items())
        return (f"{self.level} lines{scope}: {self.lines} current ({self.added} added, {self.replaced} replaced, "
                f"{self.unchanged} unchanged, {self.closed} closed, {self.official_kept} official kept; "
                f"{self.dropped_pairs} near pairs below {self.min_shared_m:g} m dropped)\n"
                f"tolerance {self.tolerance_deg}°, minimum shared edge {self.min_shared_m:g} m, minimum "
                f"component {self.min_component_m:g} m\ntimings: {steps} (total {self.seconds:.1f} s)")


@contextmanager
def _timed(timings: dict[str, float], step: str, on_progress: Callable[[int], None] | None):
    started = time.perf_counter()
    yield
    timings[step] = round(time.perf_counter() - started, 2)
    if on_progress:
        on_progress(1)


def _temp(conn: Connection, name: str, select: str, params: dict, *, gist: bool = False) -> None:
    conn.execute(text(f"DROP TABLE IF EXISTS {name}"))
    conn.execute(text(f"CREATE TEMP TABLE {name} ON COMMIT DROP AS {select}"), params)
    if gist:
        conn.execute(text(f"CREATE INDEX ON {name} USING gist (geom)"))
    conn.execute(text(f"ANALYZE {name}"))


_MATCHES = "(CAST(:patterns AS text[]) IS NULL OR {col} LIKE ANY(CAST(:patterns AS text[])))"


def _match(column: str) -> str:
    return _MATCHES.format(col=column)


def _scope_sql() -> str:
    # Neighbours of the divisions in scope by bounding box only (index-only and fast); a few extra
    # divisions cost little, since only pairs with a party in scope are intersected.
    near_scope = ("d.code IN (SELECT n.code FROM divisions c JOIN divisions n ON n.level = c.level "
                  "AND n.valid_to IS NULL AND n.geom && ST_Expand(c.geom, :tol) "
                  f"WHERE c.level = :dlevel AND c.valid_to IS NULL AND c.geom IS NOT NULL AND {_match('c.code')})")
    # The county-level copies of 东莞/中山/儋州/嘉峪关 are placeholders in the statistics but carry the
    # only polygon of that territory at county level, so they take part (2,838 county polygons).
    return (f"SELECT d.code, d.geom, d.geom_source FROM divisions d WHERE d.level = :dlevel "
            f"AND d.valid_to IS NULL AND d.geom IS NOT NULL AND ({_match('d.code')} OR {near_scope})")


def _shared_edges(conn: Connection, params: dict, timings: dict, on_progress) -> None:
    """bl_pairs(left_code, right_code, geom, len_left, len_right): every near pair, both directions measured."""
    with _timed(timings, "scope", on_progress):
        _temp(conn, "bl_scope", _scope_sql(), params)
    with _timed(timings, "boundary pieces", on_progress):
        _temp(conn, "bl_pieces", "SELECT code, ST_Subdivide(ST_Boundary(geom), :vertices) AS geom FROM bl_scope",
              params, gist=True)
    with _timed(timings, "buffered parts", on_progress):
        _temp(conn, "bl_near", "SELECT p.code, ST_Buffer(p.geom, :tol, 'quad_segs=2') AS geom "
                               "FROM division_parts p JOIN bl_scope s USING (code) WHERE p.level = :dlevel",
              params, gist=True)
    with _timed(timings, "intersections", on_progress):
        _temp(conn, "bl_hits", f"""
            SELECT a.code AS a, n.code AS b, ST_CollectionExtract(ST_Intersection(a.geom, n.geom), 2) AS geom
            FROM bl_pieces a JOIN bl_near n ON ST_Intersects(a.geom, n.geom) AND a.code <> n.code
            WHERE {_match('a.code')} OR {_match('n.code')}""", params)
    with _timed(timings, "pairs", on_progress):
        _temp(conn, "bl_dir", """
            SELECT a, b, geom, ST_Length(geom::geography, false) AS len FROM (
                SELECT a, b, ST_LineMerge(ST_Union(geom, :grid)) AS geom FROM bl_hits
                WHERE NOT ST_IsEmpty(geom) GROUP BY a, b) u""", params)
        _temp(conn, "bl_pairs", """
            SELECT f.a AS left_code, f.b AS right_code, f.geom, f.len AS len_left, r.len AS len_right
            FROM bl_dir f JOIN bl_dir r ON r.a = f.b AND r.b = f.a WHERE f.a < f.b""", params)


def _kept_components(conn: Connection, params: dict, timings: dict, on_progress) -> int:
    """bl_new(line_id, left_code, right_code, geom, length_m, geom_source); returns the pairs dropped as short."""
    with _timed(timings, "components", on_progress):
        dropped = conn.execute(text(
            "SELECT count(*) FROM bl_pairs WHERE least(len_left, len_right) < :min_shared"), params).scalar_one()
        _temp(conn, "bl_new", f"""
            WITH parts AS (
                SELECT left_code, right_code, d.geom,
                       ST_ClusterDBSCAN(d.geom, 0, 1) OVER (PARTITION BY left_code, right_code) AS cluster
                FROM bl_pairs, ST_Dump(geom) d
                WHERE least(len_left, len_right) >= :min_shared
                  AND ({_match('left_code')} OR {_match('right_code')})
            ), measured AS (
                SELECT *, sum(ST_Length(geom::geography, false)) OVER (PARTITION BY left_code, right_code, cluster) AS l
                FROM parts
            ), kept AS (
                SELECT left_code, right_code, ST_Multi(ST_LineMerge(ST_Collect(geom))) AS geom
                FROM measured WHERE l >= :min_component GROUP BY left_code, right_code
            )
            SELECT k.left_code || '-' || k.right_code AS line_id, k.left_code, k.right_code, k.geom,
                   ST_Length(k.geom::geography) AS length_m,
                   'derived: shared edge (tolerance ' || :tol || '°) of '
                       || coalesce(s.geom_source, 'polygons of unrecorded source') AS geom_source
            FROM kept k JOIN bl_scope s ON s.code = k.left_code""", params)
    return dropped


def _provincial_lines(conn: Connection, params: dict, timings: dict, on_progress) -> None:
    """bl_new for provincial lines: the union of the county lines whose counties are in two provinces."""
    with _timed(timings, "provincial union", on_progress):
        _temp(conn, "bl_new", f"""
            SELECT l || '-' || r AS line_id, l AS left_code, r AS right_code, geom,
                   ST_Length(geom::geography) AS length_m,
                   'derived: union of the county lines between the two provinces' AS geom_source
            FROM (
                SELECT substr(left_code, 1, 2) || '0000' AS l, substr(right_code, 1, 2) || '0000' AS r,
                       ST_Multi(ST_LineMerge(ST_Union(geom, :grid))) AS geom
                FROM boundary_lines
                WHERE level = 'county' AND valid_to IS NULL AND substr(left_code, 1, 2) <> substr(right_code, 1, 2)
                GROUP BY 1, 2) u
            WHERE {_match('l')} OR {_match('r')}""", params)


@dataclass(frozen=True, slots=True)
class _Attributes:
    line_id: str
    line_number: str
    name: str
    approving_authority: str


def _attributes(conn: Connection, level: str, current: dict[str, str]) -> list[_Attributes]:
    """Name, authority and number of every derived line: kept from the current line, else assigned."""
    rows = conn.execute(text("SELECT line_id, left_code, right_code FROM bl_new ORDER BY line_id")).all()
    division_level = LEVELS[level]
    found = parties(conn, [c for r in rows for c in (r.left_code, r.right_code)], division_level)
    used = set(conn.execute(text("SELECT line_number FROM boundary_lines")).scalars())
    # A line that comes back takes its own last number again unless another current line holds it.
    former = dict(conn.execute(text(
        "SELECT DISTINCT ON (line_id) line_id, line_number FROM boundary_lines WHERE valid_to IS NOT NULL "
        "AND line_id = ANY(:ids) ORDER BY line_id, valid_to DESC, id DESC"),
        {"ids": [r.line_id for r in rows]}).all())
    held = set(current.values())
    serials = serial_numbers(used)
    out = []
    for r in rows:
        left, right = found[r.left_code], found[r.right_code]
        if level == "province":
            number = provincial_number(r.left_code, r.right_code)
        elif r.line_id in current:
            number = current[r.line_id]
        elif r.line_id in former and former[r.line_id] not in held:
            number = former[r.line_id]
        else:
            number = next(serials)
        held.add(number)
        out.append(_Attributes(r.line_id, number, line_name(left, right), approving_authority(level, left, right)))
    return out


def _apply(conn: Connection, level: str, params: dict, report: DeriveReport, timings: dict, on_progress) -> None:
    """Replace the current derived lines of LEVEL in scope by bl_new; official lines stay."""
    with _timed(timings, "write", on_progress):
        existing = conn.execute(text(f"SELECT line_id, line_number, geom_approximate FROM boundary_lines o "
                                     f"WHERE {_line_scope('o')}"), params).all()
        official = {r.line_id for r in existing if not r.geom_approximate}
        conn.execute(text("DELETE FROM bl_new WHERE line_id = ANY(:ids)"), {"ids": sorted(official)})
        report.official_kept = len(official)
        current = {r.line_id: r.line_number for r in existing if r.geom_approximate}
        conn.execute(text("DROP TABLE IF EXISTS bl_attr"))
        conn.execute(text("CREATE TEMP TABLE bl_attr (line_id text PRIMARY KEY, line_number text, name text, "
                          "approving_authority text) ON COMMIT DROP"))
        copy_rows(conn, "bl_attr", ("line_id", "line_number", "name", "approving_authority"),
                  ((a.line_id, a.line_number, a.name, a.approving_authority)
                   for a in _attributes(conn, level, current)))
        _close_and_insert(conn, params, report)


def _line_scope(alias: str) -> str:
    """The current lines of the run's level with a party in scope."""
    return (f"{alias}.level = :level AND {alias}.valid_to IS NULL "
            f"AND ({_match(alias + '.left_code')} OR {_match(alias + '.right_code')})")


def _close_and_insert(conn: Connection, params: dict, report: DeriveReport) -> None:
    changed = f"""
        SELECT o.id, o.line_id FROM boundary_lines o JOIN bl_new n USING (line_id) JOIN bl_attr a USING (line_id)
        WHERE {_line_scope('o')} AND o.geom_approximate
          AND (o.name <> a.name OR o.approving_authority <> a.approving_authority
               OR NOT (ST_OrderingEquals(o.geom, n.geom)
                       OR (abs(o.length_m - n.length_m) < 0.01 AND ST_Equals(o.geom, n.geom))))"""
    replaced = conn.execute(text(f"""
        WITH c AS ({changed})
        UPDATE boundary_lines b SET valid_to = current_date FROM c WHERE b.id = c.id
        RETURNING b.line_id, b.last_inspection, b.inspection_cycle_years"""), params).all()
    report.replaced = len(replaced)
    report.closed = conn.execute(text(f"""
        UPDATE boundary_lines o SET valid_to = current_date
        WHERE {_line_scope('o')} AND o.geom_approximate AND o.line_id NOT IN (SELECT line_id FROM bl_new)"""),
        params).rowcount
    carried = {r.line_id: (r.last_inspection, r.inspection_cycle_years) for r in replaced}
    conn.execute(text("DROP TABLE IF EXISTS bl_carry"))
    conn.execute(text("CREATE TEMP TABLE bl_carry (line_id text PRIMARY KEY, last_inspection date, "
                      "inspection_cycle_years smallint) ON COMMIT DROP"))
    copy_rows(conn, "bl_carry", ("line_id", "last_inspection", "inspection_cycle_years"),
              ((k, *v) for k, v in carried.items()))
    inserted = conn.execute(text("""
        INSERT INTO boundary_lines (line_id, level, left_code, right_code, line_number, name, geom, length_m,
                                    approving_authority, last_inspection, inspection_cycle_years, geom_source,
                                    geom_approximate)
        SELECT n.line_id, :level, n.left_code, n.right_code, a.line_number, a.name, n.geom, n.length_m,
               a.approving_authority, c.last_inspection, coalesce(c.inspection_cycle_years, 5), n.geom_source, true
        FROM bl_new n JOIN bl_attr a USING (line_id) LEFT JOIN bl_carry c USING (line_id)
        WHERE NOT EXISTS (SELECT 1 FROM boundary_lines o WHERE o.line_id = n.line_id AND o.valid_to IS NULL)
        ORDER BY n.line_id"""), params).rowcount
    report.added = inserted - report.replaced
    report.unchanged = conn.execute(text("SELECT count(*) FROM bl_new")).scalar_one() - inserted
    report.lines = conn.execute(text(f"SELECT count(*) FROM boundary_lines o WHERE {_line_scope('o')}"),
                                params).scalar_one()


def derive_lines(conn: Connection, *, level: str = "county", within: str | Sequence[str] | None = None,
                 on_progress: Callable[[int], None] | None = None, actor: str = audit.SYSTEM) -> DeriveReport:
    """Replace the derived lines of LEVEL (optionally only those with a party under a WITHIN prefix) by the
    shared edges of the current polygons (provincial: the union of cross-province county lines)."""
    check_level(level)
    patterns = _prefixes(within)
    if level == "province" and patterns:
        patterns = sorted({p[:2] for p in patterns})
    report = DeriveReport(level, patterns)
    timings: dict[str, float] = {}
    params = {"level": level, "dlevel": LEVELS[level], "tol": TOLERANCE_DEG, "vertices": PIECE_VERTICES,
              "grid": GRID_DEG, "min_shared": MIN_SHARED_M, "min_component": MIN_COMPONENT_M,
              "patterns": [p + "%" for p in patterns] if patterns else None}
    conn.execute(text("SELECT pg_advisory_xact_lock(hashtext(:k))"), {"k": _LOCK})
    if level == "province":
        _provincial_lines(conn, params, timings, on_progress)
    else:
        _shared_edges(conn, params, timings, on_progress)
        report.dropped_pairs = _kept_components(conn, params, timings, on_progress)
    _apply(conn, level, params, report, timings, on_progress)
    report.timings = timings
    _record(conn, report, actor)
    return report


def _record(conn: Connection, report: DeriveReport, actor: str) -> None:
    name = f"boundary-lines-{report.level}"
    conn.execute(text(
        "INSERT INTO datasets (name, version, source, terms, row_count, details) "
        "VALUES (:n, CAST(current_date AS text), :s, :t, :c, CAST(:d AS jsonb)) ON CONFLICT (name) DO UPDATE SET "
        "version = EXCLUDED.version, source = EXCLUDED.source, terms = EXCLUDED.terms, "
        "row_count = EXCLUDED.row_count, details = EXCLUDED.details, loaded_at = now()"
    ), {"n": name, "s": "derived by gazetteer (boundaries/lines.py) from the current division polygons",
        "t": "approximate: shared edges of the demo polygons (see dataset demo-polygons), not the official 详图",
        "c": conn.execute(text("SELECT count(*) FROM boundary_lines WHERE level = :l AND valid_to IS NULL"),
                          {"l": report.level}).scalar_one(),
        "d": json.dumps(report.as_dict(), ensure_ascii=False)})
    audit.record(conn, actor=actor, action="derive", entity_type="boundary_lines", entity_id=report.level,
                 after=report.as_dict())


# ---------------------------------------------------------------- tri-junctions (三交点)


@dataclass
class TriJunctionReport(_Timed):
    """What one tri-junction run did."""

    level: str
    within: list[str] | None
    count: int = 0
    added: int = 0
    moved: int = 0
    removed: int = 0
    kept_for_markers: int = 0
    timings: dict[str, float] = field(default_factory=dict)

    def summary(self) -> str:
        """One line."""
        steps = ", ".join(f"{k} {v:.1f} s" for k, v in self.timings.items())
        return (f"{self.level} tri-junctions: {self.count} ({self.added} added, {self.moved} moved, "
                f"{self.removed} removed, {self.kept_for_markers} gone but kept for their markers)\n"
                f"timings: {steps} (total {self.seconds:.1f} s)")


_TRIPLE_LINES = """
    EXISTS (SELECT 1 FROM boundary_lines l WHERE l.valid_to IS NULL AND l.line_id = {t}[1] || '-' || {t}[2])
    AND EXISTS (SELECT 1 FROM boundary_lines l WHERE l.valid_to IS NULL AND l.line_id = {t}[1] || '-' || {t}[3])
    AND EXISTS (SELECT 1 FROM boundary_lines l WHERE l.valid_to IS NULL AND l.line_id = {t}[2] || '-' || {t}[3])
"""


def _triple_lines(column: str) -> str:
    return _TRIPLE_LINES.format(t=column)


def _division_triples(conn: Connection, params: dict, timings: dict) -> None:
    """tj_points(codes, geom): where a line's end lies within the tolerance of a third division."""
    step = _stepper(conn, params, timings)
    step("line ends", "tj_ends", f"""
        SELECT l.left_code, l.right_code, e.pt
        FROM boundary_lines l
        CROSS JOIN LATERAL ST_Dump(l.geom) c
        CROSS JOIN LATERAL (VALUES (ST_StartPoint(c.geom)), (ST_EndPoint(c.geom))) e(pt)
        WHERE {_line_scope('l')}""")
    step("third divisions", "tj_hits", """
        SELECT (SELECT array_agg(c ORDER BY c) FROM unnest(ARRAY[e.left_code, e.right_code, t.code]) c) AS codes, e.pt
        FROM tj_ends e
        CROSS JOIN LATERAL (SELECT DISTINCT p.code FROM division_parts p
                            WHERE p.level = :dlevel AND ST_DWithin(p.geom, e.pt, :tol)
                              AND p.code NOT IN (e.left_code, e.right_code)) t""")
    step("triples", "tj_codes", f"SELECT codes FROM (SELECT DISTINCT codes FROM tj_hits) c WHERE "
                                f"{_triple_lines('codes')}")
    # Ends of one triple far apart (the three meet at two places) form clusters; the largest one is kept.
    step("clusters", "tj_triples", """
        SELECT DISTINCT ON (codes) codes, ST_Centroid(ST_Collect(pt)) AS j0 FROM (
            SELECT h.codes, h.pt, ST_ClusterDBSCAN(h.pt, 3 * :tol, 1) OVER (PARTITION BY h.codes) AS cluster
            FROM tj_hits h JOIN tj_codes USING (codes)) c
        GROUP BY codes, cluster ORDER BY codes, count(*) DESC, min(ST_X(pt))""")
    # The ends of the three lines lie up to ~a tolerance along the boundaries away from the meeting point;
    # of the three polygons' vertices near the ends' centroid (and the centroid itself), the one nearest
    # to all three polygons is the point (where the polygons coincide, a vertex all three share).
    step("meeting points", "tj_points", """
        SELECT t.codes, best.pt AS geom FROM tj_triples t
        CROSS JOIN LATERAL (
            SELECT v.pt FROM (
                SELECT t.j0 AS pt
                UNION ALL
                SELECT d.geom FROM division_parts p CROSS JOIN LATERAL ST_DumpPoints(p.geom) d
                WHERE p.level = :dlevel AND p.code = ANY(t.codes) AND p.geom && ST_Expand(t.j0, 3 * :tol)
                  AND ST_DWithin(d.geom, t.j0, 3 * :tol)
            ) v
            ORDER BY (SELECT sum(coalesce((SELECT min(ST_Distance(p.geom, v.pt)) FROM division_parts p
                                           WHERE p.level = :dlevel AND p.code = c
                                             AND ST_DWithin(p.geom, v.pt, 3 * :tol)), 3 * :tol))
                      FROM unnest(t.codes) c), ST_X(v.pt), ST_Y(v.pt)
            LIMIT 1) best""")


def _stepper(conn: Connection, params: dict, timings: dict) -> Callable[[str, str, str], None]:
    def step(name: str, table: str, select: str) -> None:
        with _timed(timings, name, None):
            _temp(conn, table, select, params)

    return step


def _provincial_triples(conn: Connection, params: dict, timings: dict) -> None:
    """tj_points for provinces: the county tri-junctions whose three counties are in three provinces."""
    _stepper(conn, params, timings)("county tri-junctions", "tj_points", f"""
        SELECT DISTINCT ON (codes) codes, geom FROM (
            SELECT (SELECT array_agg(DISTINCT substr(c, 1, 2) || '0000' ORDER BY substr(c, 1, 2) || '0000')
                    FROM unnest(codes) c) AS codes, id, geom
            FROM tri_junctions WHERE level = 'county') x
        WHERE cardinality(codes) = 3 AND {_triple_lines('codes')}
          AND (CAST(:patterns AS text[]) IS NULL
               OR EXISTS (SELECT 1 FROM unnest(codes) c WHERE c LIKE ANY(CAST(:patterns AS text[]))))
        ORDER BY codes, id""")


def derive_tri_junctions(conn: Connection, level: str = "county", *, within: str | Sequence[str] | None = None
                         ) -> TriJunctionReport:
    """Replace the tri-junctions of LEVEL by the points where three current lines' divisions meet; a point
    that disappeared stays while a marker refers to it. Provincial ones come from the county ones."""
    check_level(level)
    patterns = _prefixes(within)
    if level == "province" and patterns:
        patterns = sorted({p[:2] for p in patterns})
    params = {"level": level, "dlevel": LEVELS[level], "tol": TOLERANCE_DEG,
              "patterns": [p + "%" for p in patterns] if patterns else None}
    conn.execute(text("SELECT pg_advisory_xact_lock(hashtext(:k))"), {"k": _LOCK})
    report = TriJunctionReport(level, patterns)
    if level == "province":
        _provincial_triples(conn, params, report.timings)
    else:
        _division_triples(conn, params, report.timings)
    with _timed(report.timings, "write", None):
        _store_tri_junctions(conn, params, report)
    audit.record(conn, actor=audit.SYSTEM, action="derive", entity_type="tri_junctions", entity_id=level,
                 after=report.as_dict())
    return report


def _store_tri_junctions(conn: Connection, params: dict, report: TriJunctionReport) -> None:
    in_scope = ("t.level = :level AND (CAST(:patterns AS text[]) IS NULL OR EXISTS "
                "(SELECT 1 FROM unnest(t.codes) c WHERE c LIKE ANY(CAST(:patterns AS text[]))))")
    gone = conn.execute(text(f"""
        SELECT t.id, EXISTS (SELECT 1 FROM markers m WHERE m.tri_junction_id = t.id) AS referenced
        FROM tri_junctions t
        WHERE {in_scope} AND t.id NOT IN (SELECT array_to_string(codes, '-') FROM tj_points)"""), params).all()
    removable = [r.id for r in gone if not r.referenced]
    conn.execute(text("DELETE FROM tri_junctions WHERE id = ANY(:ids)"), {"ids": removable})
    report.removed, report.kept_for_markers = len(removable), len(gone) - len(removable)
    rows = conn.execute(text("""
        INSERT INTO tri_junctions AS t (id, level, codes, geom)
        SELECT array_to_string(codes, '-'), :level, codes, geom FROM tj_points
        ON CONFLICT (id) DO UPDATE SET geom = EXCLUDED.geom, codes = EXCLUDED.codes
        WHERE NOT ST_Equals(t.geom, EXCLUDED.geom)
        RETURNING (xmax = 0) AS inserted"""), params).scalars().all()
    report.added = sum(rows)
    report.moved = len(rows) - report.added
    report.count = conn.execute(text(f"SELECT count(*) FROM tri_junctions t WHERE {in_scope}"), params).scalar_one()


# ---------------------------------------------------------------- the line register (reads and line files)

MAX_PAGE = 200
DOCUMENT_KINDS = ("协议书", "详图", "界桩登记表", "界桩成果表", "联检报告", "会议纪要", "其他")
_PARTY_LEVEL = "CASE l.level WHEN 'province' THEN 1 WHEN 'county' THEN 3 ELSE 4 END"
_LINE_COLUMNS = f"""
SELECT l.line_id, l.level, l.name, l.left_code, l.right_code,
       (SELECT d.name FROM divisions d WHERE d.code = l.left_code AND d.level = {_PARTY_LEVEL}
        AND d.valid_to IS NULL) AS left_name,
       (SELECT d.name FROM divisions d WHERE d.code = l.right_code AND d.level = {_PARTY_LEVEL}
        AND d.valid_to IS NULL) AS right_name,
       l.line_number, l.length_m, l.approving_authority, l.last_inspection::text AS last_inspection,
       (l.last_inspection + make_interval(years => l.inspection_cycle_years))::date::text AS next_inspection,
       l.inspection_cycle_years,
       (SELECT count(*) FROM markers m WHERE m.line_id = l.line_id AND m.retired_on IS NULL) AS marker_count,
       l.geom_approximate
"""
_LINE_SELECT = _LINE_COLUMNS + "FROM boundary_lines l\n"
_LINE_DETAIL = (_LINE_COLUMNS + ", ST_AsGeoJSON(l.geom, 7) AS g, l.geom_source, l.valid_from::text AS valid_from\n"
                "FROM boundary_lines l\n")


@dataclass(slots=True)
class LineSummary:
    """A current line as listed."""

    line_id: str
    level: str
    name: str
    parties: list[dict[str, str | None]]
    line_number: str
    length_m: float
    approving_authority: str
    last_inspection: str | None
    next_inspection: str | None
    inspection_cycle_years: int
    marker_count: int
    geom_approximate: bool

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return asdict(self)


def _summary(row) -> LineSummary:
    r = row._mapping
    return LineSummary(r["line_id"], r["level"], r["name"],
                       [{"code": r["left_code"], "name": r["left_name"]},
                        {"code": r["right_code"], "name": r["right_name"]}],
                       r["line_number"], round(r["length_m"], 1), r["approving_authority"], r["last_inspection"],
                       r["next_inspection"], r["inspection_cycle_years"], r["marker_count"], r["geom_approximate"])


@dataclass(frozen=True, slots=True)
class LinePage:
    """A keyset page of lines by line_id and the cursor of the next page (None on the last)."""

    items: list[LineSummary]
    next_after: str | None


def list_lines(db: DB, *, level: str | None = None, division_prefix: str | None = None,
               bbox: tuple[float, float, float, float] | None = None, after: str | None = None,
               limit: int = 50) -> LinePage:
    """Current lines by line_id: of LEVEL, with a party matching DIVISION_PREFIX (LIKE), crossing BBOX."""
    if level is not None:
        check_level(level)
    if after is not None:
        parse_line_id(after)
    limit = max(1, min(limit, MAX_PAGE))
    where, params = ["l.valid_to IS NULL"], {"n": limit + 1}
    if level is not None:
        where.append("l.level = :level")
        params["level"] = level
    if division_prefix is not None:
        where.append("(l.left_code LIKE :prefix OR l.right_code LIKE :prefix)")
        params["prefix"] = division_prefix
    if bbox is not None:
        where.append("l.geom && ST_MakeEnvelope(:x0, :y0, :x1, :y1, 4490)")
        params.update(dict(zip(("x0", "y0", "x1", "y1"), bbox, strict=True)))
    if after is not None:
        where.append("l.line_id > :after")
        params["after"] = after
    rows = db.execute(text(_LINE_SELECT + f"WHERE {' AND '.join(where)} ORDER BY l.line_id LIMIT :n"),
                      params).all()
    items = [_summary(r) for r in rows[:limit]]
    return LinePage(items, items[-1].line_id if len(rows) > limit else None)


@dataclass(frozen=True, slots=True)
class Document:
    """A file of a line (协议书, 详图, 登记表, 联检报告 …); the file itself is an attachment by SHA-256."""

    id: int
    line_id: str
    kind: str
    title: str
    doc_number: str | None
    signed_on: str | None
    sha256: str | None
    filename: str | None
    added_by: str
    added_at: str

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return asdict(self)


@dataclass(slots=True)
class LineDetail:
    """A current line with its geometry, source, documents and tri-junctions."""

    summary: LineSummary
    geometry: dict[str, Any]
    geom_source: str
    valid_from: str
    documents: list[Document]
    tri_junctions: list[dict[str, Any]]

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return self.summary.as_dict() | {"geometry": self.geometry, "geom_source": self.geom_source,
                                         "valid_from": self.valid_from,
                                         "documents": [d.as_dict() for d in self.documents],
                                         "tri_junctions": self.tri_junctions}


def _require_line(db: DB, line_id: str) -> None:
    if db.execute(text("SELECT 1 FROM boundary_lines WHERE line_id = :id AND valid_to IS NULL"),
                  {"id": parse_line_id(line_id)}).first() is None:
        raise NotFound(f"line {line_id} does not exist (or is not current)")


def get_line(db: DB, line_id: str) -> LineDetail:
    """One current line with its GeoJSON geometry (lon/lat), documents and tri-junctions."""
    parse_line_id(line_id)
    row = db.execute(text(_LINE_DETAIL + "WHERE l.line_id = :id AND l.valid_to IS NULL"), {"id": line_id}).first()
    if row is None:
        raise NotFound(f"line {line_id} does not exist (or is not current)")
    junctions = [{"id": j.id, "level": j.level, "codes": list(j.codes),
                  "geometry": {"type": "Point", "coordinates": [j.lon, j.lat]}}
                 for j in db.execute(text(
                     "SELECT id, level, codes, ST_X(geom) AS lon, ST_Y(geom) AS lat FROM tri_junctions "
                     "WHERE codes @> ARRAY[CAST(:l AS varchar), CAST(:r AS varchar)] ORDER BY id"),
                     {"l": row.left_code, "r": row.right_code})]
    return LineDetail(_summary(row), json.loads(row.g), row.geom_source, row.valid_from,
                      _documents(db, line_id), junctions)


def list_documents(db: DB, line_id: str) -> list[Document]:
    """The line's documents, by kind and id; 404 for an unknown line."""
    _require_line(db, line_id)
    return _documents(db, line_id)


def _documents(db: DB, line_id: str) -> list[Document]:
    return [Document(**r._mapping) for r in db.execute(text(
        "SELECT id, line_id, kind, title, doc_number, signed_on::text AS signed_on, sha256, filename, added_by, "
        "added_at::text AS added_at FROM line_documents WHERE line_id = :id ORDER BY kind, id"), {"id": line_id})]


@dataclass(frozen=True, slots=True)
class NewDocument:
    """A document to add to a line; SHA256 names a file already stored in `attachments`."""

    kind: str
    title: str
    doc_number: str | None = None
    signed_on: str | None = None
    sha256: str | None = None
    filename: str | None = None


def add_document(session: Session, line_id: str, new: NewDocument, *, actor: str) -> Document:
    """Record a document of the current line LINE_ID (audited)."""
    _require_line(session, line_id)
    if new.kind not in DOCUMENT_KINDS:
        raise InvalidInput(f"kind must be one of {'、'.join(DOCUMENT_KINDS)}",
                           errors=[{"field": "kind", "message": f"unknown document kind {new.kind!r}"}])
    if not (new.title or "").strip():
        raise InvalidInput("a document needs a title", errors=[{"field": "title", "message": "empty"}])
    doc_id = session.execute(text(
        "INSERT INTO line_documents (line_id, kind, title, doc_number, signed_on, sha256, filename, added_by) "
        "VALUES (:l, :k, :t, :n, CAST(:s AS date), :h, :f, :a) RETURNING id"),
        {"l": line_id, "k": new.kind, "t": new.title.strip(), "n": new.doc_number, "s": new.signed_on,
         "h": new.sha256, "f": new.filename, "a": actor}).scalar_one()
    audit.record(session, actor=actor, action="create", entity_type="line_document", entity_id=str(doc_id),
                 after={"line_id": line_id} | asdict(new))
    return next(d for d in list_documents(session, line_id) if d.id == doc_id)


@dataclass(frozen=True, slots=True)
class Assignment:
    """A surveyor assigned to a line (field uploads for it are allowed)."""

    line_id: str
    username: str
    assigned_by: str
    assigned_at: str

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return asdict(self)


def list_assignments(db: DB, line_id: str) -> list[Assignment]:
    """The surveyors assigned to the current line LINE_ID."""
    _require_line(db, line_id)
    return [Assignment(**r._mapping) for r in db.execute(text(
        "SELECT line_id, username, assigned_by, assigned_at::text AS assigned_at FROM line_assignments "
        "WHERE line_id = :id ORDER BY username"), {"id": line_id})]


def assign(session: Session, line_id: str, username: str, *, actor: str) -> tuple[Assignment, bool]:
    """Assign the surveyor USERNAME to the line; idempotent. Returns the assignment and whether it is new."""
    _require_line(session, line_id)
    role = session.execute(text("SELECT role FROM users WHERE username = :u AND active"), {"u": username}).scalar()
    if role is None:
        raise NotFound(f"no active user {username!r}")
    if role != "surveyor":
        raise InvalidInput(f"{username} is {role}; only surveyors are assigned lines (other staff may upload for any "
                           "line)", errors=[{"field": "username", "message": "not a surveyor"}])
    created = session.execute(text(
        "INSERT INTO line_assignments (line_id, username, assigned_by) VALUES (:l, :u, :a) "
        "ON CONFLICT (line_id, username) DO NOTHING RETURNING 1"), {"l": line_id, "u": username, "a": actor}
    ).first() is not None
    if created:
        audit.record(session, actor=actor, action="assign", entity_type="line_assignment",
                     entity_id=f"{line_id}/{username}", after={"line_id": line_id, "username": username})
    return next(a for a in list_assignments(session, line_id) if a.username == username), created


def unassign(session: Session, line_id: str, username: str, *, actor: str) -> None:
    """Remove the assignment; 404 if there is none (audited)."""
    _require_line(session, line_id)
    gone = session.execute(text(
        "DELETE FROM line_assignments WHERE line_id = :l AND username = :u RETURNING assigned_by"),
        {"l": line_id, "u": username}).first()
    if gone is None:
        raise NotFound(f"{username} is not assigned to line {line_id}")
    audit.record(session, actor=actor, action="unassign", entity_type="line_assignment",
                 entity_id=f"{line_id}/{username}", before={"line_id": line_id, "username": username,
                                                            "assigned_by": gone.assigned_by})


@dataclass(frozen=True, slots=True)
class TriJunction:
    """A point where three divisions meet."""

    id: str
    level: str
    codes: list[str]
    lon: float
    lat: float

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready dict with a GeoJSON point."""
        return asdict(self) | {"geometry": {"type": "Point", "coordinates": [self.lon, self.lat]}}


def list_tri_junctions(db: DB, *, level: str | None = None, division_prefix: str | None = None,
                       after: str | None = None, limit: int = 50) -> tuple[list[TriJunction], str | None]:
    """Tri-junctions by id, of LEVEL, with a division matching DIVISION_PREFIX (LIKE); and the next cursor."""
    if level is not None:
        check_level(level)
    limit = max(1, min(limit, MAX_PAGE))
    rows = db.execute(text("""
        SELECT id, level, codes, ST_X(geom) AS lon, ST_Y(geom) AS lat FROM tri_junctions t
        WHERE (CAST(:level AS text) IS NULL OR level = :level)
          AND (CAST(:prefix AS text) IS NULL OR EXISTS (SELECT 1 FROM unnest(t.codes) c WHERE c LIKE :prefix))
          AND (CAST(:after AS text) IS NULL OR id > :after)
        ORDER BY id LIMIT :n"""), {"level": level, "prefix": division_prefix, "after": after, "n": limit + 1}).all()
    items = [TriJunction(r.id, r.level, list(r.codes), r.lon, r.lat) for r in rows[:limit]]
    return items, items[-1].id if len(rows) > limit else None
