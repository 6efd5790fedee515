"""Survey files (GeoPackage, GeoJSON, CSV, GPX) read through pyogrio/GDAL and stored as one batch.

The file becomes the same batch body a device PUTs and goes through `surveys.store_batch`, so it is
checked exactly like an upload. The batch UUID is a UUID5 of the file's SHA-256 and each record's
UUID one of the file hash and row index: importing the same file again returns the stored receipt
and stores nothing twice.

Files carry no `base_version`; unless a `base_version` column gives it, a check is taken to have
been made on the marker version in force at its observation time (from `marker_history`), so a
change registered after the survey still shows up as a conflict.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd
import pyogrio
from pydantic import ValidationError
from shapely.geometry import mapping
from sqlalchemy import text
from sqlalchemy.orm import Session

from boundaries.surveys import BatchIn, BatchResult, store_batch
from data.errors import InvalidInput
from data.settings import Settings

NAMESPACE = uuid.UUID("5f0c5c1e-8d1e-4d0a-9a51-2a7d3b6f1c20")   # fixed: the same file gives the same UUIDs
SHANGHAI = ZoneInfo("Asia/Shanghai")                               # times without an offset are local
FORMATS = {".gpkg": "GPKG", ".geojson": "GeoJSON", ".json": "GeoJSON", ".csv": "CSV", ".gpx": "GPX"}
DEFAULT_DEVICE = "file import"
# Accepted column names (lower case) for each record field; GPX waypoints give name, desc, cmt, time.
COLUMNS = {
    "lon": ("lon", "lng", "longitude", "x", "经度", "东经"),
    "lat": ("lat", "latitude", "y", "纬度", "北纬"),
    "accuracy_m": ("accuracy_m", "accuracy", "精度", "定位精度", "平面精度"),
    "marker": ("marker", "marker_number", "number", "name", "界桩编号", "界桩号", "编号"),
    "status": ("status", "desc", "状态", "界桩状态"),
    "notes": ("notes", "note", "remarks", "cmt", "备注", "说明"),
    "observed_at": ("observed_at", "time", "datetime", "观测时间", "时间"),
    "line_id": ("line_id", "line", "界线", "界线编号"),
    "kind": ("kind", "记录类型", "类型"),
    "base_version": ("base_version", "版本"),
    "reference_objects_complete": ("reference_objects_complete", "方位物完整"),
}
STATUS_WORDS = {"intact": "完好", "damaged": "损坏", "lost": "丢失", "missing": "丢失", "displaced": "移位"}
KIND_WORDS = {"界桩检查": "marker_check", "界线观测": "line_observation", "新增界桩": "marker_proposal",
              "check": "marker_check", "observation": "line_observation", "proposal": "marker_proposal"}
TRUE_WORDS, FALSE_WORDS = {"true", "yes", "1", "是", "完整"}, {"false", "no", "0", "否", "不完整"}


@dataclass(frozen=True, slots=True)
class SurveyFile:
    """The rows of a survey file, its SHA-256 and the datum its CRS declares (if any)."""

    path: Path
    sha256: str
    rows: list[dict[str, Any]]        # field name → value, plus "geometry" (shapely or None)
    datum: str | None


def file_sha256(path: Path) -> str:
    """SHA-256 of the file's bytes."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def read_survey_file(path: Path) -> SurveyFile:
    """Read a GeoPackage, GeoJSON, CSV or GPX (waypoints) file through pyogrio."""
    driver = FORMATS.get(path.suffix.lower())
    if driver is None:
        raise InvalidInput(f"{path.name}: survey files are {', '.join(sorted(FORMATS))}",
                           errors=[{"field": "file", "message": "unsupported format"}])
    options: dict[str, Any] = {"DATE_AS_STRING": "YES"} if driver == "GeoJSON" else {}
    frame = pyogrio.read_dataframe(path, layer="waypoints" if driver == "GPX" else None,
                                   datetime_as_string=True, **options)
    frame, datum = _to_geographic(frame)
    geometries = list(frame.geometry) if "geometry" in frame else [None] * len(frame)
    columns = [c for c in frame.columns if c != "geometry"]
    rows = [{**{c: _plain(v) for c, v in zip(columns, values, strict=True)}, "geometry": geom}
            for values, geom in zip(frame[columns].itertuples(index=False, name=None), geometries, strict=True)]
    return SurveyFile(path, file_sha256(path), rows, datum)


