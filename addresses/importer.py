"""Import real address data (CSV, GeoPackage, GeoJSON, Shapefile) into the address library, all or nothing.

Each row (feature) names its deepest element: a village code plus a street and plate number, optionally
a compound, building, unit and room; or a compound with buildings below it; or a street alone. The
importer finds or creates every element above it — reusing current elements by (village, street,
number + suffix), (parent, building), … — allocates codes as the largest serial ever used + 1 (so a
retired code is never given again), and loads the new elements with COPY.

Rule 46 (domain.md §9): the village code must be a current village or community, and a plate needs a
standard street name: a current 街路巷 (0801) name of that county in `place_names`, or a street already
in the library; with `register_streets` unknown street names are registered as standard names.
Compound names are looked up among the county's 住宅区 (0703) names; a compound without one is loaded
without a `place_name_id` (counted in the report), since rule 46 only binds plates.

A row's point (or line/polygon) goes to its deepest element; an element the file does not place gets the
point of its first placed descendant, else of its parent.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
import tempfile
import time
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import shapely
from pyproj import CRS, Transformer
from pyproj.exceptions import CRSError
from sqlalchemy import Connection, text

from addresses.compose import (
    COMPOUND_CATEGORY,
    STREET_CATEGORY,
    DivisionNames,
    StandardName,
    building_name,
    division_chains,
    full_address,
    name_keys,
    plate_name,
    register_standard_names,
    room_name,
    unit_name,
)
from addresses.model import (
    COMPOUND_SERIALS,
    STREET_SERIALS,
    AddressRow,
    child_code,
    last_child_serials,
    last_street_serials,
    load_rows,
    reserve_ids,
)
from data import audit
from data.errors import InvalidInput
from placenames.inputs import today
from placenames.registry import CHINA_BOUNDS

SRID = 4490
MAX_REPORTED = 50
PROGRESS_EVERY = 1_000
# Target fields and the column names that map to them without --map (English and Chinese headers).
TARGETS: dict[str, tuple[str, ...]] = {
    "village_code": ("village_code", "村社区代码", "村(社区)代码", "村（社区）代码", "社区代码", "村居代码",
                     "村代码"),
    "street": ("street", "街路巷", "街路巷名称", "道路", "道路名称", "街巷"),
    "number": ("number", "门牌号", "门牌", "门牌号码"),
    "compound": ("compound", "小区", "小区名称", "院落", "住宅区"),
    "building": ("building", "楼栋", "楼栋号", "幢"),
    "unit": ("unit", "单元", "单元号"),
    "room": ("room", "户室", "户室号", "室号", "房号"),
    "side": ("side", "侧", "方位"),
    "lon": ("lon", "经度", "longitude", "x"),
    "lat": ("lat", "纬度", "latitude", "y"),
    "wkt": ("wkt", "WKT", "geometry_wkt"),
}
SIDES = {"N": "N", "S": "S", "E": "E", "W": "W", "北": "N", "南": "S", "东": "E", "西": "W"}
_PLATE = re.compile(r"^(\d{1,5})号?(?:(-\d{1,3}|[A-Z])号?|(之\d{1,3}|附\d{1,3}))?号?$")
_DASHES = str.maketrans({"－": "-", "—": "-", "–": "-", "‐": "-"})
_LEADING_NUMBER = re.compile(r"^(\d{1,6})")


@dataclass(slots=True)
class ImportReport:
    """What an address import did."""

    file: str
    dataset: str
    rows: int
    created: dict[str, int]
    reused: dict[str, int]
    streets_registered: int
    compounds_without_standard_name: int
    source_crs: str
    seconds: float

    def as_dict(self) -> dict:
        """JSON-ready form."""
        return {"file": self.file, "dataset": self.dataset, "rows": self.rows, "created": self.created,
                "reused": self.reused, "streets_registered": self.streets_registered,
                "compounds_without_standard_name": self.compounds_without_standard_name,
                "source_crs": self.source_crs, "seconds": round(self.seconds, 2)}


@dataclass(slots=True)
class _Record:
    """One parsed row: the element path it names and its geometry in EPSG:4490."""

    label: str
    village: str
    street: str
    number: int | None
    suffix: str
    compound: str
    building: str
    unit: str
    room: str
    side: str | None
    geom: shapely.Geometry | None


@dataclass(slots=True, eq=False)
class _Node:
    """An element of the hierarchy the file describes, existing or new."""

    level: str
    name: str
    village: str
    label: str
    parent: _Node | None = None
    street: _Node | None = None
    compound: _Node | None = None
    number: int | None = None
    suffix: str = ""
    side: str | None = None
    address_id: int | None = None
    code: str | None = None
    existing: bool = False
    point: tuple[float, float] | None = None
    geom_wkt: str | None = None
    place_name_id: int | None = None
    local: str = ""
    children: dict[tuple, _Node] = field(default_factory=dict)


class _Errors:
    """Row errors, labelled with the file's line or feature number and the field."""

    def __init__(self) -> None:
        self.items: list[dict[str, str]] = []

    def add(self, label: str, field_name: str, message: str) -> None:
        self.items.append({"field": f"{label}: {field_name}", "message": message})

    def raise_if_any(self, file: str) -> None:
        if self.items:
            ordered = sorted(self.items, key=lambda e: int(e["field"].split(":")[0].split()[-1] or 0))
            raise InvalidInput(f"{len(self.items)} problems in {file}; nothing was imported",
                               errors=ordered[:MAX_REPORTED])


