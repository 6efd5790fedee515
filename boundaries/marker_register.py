"""The marker register (界桩登记): listing and search, one marker with its history, photos and open repair
task, registering and editing markers, and the numbering checks of §9 rules 39 and 40.

Rule 39: a number is the line's 4-character number, a 3-digit sequence and a type code; one sequence is
a single Q, a pair {A, B} (A standing in the party with the smaller code) or a triple {C, D, E}.
Rule 40: sequences start at 001 and run W→E or N→S. Which one is a design choice: a line whose east–west
extent (metres) is at least its north–south extent is numbered by longitude ascending, any other by
latitude descending (`line_axis`); the demo markers are numbered the same way.
"""

from __future__ import annotations

import datetime as dt
import math
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from typing import Any

from sqlalchemy import Connection, text
from sqlalchemy.orm import Session

from boundaries import datums
from boundaries.divisions import check_point
from boundaries.lines import LEVELS, parse_line_id
from boundaries.markers import (
    STATUSES,
    TYPES,
    Marker,
    NewMarker,
    change_marker,
    get_marker,
    parse_number,
    register_marker,
)
from data.errors import Conflict, InvalidInput, NotFound

DB = Session | Connection
MAX_PAGE = 200
# A marker is registered where the line runs: farther than this from the (approximate, derived) line it
# is refused. 1 km covers the demo polygons' error and markers set back from a river or road line.
MAX_OFFSET_M = 1000.0
# A register position is CGCS2000 or WGS84 (kept as it is, datum recorded); GCJ-02 and older datums
# must be transformed before a marker is registered.
REGISTER_DATUMS = ("CGCS2000", "WGS84")
EDITABLE = ("reference_objects", "reference_objects_complete", "precision_m", "managing_party")
SOURCE = "THK-17796 (GB/T 17796-2009, as summarised); §9 rules 39–40"
PAIR, TRIPLE = {"A", "B"}, {"C", "D", "E"}


# ---------------------------------------------------------------- views


@dataclass(frozen=True, slots=True)
class MarkerView(Marker):
    """A marker as listed: the register's fields plus its dates."""

    erected_on: str | None
    retired_on: str | None
    updated_at: str

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready dict with a GeoJSON point (lon/lat, CGCS2000)."""
        return asdict(self) | {"geometry": {"type": "Point", "coordinates": [self.lon, self.lat]}}


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    """One version of a marker: what changed, by whom, from which source."""

    version: int
    changed: dict[str, Any]
    status: str
    lon: float
    lat: float
    source: str
    source_ref: str | None
    reason: str | None
    actor: str
    at: str

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return asdict(self)


@dataclass(frozen=True, slots=True)
class Photo:
    """A photo of a marker (stored once in `attachments` by SHA-256)."""

    sha256: str
    filename: str
    caption: str | None
    source_ref: str | None
    added_at: str

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return asdict(self)


@dataclass(slots=True)
class MarkerDetail:
    """A marker with its history (newest first), photos and open repair task."""

    marker: MarkerView
    history: list[HistoryEntry]
    photos: list[Photo]
    open_repair_task: dict[str, Any] | None

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return self.marker.as_dict() | {"history": [h.as_dict() for h in self.history],
                                        "photos": [p.as_dict() for p in self.photos],
                                        "open_repair_task": self.open_repair_task}


@dataclass(frozen=True, slots=True)
class MarkerPage:
    """A keyset page of markers by number and the cursor of the next page (None on the last)."""

    items: list[MarkerView]
    next_after: str | None


_SELECT = """
SELECT id, number, line_id, seq, type, type_code, side_code, tri_junction_id, ST_X(geom) AS lon, ST_Y(geom) AS lat,
       source_datum, precision_m, managing_party, reference_objects, reference_objects_complete, status, version,
       erected_on::text AS erected_on, retired_on::text AS retired_on, updated_at::text AS updated_at