def _to_geographic(frame):
    """The frame in its geographic CRS (projected files are unprojected) and that CRS's datum name."""
    crs = getattr(frame, "crs", None)
    if crs is None:
        return frame, None
    if crs.is_projected:
        frame, crs = frame.to_crs(crs.geodetic_crs), crs.geodetic_crs
    datum = {4490: "CGCS2000", 4326: "WGS84"}.get(crs.to_epsg())
    if datum is None:
        raise InvalidInput(f"the file's CRS {crs.name!r} is not CGCS2000 or WGS84 based; reproject it to "
                           "EPSG:4490 first", errors=[{"field": "file", "message": "unsupported CRS"}])
    return frame, datum


def _plain(value: Any) -> Any:
    """None for missing values (NaN, NA, empty text), else the value."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, str):
        return value.strip() or None
    return None if value is pd.NA or value is pd.NaT else value


def _pick(row: dict[str, Any], name: str) -> Any:
    lowered = {str(k).strip().lower(): v for k, v in row.items()}
    return next((lowered[c] for c in COLUMNS[name] if lowered.get(c) is not None), None)


def _number(row: dict[str, Any], name: str, index: int) -> float | None:
    value = _pick(row, name)
    if value is None:
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        raise InvalidInput(f"row {index + 1}: {name} {value!r} is not a number",
                           errors=[{"field": f"row {index + 1}.{name}", "message": "not a number"}]) from None


def _time(value: Any, index: int) -> dt.datetime | None:
    if value is None:
        return None
    try:
        parsed = value if isinstance(value, dt.datetime) else dt.datetime.fromisoformat(str(value).replace("/", "-"))
    except ValueError:
        raise InvalidInput(f"row {index + 1}: time {value!r} is not an ISO date and time",
                           errors=[{"field": f"row {index + 1}.observed_at", "message": "not a time"}]) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=SHANGHAI)


def _flag(value: Any) -> bool | None:
    if value is None or isinstance(value, bool):
        return value
    word = str(value).strip().lower()
    return True if word in TRUE_WORDS else False if word in FALSE_WORDS else None


def _position(row: dict[str, Any], index: int) -> dict[str, Any]:
    geom = row.get("geometry")
    if geom is not None and not geom.is_empty:
        shape = mapping(geom)
        return {"type": shape["type"], "coordinates": _lists(shape["coordinates"])}
    lon, lat = _number(row, "lon", index), _number(row, "lat", index)
    if lon is None or lat is None:
        raise InvalidInput(f"row {index + 1} has no geometry and no lon/lat (经度/纬度) columns",
                           errors=[{"field": f"row {index + 1}", "message": "no position"}])
    return {"type": "Point", "coordinates": [lon, lat]}


def _lists(value: Any) -> Any:
    return [_lists(v) for v in value] if isinstance(value, (tuple, list)) else float(value)


def _kind(row: dict[str, Any], marker: str | None) -> str:
    given = _pick(row, "kind")
    if given is not None:
        return KIND_WORDS.get(str(given).strip().lower(), str(given).strip())
    if marker is not None:
        return "marker_check"
    return "line_observation"


def version_at(session: Session, marker: str, at: dt.datetime) -> int:
    """The marker's version in force at AT (1 when the marker or its history starts later)."""
    return session.execute(text(
        "SELECT coalesce((SELECT max(h.version) FROM marker_history h JOIN markers m ON m.id = h.marker_id "
        "WHERE m.number = :n AND h.at <= :t), 1)"), {"n": marker, "t": at}).scalar_one()