def import_addresses(conn: Connection, path: Path, *, mapping: dict[str, str] | None = None,
                     layer: str | None = None, crs: str | None = None, register_streets: bool = False,
                     actor: str, on_progress: Callable[[int], None] | None = None) -> ImportReport:
    """Import the addresses in PATH in the caller's transaction; every row is checked before anything is written."""
    started = time.perf_counter()
    path = Path(path)
    columns, values, geoms, source, label = _read(path, layer, crs)
    fields = _resolve_columns(columns, mapping or {}, path.name)
    errors = _Errors()
    if geoms is None:
        geoms = _table_points(values, fields, label, errors)
    if not source.equals(CRS.from_epsg(SRID)):
        geoms = _transform(geoms, source)
    records = _records(values, fields, geoms, label, errors, on_progress)
    chains = _check_villages(conn, records, errors)
    errors.raise_if_any(path.name)
    importer = _Importer(conn, chains, path.name, actor, register_streets, errors)
    importer.build(records)
    errors.raise_if_any(path.name)
    dataset = _dataset_name(path)
    rows = importer.write(dataset)
    report = ImportReport(file=path.name, dataset=dataset, rows=len(records), created=importer.created,
                          reused=importer.reused, streets_registered=importer.registered,
                          compounds_without_standard_name=importer.unnamed_compounds,
                          source_crs=_crs_name(source), seconds=0.0)
    _record_dataset(conn, report, rows, actor)
    report.seconds = time.perf_counter() - started
    return report


# ------------------------------------------------------------------ reading

def read_text(path: Path) -> str:
    """A text file decoded as UTF-8 (with or without BOM), else GB18030 (a superset of GBK)."""
    raw = path.read_bytes()
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        try:
            return raw.decode("gb18030")
        except UnicodeDecodeError:
            raise InvalidInput(f"{path.name} is neither UTF-8 nor GBK/GB18030 text") from None


def _read(path: Path, layer: str | None, crs: str | None):
    """(columns, {column: values}, geometries or None for tables, their CRS, row label function).

    A CRS given by the caller wins over the file's (for files whose .prj is wrong); tables (CSV, or
    layers without geometry) are EPSG:4490 lon/lat unless one is given."""
    import pyogrio

    is_csv = path.suffix.lower() in (".csv", ".txt")
    target = CRS.from_epsg(SRID)
    source = _crs(crs) if crs else None
    with tempfile.TemporaryDirectory() as tmp:
        readable = path
        if is_csv:
            readable = Path(tmp) / "utf8.csv"
            readable.write_text(read_text(path), encoding="utf-8")
        try:
            frame = pyogrio.read_dataframe(readable, layer=layer, read_geometry=not is_csv)
        except Exception as exc:  # pyogrio raises several GDAL error types
            raise InvalidInput(f"cannot read {path.name}: {exc}") from None
    columns = [str(c) for c in frame.columns if c != "geometry"]
    values = {c: frame[c].tolist() for c in columns}
    geoms = None
    if not is_csv and "geometry" in frame.columns:
        file_crs = frame.crs
        if source is None and file_crs is None:
            raise InvalidInput(f"{path.name} has no CRS; give one with --crs (e.g. EPSG:4547)")
        source = source or CRS.from_user_input(file_crs)
        geoms = np.asarray(frame.geometry.values, dtype=object)
    label = (lambda i: f"line {i + 2}") if is_csv else (lambda i: f"feature {i + 1}")
    return columns, values, geoms, source or target, label