FROM markers
"""


def check_status(status: str | None) -> str | None:
    """STATUS if it is a marker status (or None), else a 422 listing them."""
    if status is not None and status not in STATUSES:
        raise InvalidInput(f"status must be one of {'、'.join(STATUSES)}",
                           errors=[{"field": "status", "message": f"unknown status {status!r}"}])
    return status



def list_markers(db: DB, line_id: str | None = None, status: str | None = None,
                 bbox: tuple[float, float, float, float] | None = None, after: str | None = None,
                 limit: int = 50) -> MarkerPage:
    """Markers by number, filtered by line, status and bounding box (lon/lat), LIMIT per page."""
    check_status(status)
    if line_id is not None:
        parse_line_id(line_id)
    limit = max(1, min(limit, MAX_PAGE))
    where, params = ["TRUE"], {"n": limit + 1}
    if line_id is not None:
        where.append("line_id = :line_id")
        params["line_id"] = line_id
    if status is not None:
        where.append("status = :status")
        params["status"] = status
    if bbox is not None:
        where.append("geom && ST_MakeEnvelope(:x0, :y0, :x1, :y1, 4490)")
        params.update(dict(zip(("x0", "y0", "x1", "y1"), bbox, strict=True)))
    if after is not None:
        where.append("number > :after")
        params["after"] = after
    rows = db.execute(text(_SELECT + f"WHERE {' AND '.join(where)} ORDER BY number LIMIT :n"), params).all()
    items = [MarkerView(**r._mapping) for r in rows[:limit]]
    return MarkerPage(items, items[-1].number if len(rows) > limit else None)


def marker_view(db: DB, number: str) -> MarkerView:
    """One marker by number; 422 if the number is malformed, 404 if there is none."""
    parse_number(number)
    row = db.execute(text(_SELECT + "WHERE number = :n"), {"n": number}).first()
    if row is None:
        raise NotFound(f"marker {number} does not exist")
    return MarkerView(**row._mapping)


def marker_history(db: DB, number: str) -> list[HistoryEntry]:
    """Every version of the marker, newest first."""
    marker = marker_view(db, number)
    rows = db.execute(text("""
        SELECT h.version, h.changed, h.status, ST_X(h.geom) AS lon, ST_Y(h.geom) AS lat, h.source, h.source_ref,
               h.reason, h.actor, h.at::text AS at
        FROM marker_history h JOIN markers m ON m.id = h.marker_id
        WHERE m.number = :n ORDER BY h.version DESC"""), {"n": marker.number}).all()
    return [HistoryEntry(**r._mapping) for r in rows]


def marker_detail(db: DB, number: str) -> MarkerDetail:
    """The marker with its history, photos and open repair task (if any)."""
    marker = marker_view(db, number)
    photos = [Photo(**r._mapping) for r in db.execute(text("""
        SELECT p.sha256, p.filename, p.caption, p.source_ref, p.added_at::text AS added_at
        FROM marker_photos p JOIN markers m ON m.id = p.marker_id WHERE m.number = :n
        ORDER BY p.added_at, p.sha256"""), {"n": number})]
    task = db.execute(text("""
        SELECT t.id, t.found_status, t.action, t.assigned_party, t.neighbour_party,
               t.neighbour_presence_required, t.inspection_id, t.opened_at::text AS opened_at
        FROM repair_tasks t JOIN markers m ON m.id = t.marker_id WHERE m.number = :n AND t.state = 'open'"""),
        {"n": number}).first()
    return MarkerDetail(marker, marker_history(db, number), photos, dict(task._mapping) if task else None)


# ---------------------------------------------------------------- lines as the register sees them


@dataclass(frozen=True, slots=True)
class LineRef:
    """The current line a marker belongs to."""

    line_id: str
    level: str
    left_code: str
    right_code: str
    line_number: str
    axis: str


def line_axis(db: DB, line_id: str) -> str:
    """'W→E' when the line's east–west extent (metres) is at least its north–south extent, else 'N→S'."""
    row = db.execute(text("""
        SELECT ST_XMin(e) AS x0, ST_XMax(e) AS x1, ST_YMin(e) AS y0, ST_YMax(e) AS y1
        FROM (SELECT ST_Envelope(geom) AS e FROM boundary_lines WHERE line_id = :id AND valid_to IS NULL) l"""),
        {"id": line_id}).first()
    if row is None:
        raise NotFound(f"line {line_id} does not exist (or is not current)")
    mid = math.radians((row.y0 + row.y1) / 2)
    return "W→E" if (row.x1 - row.x0) * math.cos(mid) >= (row.y1 - row.y0) else "N→S"