def _record(session: Session, survey: SurveyFile, index: int, row: dict[str, Any], *, datum: str,
            line_id: str | None, default_time: dt.datetime) -> dict[str, Any]:
    marker = _pick(row, "marker")
    marker = str(marker).strip().upper() if marker is not None else None
    position = _position(row, index)
    kind = _kind(row, marker)
    observed = _time(_pick(row, "observed_at"), index) or default_time
    record: dict[str, Any] = {
        "uuid": str(uuid.uuid5(NAMESPACE, f"record:{survey.sha256}:{index}")), "kind": kind,
        "line_id": _pick(row, "line_id") or line_id, "position": position, "datum": datum,
        "accuracy_m": _number(row, "accuracy_m", index), "observed_at": observed.isoformat(),
        "notes": _pick(row, "notes")}
    if kind == "marker_check":
        status = _pick(row, "status")
        base = _number(row, "base_version", index)
        record |= {"marker": marker, "status": STATUS_WORDS.get(str(status).lower(), status) if status else None,
                   "reference_objects_complete": _flag(_pick(row, "reference_objects_complete")),
                   "base_version": int(base) if base is not None else (
                       version_at(session, marker, observed) if marker else None)}
    return record


def build_batch(session: Session, survey: SurveyFile, *, surveyor: str, device: str = DEFAULT_DEVICE,
                datum: str | None = None, line_id: str | None = None,
                captured_at: dt.datetime | None = None) -> tuple[uuid.UUID, dict[str, Any]]:
    """The batch UUID (from the file hash) and the batch body a device would have sent."""
    if not survey.rows:
        raise InvalidInput(f"{survey.path.name} has no features", errors=[{"field": "file", "message": "empty"}])
    times = [t for i, row in enumerate(survey.rows) if (t := _time(_pick(row, "observed_at"), i)) is not None]
    captured = captured_at or (max(times) if times else None)
    if captured is None:
        raise InvalidInput(f"{survey.path.name} has no observation times; give the capture time",
                           errors=[{"field": "captured_at", "message": "required when the file has no times"}])
    if captured.tzinfo is None:
        captured = captured.replace(tzinfo=SHANGHAI)
    records = [_record(session, survey, i, row, datum=datum or survey.datum or "CGCS2000", line_id=line_id,
                       default_time=captured) for i, row in enumerate(survey.rows)]
    body = {"device": device, "surveyor": surveyor, "captured_at": captured.isoformat(), "records": records}
    return uuid.uuid5(NAMESPACE, f"batch:{survey.sha256}"), body


def _validated(body: dict[str, Any]) -> BatchIn:
    """The body as the API would parse it; schema errors name the file's row."""
    try:
        return BatchIn.model_validate(body)
    except ValidationError as exc:
        errors = [{"field": _row_field(e["loc"]), "message": e["msg"]} for e in exc.errors()]
        raise InvalidInput("the file does not make a valid batch: "
                           + "; ".join(f"{e['field']}: {e['message']}" for e in errors[:5]), errors=errors) from None


def _row_field(loc: tuple) -> str:
    if len(loc) >= 2 and loc[0] == "records" and isinstance(loc[1], int):
        return ".".join([f"row {loc[1] + 1}", *map(str, loc[2:])])
    return ".".join(map(str, loc))


@dataclass(frozen=True, slots=True)
class ImportResult:
    """The batch made from a file and what storing it gave."""

    batch_uuid: uuid.UUID
    rows: int
    result: BatchResult


def import_file(session: Session, settings: Settings, source: Path | SurveyFile, *, actor: str, role: str,
                device: str = DEFAULT_DEVICE, datum: str | None = None, line_id: str | None = None,
                captured_at: dt.datetime | None = None, dry_run: bool = False,
                on_progress: Callable[[int], None] | None = None) -> ImportResult:
    """Store SOURCE (a path, or a file read already) as a batch by ACTOR through the PUT's own function."""
    survey = source if isinstance(source, SurveyFile) else read_survey_file(source)
    batch_uuid, body = build_batch(session, survey, surveyor=actor, device=device, datum=datum, line_id=line_id,
                                   captured_at=captured_at)
    result = store_batch(session, settings, batch_uuid, _validated(body), actor=actor, role=role,
                         dry_run=dry_run, on_progress=on_progress)
    return ImportResult(batch_uuid, len(survey.rows), result)