def _crs(value: str) -> CRS:
    try:
        return CRS.from_user_input(value)
    except CRSError:
        raise InvalidInput(f"unknown CRS {value!r}; use an EPSG code such as EPSG:4490 or EPSG:4547",
                           errors=[{"field": "crs", "message": "unknown coordinate reference system"}]) from None


def _crs_name(crs: CRS) -> str:
    epsg = crs.to_epsg()
    return f"EPSG:{epsg}" if epsg else crs.name


def _transform(geoms: np.ndarray, source: CRS) -> np.ndarray:
    """Geometries from SOURCE to EPSG:4490 (lon/lat order)."""
    transformer = Transformer.from_crs(source, CRS.from_epsg(SRID), always_xy=True)

    def forward(xy: np.ndarray) -> np.ndarray:
        x, y = transformer.transform(xy[:, 0], xy[:, 1])
        return np.column_stack([x, y])

    return shapely.transform(geoms, forward)


def _resolve_columns(columns: list[str], mapping: dict[str, str], file: str) -> dict[str, str]:
    """Target field → column: the mapping first, then the known English and Chinese headers."""
    unknown = sorted(set(mapping) - set(TARGETS))
    if unknown:
        raise InvalidInput(f"unknown target field(s) {', '.join(unknown)}; targets are {', '.join(TARGETS)}",
                           errors=[{"field": "mapping", "message": f"unknown target {t}"} for t in unknown])
    absent = [f"{t}={c}" for t, c in mapping.items() if c not in columns]
    if absent:
        raise InvalidInput(f"{file} has no column for {', '.join(absent)}; its columns are {', '.join(columns)}",
                           errors=[{"field": "mapping", "message": f"no column {a}"} for a in absent])
    fields = dict(mapping)
    for target, aliases in TARGETS.items():
        if target not in fields:
            found = next((c for c in columns if c.strip() in aliases or c.strip().lower() == target), None)
            if found is not None:
                fields[target] = found
    missing = [f"village_code ({TARGETS['village_code'][1]})"] if "village_code" not in fields else []
    if "street" not in fields and "compound" not in fields:
        missing.append(f"street ({TARGETS['street'][1]}) or compound ({TARGETS['compound'][1]})")
    if missing:
        raise InvalidInput(f"{file} lacks the required column(s) {'; '.join(missing)}; found "
                           f"{', '.join(columns) or 'no columns'} (map yours with --map target=column)",
                           errors=[{"field": "columns", "message": f"missing {m}"} for m in missing])
    return fields


def _cell(value) -> str:
    """A cell as stripped text: NaN/None empty, whole floats without .0, full-width forms folded."""
    if value is None or (isinstance(value, float) and (value != value)):
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return unicodedata.normalize("NFKC", str(value)).strip()


def _columns(values: dict[str, list], fields: dict[str, str]) -> dict[str, list]:
    """Target field → the values of its column (empty strings for unmapped fields)."""
    n = len(next(iter(values.values()))) if values else 0
    return {t: values[fields[t]] if t in fields else [""] * n for t in TARGETS}


def _records(values: dict[str, list], fields: dict[str, str], geoms, label, errors: _Errors,
             on_progress: Callable[[int], None] | None) -> list[_Record]:
    column = _columns(values, fields)
    n = len(column["village_code"])
    records = []
    for i in range(n):
        record = _record({t: _cell(column[t][i]) for t in TARGETS}, geoms[i], label(i), errors)
        if record is not None:
            records.append(record)
        if on_progress and (i + 1) % PROGRESS_EVERY == 0:
            on_progress(PROGRESS_EVERY)
    if on_progress and n % PROGRESS_EVERY:
        on_progress(n % PROGRESS_EVERY)
    return records