def axis_key(axis: str, lon: float, lat: float) -> float:
    """The value that must increase with the sequence along AXIS."""
    return lon if axis == "W→E" else -lat


def current_line(db: DB, line_id: str) -> LineRef:
    """The current line LINE_ID; 422 if malformed, 404 if there is none."""
    row = db.execute(text(
        "SELECT line_id, level, left_code, right_code, line_number FROM boundary_lines "
        "WHERE line_id = :id AND valid_to IS NULL"), {"id": parse_line_id(line_id)}).first()
    if row is None:
        raise NotFound(f"line {line_id} does not exist (or is not current)")
    return LineRef(*row, axis=line_axis(db, line_id))


def _line_by_number(db: DB, line_number: str) -> LineRef:
    line_id = db.execute(text("SELECT line_id FROM boundary_lines WHERE line_number = :n AND valid_to IS NULL"),
                         {"n": line_number}).scalar()
    if line_id is None:
        raise InvalidInput(f"no current line has the number {line_number} (the first 4 characters of the "
                           "marker number)", errors=[{"field": "number", "message": "unknown line number"}])
    return current_line(db, line_id)


def side_distances_m(db: DB, line: LineRef, lon: float, lat: float, codes: list[str]) -> dict[str, float]:
    """Metres from (LON, LAT) to each division in CODES (counties or townships; provinces via their counties)."""
    part_level = LEVELS["township"] if line.level == "township" else LEVELS["county"]
    out = {}
    for code in codes:
        pattern = code[:2] + "%" if line.level == "province" else code
        out[code] = float(db.execute(text("""
            SELECT coalesce(min(ST_Distance(p.geom::geography, pt::geography)), 'Infinity')
            FROM (SELECT ST_SetSRID(ST_MakePoint(:lon, :lat), 4490) AS pt) q
            JOIN division_parts p ON p.level = :level AND p.code LIKE :pattern AND ST_DWithin(p.geom, q.pt, 0.05)
        """), {"lon": lon, "lat": lat, "level": part_level, "pattern": pattern}).scalar_one())
    return out


# ---------------------------------------------------------------- checks (rules 39, 40)


@dataclass(frozen=True)
class Finding:
    """One breach of rule 39 or 40 on a line's markers."""

    rule: int
    code: str
    severity: str
    message: str
    line_id: str
    marker: str | None
    evidence: dict = field(hash=False)
    source: str = SOURCE

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return asdict(self)


@dataclass(frozen=True, slots=True)
class _Row:
    number: str
    seq: int
    type_code: str
    side_code: str | None
    lon: float
    lat: float
    retired: bool


def check_line_markers(db: DB, line_id: str) -> list[Finding]:
    """Rules 39 and 40 on the markers of the current line LINE_ID: numbers, pairing, sides, order."""
    line = current_line(db, line_id)
    rows = [_Row(*r) for r in db.execute(text(
        "SELECT number, seq, type_code, side_code, ST_X(geom), ST_Y(geom), retired_on IS NOT NULL FROM markers "
        "WHERE line_id = :id ORDER BY seq, type_code"), {"id": line.line_id})]
    active = [r for r in rows if not r.retired]
    found = _number_findings(line, active) + _group_findings(db, line, active) + _order_findings(line, rows, active)
    return sorted(found, key=lambda f: ({"error": 0, "warning": 1}.get(f.severity, 2), f.marker or "", f.code))


def _finding(rule: int, code: str, severity: str, message: str, line: LineRef, marker: str | None,
             **evidence: Any) -> Finding:
    return Finding(rule, code, severity, message, line.line_id, marker, evidence)


def _number_findings(line: LineRef, rows: list[_Row]) -> list[Finding]:
    return [_finding(39, "marker-line-number", "error",
                     f"界桩编号{r.number}的前4位应为本线编号{line.line_number}", line, r.number,
                     expected=line.line_number, found=r.number[:4])
            for r in rows if r.number[:4] != line.line_number]