def _table_points(values: dict[str, list], fields: dict[str, str], label, errors: _Errors) -> np.ndarray:
    """Points from lon/lat or WKT cells (None where a row has none), checked to be numbers."""
    column = _columns(values, fields)
    out: list = []
    for i, (lon, lat, wkt) in enumerate(zip(column["lon"], column["lat"], column["wkt"], strict=True)):
        lon, lat, wkt = _cell(lon), _cell(lat), _cell(wkt)
        if wkt:
            try:
                out.append(shapely.from_wkt(wkt))
            except shapely.errors.GEOSException:
                errors.add(label(i), "wkt", f"{wkt[:40]!r} is not WKT")
                out.append(None)
        elif lon or lat:
            try:
                out.append(shapely.points(float(lon), float(lat)))
            except ValueError:
                errors.add(label(i), "lon/lat", f"{lon!r}, {lat!r} are not numbers")
                out.append(None)
        else:
            out.append(None)
    return np.asarray(out, dtype=object)


def _record(cells: dict[str, str], geom, label: str, errors: _Errors) -> _Record | None:
    before = len(errors.items)
    village = cells["village_code"]
    if not (village.isascii() and village.isdigit() and len(village) == 12):
        errors.add(label, "village_code", f"{village!r} is not a 12-digit village or community code")
    number, suffix = _plate_number(cells["number"], label, errors) if cells["number"] else (None, "")
    _check_path(cells, number, label, errors)
    side = SIDES.get(cells["side"].upper()) if cells["side"] else None
    if cells["side"] and side is None:
        errors.add(label, "side", f"{cells['side']!r} is not N, S, E or W (北, 南, 东, 西)")
    geom = _checked_geometry(geom, label, errors)
    if len(errors.items) > before:
        return None
    return _Record(label=label, village=village, street=cells["street"], number=number, suffix=suffix,
                   compound=cells["compound"], building=cells["building"], unit=cells["unit"], room=cells["room"],
                   side=side, geom=geom)


def _check_path(cells: dict[str, str], number: int | None, label: str, errors: _Errors) -> None:
    """The element path a row names must be complete: street + number, or compound, down to the room."""
    street, compound = cells["street"], cells["compound"]
    if number is not None and not street:
        errors.add(label, "street", "a plate number needs a street (rule 46)")
    elif number is None and not cells["number"] and street and (compound or cells["building"]):
        errors.add(label, "number", "missing: a building on a street needs its plate number")
    elif not street and not compound:
        errors.add(label, "street", "missing: give a street with a plate number, or a compound")
    for target, limit in (("street", 50), ("compound", 50), ("building", 20), ("unit", 20), ("room", 20)):
        if len(cells[target]) > limit or any(ord(ch) < 32 for ch in cells[target]):
            errors.add(label, target, f"at most {limit} characters of plain text")
    if (cells["unit"] or cells["room"]) and not cells["building"]:
        errors.add(label, "building", "missing: a unit or room needs its building")
    if cells["room"] and not cells["unit"]:
        errors.add(label, "unit", "missing: a room needs its unit")


def _plate_number(value: str, label: str, errors: _Errors) -> tuple[int | None, str]:
    """(number, suffix) of a plate written 100, 100号, 100-1, 100-1号, 100号之1, 100A; errors otherwise."""
    match = _PLATE.match(value.translate(_DASHES).replace(" ", "").upper())
    if not match or int(match.group(1)) == 0:
        errors.add(label, "number", f"{value!r} is not a plate number (100, 100号, 100-1, 100号之1)")
        return None, ""
    return int(match.group(1)), match.group(2) or match.group(3) or ""


def _checked_geometry(geom, label: str, errors: _Errors):
    if geom is None or geom.is_empty:
        return None
    minx, miny, maxx, maxy = geom.bounds
    lo_x, lo_y, hi_x, hi_y = CHINA_BOUNDS
    if not all(np.isfinite([minx, miny, maxx, maxy])) or not (
            lo_x <= minx and maxx <= hi_x and lo_y <= miny and maxy <= hi_y):
        errors.add(label, "point", f"({minx:.6g}, {miny:.6g}) in EPSG:4490 is outside China; check the CRS "
                                   "(--crs) and the lon/lat order")
        return None
    return geom