def _group_findings(db: DB, line: LineRef, rows: list[_Row]) -> list[Finding]:
    groups: dict[int, list[_Row]] = defaultdict(list)
    for r in rows:
        groups[r.seq].append(r)
    found = []
    for seq, group in sorted(groups.items()):
        codes = {r.type_code for r in group}
        numbers = [r.number for r in group]
        if "Q" in codes and len(group) > 1:
            found.append(_finding(39, "marker-single-not-alone", "error",
                                  f"序号{seq:03d}的单立界桩(Q)与{'、'.join(numbers)}同号", line, numbers[0],
                                  seq=seq, numbers=numbers))
        elif codes & PAIR and codes != PAIR:
            found.append(_finding(39, "marker-pair-incomplete", "error",
                                  f"序号{seq:03d}的同号双立界桩应恰为A、B两根，现为{'、'.join(numbers)}", line,
                                  numbers[0], seq=seq, numbers=numbers))
        elif codes & TRIPLE and codes != TRIPLE:
            found.append(_finding(39, "marker-triple-incomplete", "error",
                                  f"序号{seq:03d}的同号三立界桩应恰为C、D、E三根，现为{'、'.join(numbers)}", line,
                                  numbers[0], seq=seq, numbers=numbers))
        if codes & PAIR:
            found += _pair_sides(db, line, [r for r in group if r.type_code in PAIR])
    return found


def _pair_sides(db: DB, line: LineRef, pair: list[_Row]) -> list[Finding]:
    """A stands in the party with the smaller code (left), B in the other: by side code and by position."""
    found = []
    for r in pair:
        own, other = (line.left_code, line.right_code) if r.type_code == "A" else (line.right_code, line.left_code)
        if r.side_code != own:
            found.append(_finding(39, "marker-pair-side", "error",
                                  f"{r.number}应立于{own}一侧(A在代码较小的一方)，登记的所在方为{r.side_code}",
                                  line, r.number, expected=own, side_code=r.side_code))
            continue
        distances = side_distances_m(db, line, r.lon, r.lat, [own, other])
        if distances[own] > distances[other]:
            found.append(_finding(39, "marker-pair-position", "error",
                                  f"{r.number}的坐标距{other}更近({distances[other]:.1f} m)，不在所登记的{own}一侧"
                                  f"({distances[own]:.1f} m)", line, r.number,
                                  side_code=own, distances_m={k: round(v, 2) for k, v in distances.items()}))
    return found


def _order_findings(line: LineRef, rows: list[_Row], active: list[_Row]) -> list[Finding]:
    found = []
    first = min((r.seq for r in rows), default=1)
    if first != 1:
        found.append(_finding(40, "marker-sequence-start", "warning",
                              f"本线界桩序号应从001起，最小序号为{first:03d}", line, None, first_seq=first))
    by_seq: dict[int, list[_Row]] = defaultdict(list)
    for r in active:
        by_seq[r.seq].append(r)
    stations = [(seq, sum(r.lon for r in g) / len(g), sum(r.lat for r in g) / len(g), g[0].number)
                for seq, g in sorted(by_seq.items())]
    word = "自西向东" if line.axis == "W→E" else "自北向南"
    for (seq, lon, lat, _), (nseq, nlon, nlat, number) in zip(stations, stations[1:], strict=False):
        if axis_key(line.axis, nlon, nlat) <= axis_key(line.axis, lon, lat):
            found.append(_finding(40, "marker-order", "warning",
                                  f"序号{nseq:03d}不在序号{seq:03d}之{'东' if line.axis == 'W→E' else '南'}"
                                  f"(本线{word}编号)", line, number, axis=line.axis, seq=seq, next_seq=nseq,
                                  position=[lon, lat], next_position=[nlon, nlat]))
    return found


def check_register(db: DB, line_id: str | None = None) -> list[Finding]:
    """Rules 39–40 on every line that has markers (or on LINE_ID), plus markers whose line is not current."""
    if line_id is not None:
        return check_line_markers(db, line_id)
    orphans = db.execute(text(
        "SELECT m.line_id, min(m.number) AS number, count(*) AS n FROM markers m WHERE m.retired_on IS NULL "
        "AND NOT EXISTS (SELECT 1 FROM boundary_lines l WHERE l.line_id = m.line_id AND l.valid_to IS NULL) "
        "GROUP BY m.line_id ORDER BY m.line_id")).all()
    found = [Finding(39, "marker-line-not-current", "error", f"界桩所属界线{o.line_id}不是现行界线({o.n}根)",
                     o.line_id, o.number, {"markers": o.n}) for o in orphans]
    lines = db.execute(text(
        "SELECT DISTINCT m.line_id FROM markers m JOIN boundary_lines l ON l.line_id = m.line_id "
        "AND l.valid_to IS NULL ORDER BY 1")).scalars().all()
    for each in lines:
        found += check_line_markers(db, each)
    return found