def _check_villages(conn: Connection, records: list[_Record], errors: _Errors) -> dict[str, DivisionNames]:
    """Rule 46: every village code must be a current level-5 division."""
    chains = division_chains(conn, {r.village for r in records})
    for record in records:
        if record.village not in chains:
            errors.add(record.label, "village_code",
                       f"{record.village} is not a current village or community code (rule 46)")
    return chains


# ------------------------------------------------------------------ building the hierarchy

class _Importer:
    """Builds the element tree of a file against the library, then allocates codes and writes."""

    def __init__(self, conn: Connection, chains: dict[str, DivisionNames], file: str, actor: str,
                 register_streets: bool, errors: _Errors) -> None:
        self.conn, self.chains, self.file, self.actor = conn, chains, file, actor
        self.register_streets, self.errors = register_streets, errors
        self.streets: dict[tuple[str, str], _Node] = {}
        self.compounds: dict[tuple[str, str], _Node] = {}
        self.nodes: list[_Node] = []    # every node, parents before children
        self.created = dict.fromkeys(("street", "compound", "plate", "building", "unit", "room"), 0)
        self.reused = dict(self.created)
        self.registered = 0
        self.unnamed_compounds = 0
        self.to_register: list[_Node] = []

    def build(self, records: list[_Record]) -> None:
        """Find or create every element the records name; errors for streets without a standard name."""
        counties = {r.village[:6] for r in records}
        self._load_tops(records, counties)
        for record in records:
            self._place(record)
        self._load_children()
        self._resolve_points()

    # -- streets and compounds

    def _load_tops(self, records: list[_Record], counties: set[str]) -> None:
        wanted_streets = {(r.village[:6], r.street) for r in records if r.street}
        wanted_compounds = {(r.village[:6], r.compound) for r in records if r.compound}
        existing = self.conn.execute(text(
            "SELECT address_id, code, level, name, village_code, place_name_id, ST_X(point) AS x, "
            "ST_Y(point) AS y FROM addresses WHERE valid_to IS NULL AND level IN ('street', 'compound') "
            "AND county_code = ANY(:c) AND name = ANY(:n)"),
            {"c": sorted(counties), "n": sorted({n for _, n in wanted_streets | wanted_compounds})})
        for row in existing:
            key = (row.village_code[:6], row.name)
            table = self.streets if row.level == "street" else self.compounds
            if key in (wanted_streets if row.level == "street" else wanted_compounds) and key not in table:
                table[key] = _Node(level=row.level, name=row.name, village=row.village_code, label="",
                                   address_id=row.address_id, code=row.code, existing=True,
                                   point=(row.x, row.y), place_name_id=row.place_name_id, local=row.name)
                self.nodes.append(table[key])
        self.standard = self._standard_names(counties, {n for _, n in wanted_streets | wanted_compounds})

    def _standard_names(self, counties: set[str], names: set[str]) -> dict[tuple[str, str, str], int]:
        """(county, category, name) → name_id of current standard street and compound names."""
        rows = self.conn.execute(text(
            "SELECT DISTINCT ON (left(division_code, 6), category, name) left(division_code, 6) AS county, "
            "category, name, name_id FROM place_names WHERE valid_to IS NULL AND status = 'standard' "
            "AND category IN ('0801', '0703') AND name = ANY(:n) AND left(division_code, 6) = ANY(:c) "
            "ORDER BY left(division_code, 6), category, name, name_id"),
            {"n": sorted(names), "c": sorted(counties)})
        return {(r.county, r.category, r.name): r.name_id for r in rows}

    def _top(self, record: _Record, level: str) -> _Node | None:
        county = record.village[:6]
        name = record.street if level == "street" else record.compound
        table = self.streets if level == "street" else self.compounds
        node = table.get((county, name))
        if node is not None:
            return node
        category = STREET_CATEGORY if level == "street" else COMPOUND_CATEGORY
        name_id = self.standard.get((county, category, name))
        if level == "street" and name_id is None and not self.register_streets:
            self.errors.add(record.label, "street", f"{name} is not a standard street name in county {county} "
                                                    "(rule 46); register it, or import with --register-streets")
            return None
        node = _Node(level=level, name=name, village=record.village, label=record.label,
                     place_name_id=name_id, local=name)
        table[(county, name)] = node
        self.nodes.append(node)
        if name_id is None and level == "street":
            self.to_register.append(node)
        elif name_id is None:
            self.unnamed_compounds += 1
        return node

    # -- plates and below

    def _place(self, record: _Record) -> None:
        """Walk (creating as needed) the path the record names; give its geometry to the deepest node."""
        street = self._top(record, "street") if record.street else None
        compound = self._top(record, "compound") if record.compound else None
        if (record.street and street is None) or (record.compound and compound is None):
            return
        if record.number is not None:
            node = self._child(street, ("plate", record.village, record.number, record.suffix), record,
                               level="plate", name=plate_name(record.number, record.suffix),
                               number=record.number, suffix=record.suffix)
            node.side = node.side or record.side
            above = street.name + node.name + (record.compound if compound else "")
        elif compound is not None:
            node, above = compound, compound.name
        else:
            node, above = street, street.name
        for level, value, namer in (("building", record.building, building_name), ("unit", record.unit, unit_name),
                                    ("room", record.room, room_name)):
            if not value:
                break
            name = namer(value)
            above += name
            node = self._child(node, (level, name), record, level=level, name=name,
                               number=_leading_number(value), local=above)
            node.compound = node.compound or compound
        if record.geom is not None and node.geom_wkt is None and not node.existing:
            node.geom_wkt = record.geom.wkt if node.level in ("street", "compound") and \
                record.geom.geom_type != "Point" else None
            node.point = node.point or _point_of(record.geom)

    def _child(self, parent: _Node, key: tuple, record: _Record, *, level: str, name: str,
               number: int | None, suffix: str = "", local: str | None = None) -> _Node:
        node = parent.children.get(key)
        if node is None:
            village = record.village if level == "plate" else parent.village
            node = _Node(level=level, name=name, village=village, label=record.label, parent=parent,
                         street=parent if parent.level == "street" else parent.street,
                         compound=parent if parent.level == "compound" else parent.compound, number=number,
                         suffix=suffix, local=local if local is not None else parent.local + name)
            parent.children[key] = node
            self.nodes.append(node)
        return node

    def _load_children(self) -> None:
        """Mark new nodes that match current elements below existing parents as existing (reuse)."""
        frontier = [n for n in self.nodes if n.existing]
        while frontier:
            by_id = {n.address_id: n for n in frontier}
            rows = self.conn.execute(text(
                "SELECT address_id, code, level, name, village_code, number, suffix, parent_id, "
                "ST_X(point) AS x, ST_Y(point) AS y FROM addresses WHERE valid_to IS NULL "
                "AND parent_id = ANY(:ids)"), {"ids": list(by_id)})
            found = []
            for row in rows:
                parent = by_id[row.parent_id]
                key = ("plate", row.village_code, row.number, row.suffix) if row.level == "plate" \
                    else (row.level, row.name)
                node = parent.children.get(key)
                if node is not None and not node.existing:
                    node.existing, node.address_id, node.code = True, row.address_id, row.code
                    node.point, node.geom_wkt = (row.x, row.y), None
                    found.append(node)
            frontier = found

    def _resolve_points(self) -> None:
        """Unplaced new nodes take their first placed descendant's point, else their parent's."""
        for node in reversed(self.nodes):   # children before parents
            if node.point is None:
                node.point = next((c.point for c in node.children.values() if c.point), None)
        for node in self.nodes:
            if node.point is None and node.parent is not None:
                node.point = node.parent.point
            if node.point is None:
                self.errors.add(node.label, "point", f"no coordinates for {node.name} or anything on or below it")

    # -- writing

    def write(self, dataset: str) -> int:
        """Register street names, allocate ids and codes to new nodes, COPY them; returns the count."""
        new = [n for n in self.nodes if not n.existing]
        for node in self.nodes:
            (self.reused if node.existing else self.created)[node.level] += 1
        self._register(dataset)
        self._allocate_codes(new)
        ids = iter(reserve_ids(self.conn, len(new)))
        for node in new:
            node.address_id = next(ids)
        self.chains.update(division_chains(self.conn, {n.village for n in new}))
        today_ = today()
        return load_rows(self.conn, (self._row(n, dataset, today_) for n in new))

    def _register(self, dataset: str) -> None:
        items = [StandardName(n.name, STREET_CATEGORY, n.village[:9], n.geom_wkt, f"address import {self.file}",
                              self.actor, today()) for n in self.to_register]
        for node, name_id in zip(self.to_register, register_standard_names(self.conn, items), strict=True):
            node.place_name_id = name_id
        self.registered = len(items)

    def _allocate_codes(self, new: list[_Node]) -> None:
        tops: dict[str, list[int]] = {}
        serials: dict[str, dict[str, int]] = {}
        for node in new:
            county = node.village[:6]
            if node.level in ("street", "compound"):
                last = tops.setdefault(county, list(last_street_serials(self.conn, county)))
                slot = 0 if node.level == "street" else 1
                last[slot] += 1
                allowed = STREET_SERIALS if node.level == "street" else COMPOUND_SERIALS
                if last[slot] not in allowed:
                    raise InvalidInput(f"county {county} has no {node.level} serials left")
                node.code = f"{node.village}{last[slot]:05d}"
                continue
            parent_code = node.village + node.parent.code[12:17] if node.level == "plate" else node.parent.code
            prefix = parent_code + "0000" if node.level == "building" and len(parent_code) == 17 else parent_code
            county_serials = serials.get(county)
            if county_serials is None:
                county_serials = serials[county] = last_child_serials(self.conn, county)
            county_serials[prefix] = county_serials.get(prefix, 0) + 1
            node.code = child_code(parent_code, node.level, county_serials[prefix])

    def _row(self, node: _Node, dataset: str, valid_from: dt.date) -> AddressRow:
        keys = name_keys(node.name, STREET_CATEGORY if node.level == "street" else COMPOUND_CATEGORY,
                         node.village)[3:] if node.level in ("street", "compound") else ("", "")
        x, y = node.point
        return AddressRow(
            address_id=node.address_id, code=node.code, level=node.level, village_code=node.village,
            name=node.name, local_address=node.local,
            full_address=full_address(self.chains[node.village], node.local), point_wkt=f"POINT({x!r} {y!r})",
            source=dataset, valid_from=valid_from, created_by=self.actor,
            parent_id=node.parent.address_id if node.parent else None,
            street_id=node.street.address_id if node.street else None,
            compound_id=node.compound.address_id if node.compound else None, number=node.number,
            suffix=node.suffix, side=node.side, direction=None, reserved=False,
            place_name_id=node.place_name_id, pinyin_key=keys[0], initials=keys[1], geom_wkt=node.geom_wkt)


def _leading_number(value: str) -> int | None:
    match = _LEADING_NUMBER.match(value)
    return int(match.group(1)) if match else None


def _point_of(geom) -> tuple[float, float]:
    point = geom if geom.geom_type == "Point" else (
        geom.interpolate(0.5, normalized=True) if geom.geom_type == "LineString" else geom.representative_point())
    return float(point.x), float(point.y)


def _dataset_name(path: Path) -> str:
    digest = hashlib.sha256(path.read_bytes()).hexdigest()[:12]
    return f"address-import-{path.name}-{digest}"


def _record_dataset(conn: Connection, report: ImportReport, rows: int, actor: str) -> None:
    details = report.as_dict()
    conn.execute(text(
        "INSERT INTO datasets (name, version, source, terms, row_count, details) "
        "VALUES (:n, :v, :s, :t, :c, CAST(:d AS jsonb)) ON CONFLICT (name) DO UPDATE SET "
        "row_count = datasets.row_count + EXCLUDED.row_count, details = EXCLUDED.details, loaded_at = now()"),
        {"n": report.dataset, "v": today().isoformat(), "s": f"address import of {report.file}",
         "t": "as supplied by the importing department", "c": rows, "d": json.dumps(details, ensure_ascii=False)})
    audit.record(conn, actor=actor, action="import", entity_type="addresses", entity_id=report.dataset,
                 after=details)