def summarize(findings: list[Finding]) -> dict[str, Any]:
    """Totals by severity and rule."""
    by_rule: dict[int, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for f in findings:
        by_rule[f.rule][f.severity] += 1
    return {"total": len(findings), "errors": sum(f.severity == "error" for f in findings),
            "warnings": sum(f.severity == "warning" for f in findings),
            "by_rule": {rule: dict(counts) for rule, counts in sorted(by_rule.items())}}


# ---------------------------------------------------------------- registering and editing


@dataclass(frozen=True, slots=True)
class MarkerInput:
    """A marker to register, as a client sends it."""

    number: str
    type: str
    lon: float
    lat: float
    datum: str = "CGCS2000"
    line_id: str | None = None
    side_code: str | None = None
    tri_junction_id: str | None = None
    managing_party: str | None = None
    precision_m: float | None = None
    reference_objects: tuple[dict[str, Any], ...] = ()
    erected_on: dt.date | None = None


def _field(name: str, message: str, detail: str | None = None) -> InvalidInput:
    return InvalidInput(detail or message, errors=[{"field": name, "message": message}])


def normalise_datum(datum: str) -> str:
    """CGCS2000 or WGS84 (stored as given, sub-metre apart); any other datum is a 422."""
    found = datums.canonical(datum)
    if found not in REGISTER_DATUMS:
        raise _field("datum", f"unsupported datum {datum!r}",
                     "positions must be CGCS2000 (EPSG:4490) or WGS84 (EPSG:4326, taken as CGCS2000 with the datum "
                     "recorded); transform 1980西安/1954北京 or GCJ-02 coordinates first")
    return found


def register(session: Session, data: MarkerInput, *, actor: str) -> Marker:
    """Validate number, line, type, pairing, sides and position, then register the marker (audited)."""
    number = parse_number(data.number)
    datum = normalise_datum(data.datum)
    check_point(data.lon, data.lat)
    line = _line_by_number(session, number.line_number)
    if data.line_id is not None and data.line_id != line.line_id:
        raise _field("line_id", f"number {data.number} belongs to line {line.line_id}")
    if data.type not in TYPES or number.type_code not in TYPES[data.type]:
        raise _field("type", f"type code {number.type_code} does not fit type {data.type!r}",
                     f"type {data.type!r} takes type codes {', '.join(TYPES.get(data.type, ())) or '-'}; "
                     f"types: {', '.join(TYPES)}")
    _check_pairing(session, line, number.seq, number.type_code)
    side = _side(session, line, data, number.type_code)
    _check_offset(session, line, data.lon, data.lat)
    if side is not None and number.type_code in PAIR:
        other = line.right_code if side == line.left_code else line.left_code
        distances = side_distances_m(session, line, data.lon, data.lat, [side, other])
        if distances[side] > distances[other]:
            raise _field("lon", f"the position is nearer {other} than {side}",
                         f"marker {data.number} must stand in {side} (A: the party with the smaller code, B: the "
                         f"other); the position is {distances[side]:.1f} m from {side} and {distances[other]:.1f} m "
                         f"from {other}")
    if data.erected_on is not None and data.erected_on > dt.date.today():
        raise _field("erected_on", "must not be in the future")
    party = data.managing_party or side or line.left_code
    _check_party(line, party, data.tri_junction_id)
    return register_marker(session, NewMarker(
        data.number, line.line_id, data.type, float(data.lon), float(data.lat), party, source_datum=datum,
        precision_m=data.precision_m, side_code=side, tri_junction_id=data.tri_junction_id,
        reference_objects=tuple(data.reference_objects),
        erected_on=data.erected_on.isoformat() if data.erected_on else None), actor=actor)


def _check_pairing(db: DB, line: LineRef, seq: int, type_code: str) -> None:
    codes = set(db.execute(text(
        "SELECT type_code FROM markers WHERE line_id = :id AND seq = :seq AND retired_on IS NULL"),
        {"id": line.line_id, "seq": seq}).scalars())
    if type_code in codes:
        raise Conflict(f"line {line.line_id} has marker {line.line_number}{seq:03d}{type_code} already")
    family = {"Q"} if type_code == "Q" else PAIR if type_code in PAIR else TRIPLE
    if codes - family:
        raise _field("number", f"sequence {seq:03d} is used by type codes {', '.join(sorted(codes))}",
                     f"sequence {seq:03d} of line {line.line_id} holds {', '.join(sorted(codes))}: a sequence is one "
                     "single Q, a pair A/B or a triple C/D/E (rule 39)")


def _side(db: DB, line: LineRef, data: MarkerInput, type_code: str) -> str | None:
    """The division the marker stands in: A → the smaller code, B → the larger; C/D/E as given."""
    if type_code in PAIR:
        expected = line.left_code if type_code == "A" else line.right_code
        if data.side_code not in (None, expected):
            raise _field("side_code", f"{type_code} stands in {expected}",
                         f"an {type_code} marker stands in {expected} (A: the party with the smaller code)")
        return expected
    allowed = {line.left_code, line.right_code}
    if data.tri_junction_id is not None:
        codes = db.execute(text("SELECT codes FROM tri_junctions WHERE id = :id"), {"id": data.tri_junction_id}).scalar()
        if codes is None:
            raise _field("tri_junction_id", f"no tri-junction {data.tri_junction_id}")
        if not {line.left_code, line.right_code} <= set(codes):
            raise _field("tri_junction_id", f"tri-junction {data.tri_junction_id} is not on line {line.line_id}")
        allowed = set(codes)
    elif data.type == "三交点":
        raise _field("tri_junction_id", "a 三交点 marker names its tri-junction")
    if type_code in TRIPLE and data.side_code is None:
        raise _field("side_code", "a C/D/E marker names the division it stands in")
    if data.side_code is not None and data.side_code not in allowed:
        raise _field("side_code", f"must be one of {', '.join(sorted(allowed))}")
    return data.side_code


def _check_offset(db: DB, line: LineRef, lon: float, lat: float) -> None:
    metres = float(db.execute(text(
        "SELECT ST_Distance(geom::geography, ST_SetSRID(ST_MakePoint(:lon, :lat), 4490)::geography) "
        "FROM boundary_lines WHERE line_id = :id AND valid_to IS NULL"),
        {"lon": lon, "lat": lat, "id": line.line_id}).scalar_one())
    if metres > MAX_OFFSET_M:
        raise _field("lon", f"{metres:.0f} m from the line",
                     f"the position is {metres:.0f} m from line {line.line_id}; a marker stands within "
                     f"{MAX_OFFSET_M:.0f} m of its line (send lon first, then lat)")


def _check_party(line: LineRef, party: str, tri_junction_id: str | None) -> None:
    allowed = {line.left_code, line.right_code} | (set(tri_junction_id.split("-")) if tri_junction_id else set())
    if party not in allowed:
        raise _field("managing_party", f"must be one of {', '.join(sorted(allowed))}")


def edit_marker(session: Session, number: str, base_version: int, changes: dict[str, Any], *,
                actor: str) -> Marker:
    """Change reference objects, precision or managing party of the marker at BASE_VERSION (409 when stale)."""
    parse_number(number)
    unknown = sorted(set(changes) - set(EDITABLE))
    if unknown:
        raise InvalidInput(f"only {', '.join(EDITABLE)} can be edited here",
                           errors=[{"field": f, "message": "not editable"} for f in unknown])
    marker = get_marker(session, number=number, lock=True)
    if base_version != marker.version:
        raise Conflict(f"marker {number} is at version {marker.version}, not {base_version}; reload it and "
                       "apply the change again", extra={"current_version": marker.version})
    if "managing_party" in changes:
        line = current_line(session, marker.line_id)
        _check_party(line, changes["managing_party"], marker.tri_junction_id)
    return change_marker(session, marker.id, changes, source="manual", actor=actor)
