"""Batch geocoding of CSV files: encoding detection, column choice, chunked set-based matching, a job
row with progress, and an output with exactly one row per input row."""

from __future__ import annotations

import csv
import io
import json
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, text
from sqlalchemy.orm import Session

from addresses.admin import AdminIndex
from addresses.coords import from_cgcs2000
from addresses.geocode import MAX_TEXT, GeocodeResult, check_division, geocode_parsed
from addresses.library import ADMIN_KEYS
from addresses.parse import parse
from data import audit
from data.errors import Conflict, InvalidInput, NotFound

DB = Session | Connection
Connect = Callable[[], AbstractContextManager[Connection]]
CHUNK = 2000
ADDRESS_HEADERS = ("address", "地址", "详细地址", "addr", "标准地址", "门牌地址")
OUTPUT_COLUMNS = ("gz_match_level", "gz_score", "gz_match_type", "gz_code", "gz_standard_address",
                  "gz_lon", "gz_lat", "gz_coordsys", *(f"gz_{k}" for k in ADMIN_KEYS), "gz_warnings")


@dataclass(slots=True)
class CsvInput:
    """A decoded CSV: its encoding, header, the chosen columns and the text."""

    encoding: str
    header: list[str]
    address_column: int
    division_column: int | None
    rows: int
    content: str = field(repr=False, default="")


def decode(data: bytes) -> tuple[str, str]:
    """The text of DATA and its encoding: UTF-8 (with or without BOM), else GB18030 (a superset of
    GBK and GB2312); anything else, or binary content, is a 422."""
    if not data.strip():
        raise InvalidInput("the file is empty", errors=[{"field": "file", "message": "no rows"}])
    if b"\x00" in data[:65536]:
        raise InvalidInput("the file is not text (it contains NUL bytes); upload a CSV",
                           errors=[{"field": "file", "message": "binary content"}])
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return data.decode(encoding), "utf-8" if encoding == "utf-8-sig" else encoding
        except UnicodeDecodeError:
            continue
    raise InvalidInput("the file is neither UTF-8 nor GB18030/GBK text",
                       errors=[{"field": "file", "message": "unknown encoding"}])


def _column(header: list[str], wanted: str | None, field: str, *, default: bool) -> int | None:
    """Index of column WANTED (a header name or a 1-based number); the address column by default."""
    if wanted is None or wanted == "":
        if not default:
            return None
        found = next((i for i, h in enumerate(header) if h.strip().lower() in ADDRESS_HEADERS), None)
        if found is None:
            raise InvalidInput(f"say which column holds the addresses (columns: {', '.join(header)})",
                               errors=[{"field": field, "message": "no column named address/地址"}])
        return found
    if wanted in header:
        return header.index(wanted)
    if wanted.isdigit() and 1 <= int(wanted) <= len(header):
        return int(wanted) - 1
    raise InvalidInput(f"column {wanted!r} is not in the file (columns: {', '.join(header)})",
                       errors=[{"field": field, "message": f"unknown column {wanted!r}"}])


def inspect_csv(data: bytes, column: str | None, division_column: str | None = None) -> CsvInput:
    """Check an uploaded CSV before a job is queued: encoding, header, columns, row count."""
    content, encoding = decode(data)
    reader = csv.reader(io.StringIO(content, newline=""))
    header = next(reader, None)
    if not header:
        raise InvalidInput("the CSV has no header row", errors=[{"field": "file", "message": "no header"}])
    address = _column(header, column, "column", default=True)
    division = _column(header, division_column, "division_column", default=False)
    rows = sum(1 for _ in reader)
    return CsvInput(encoding, header, address, division, rows, content)


def _result_cells(result: GeocodeResult, coordsys: str) -> list[Any]:
    lon = lat = ""
    if result.lon is not None:
        (x,), (y,) = from_cgcs2000([result.lon], [result.lat], coordsys)
        lon, lat = f"{x:.7f}", f"{y:.7f}"
    warnings = "; ".join(f"{w.get('kind')}:{w.get('message')}" for w in result.warnings)
    return [result.match_level or "", f"{result.score:.3f}", result.match_type or "", result.code or "",
            result.standard_address or "", lon, lat, coordsys,
            *(result.admin_codes.get(k) or "" for k in ADMIN_KEYS), warnings]


def _chunks(reader: Iterator[list[str]], size: int) -> Iterator[list[list[str]]]:
    chunk: list[list[str]] = []
    for row in reader:
        chunk.append(row)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _divisions(rows: list[list[str]], column: int | None) -> tuple[list[str | None], list[str | None]]:
    """Per-row division filters, and per-row errors for malformed ones (the row is kept)."""
    values, errors = [], []
    for row in rows:
        raw = row[column].strip() if column is not None and column < len(row) else ""
        try:
            values.append(check_division(raw) if raw else None)
            errors.append(None)
        except InvalidInput as exc:
            values.append(None)
            errors.append(exc.detail)
    return values, errors


def geocode_csv(db: DB, index: AdminIndex, data: bytes, out, *, column: str | None = None,
                division_column: str | None = None, coordsys: str = "cgcs2000",
                on_progress: Callable[[int], None] | None = None, spec: CsvInput | None = None) -> int:
    """Geocode every row of the CSV DATA into the text stream OUT (input columns + gz_* columns);
    returns the number of rows written, always equal to the number read. SPEC: DATA already
    inspected (the file is then not decoded again)."""
    spec = spec or inspect_csv(data, column, division_column)
    reader = csv.reader(io.StringIO(spec.content, newline=""))
    next(reader)
    writer = csv.writer(out)
    writer.writerow([*spec.header, *OUTPUT_COLUMNS])
    written = 0
    with ThreadPoolExecutor(max_workers=1) as pool:
        # Parse chunk n+1 in a thread while the database matches chunk n.
        chunks = _chunks(reader, CHUNK)
        pending = None
        for chunk in chunks:
            parsed = pool.submit(_parse_chunk, index, chunk, spec.address_column)
            if pending is not None:
                written += _write_chunk(db, writer, *pending, spec, coordsys)
                on_progress and on_progress(len(pending[0]))
            pending = (chunk, parsed.result())
        if pending is not None:
            written += _write_chunk(db, writer, *pending, spec, coordsys)
            on_progress and on_progress(len(pending[0]))
    return written


def _parse_chunk(index: AdminIndex, chunk: list[list[str]], column: int):
    texts = [(row[column] if column < len(row) else "")[: 10 * MAX_TEXT] for row in chunk]
    return parse(texts, index)


def _write_chunk(db: DB, writer, chunk: list[list[str]], parsed, spec: CsvInput, coordsys: str) -> int:
    divisions, errors = _divisions(chunk, spec.division_column)
    results = geocode_parsed(db, parsed, divisions)
    width = len(spec.header)
    for row, result, error in zip(chunk, results, errors, strict=True):
        if error:
            result.warnings.append({"kind": "错误", "component": "division", "message": error})
        writer.writerow([*(row + [""] * (width - len(row)))[:width], *_result_cells(result, coordsys)])
    return len(chunk)


# ---- jobs -------------------------------------------------------------------------------------------

def job_dir(home: Path, job_id: uuid.UUID | str) -> Path:
    """Where a job's input and result files live."""
    return home / "jobs" / str(job_id)


def create_job(db: DB, home: Path, data: bytes, *, owner: str, filename: str, column: str | None,
               division_column: str | None, coordsys: str, max_rows: int) -> dict[str, Any]:
    """Validate the CSV, store it and queue a batch-geocoding job; returns the job as a dict."""
    spec = inspect_csv(data, column, division_column)
    if spec.rows > max_rows:
        raise InvalidInput(f"the file has {spec.rows} rows; a batch takes at most {max_rows}",
                           errors=[{"field": "file", "message": "too many rows"}])
    job_id = uuid.uuid4()
    folder = job_dir(home, job_id)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "input.csv").write_bytes(data)
    params = {"filename": filename, "column": column, "division_column": division_column,
              "coordsys": coordsys, "encoding": spec.encoding,
              "address_column": spec.header[spec.address_column]}
    db.execute(text("INSERT INTO jobs (id, kind, status, params, total, owner) VALUES "
                    "(:id, 'geocode', 'queued', CAST(:params AS jsonb), :total, :owner)"),
               {"id": job_id, "params": json.dumps(params, ensure_ascii=False), "total": spec.rows,
                "owner": owner})
    audit.record(db, actor=owner, action="create", entity_type="job", entity_id=str(job_id),
                 after={"kind": "geocode", **params, "rows": spec.rows})
    return get_job(db, job_id)


def get_job(db: DB, job_id: uuid.UUID | str) -> dict[str, Any]:
    """A job's status and progress, or NotFound."""
    row = db.execute(text("SELECT id, kind, status, params, total, done, summary, error, created_at, "
                          "started_at, finished_at FROM jobs WHERE id = :id"), {"id": str(job_id)}).first()
    if row is None:
        raise NotFound(f"no job {job_id}")
    job = dict(row._mapping)
    job["id"] = str(job["id"])
    job["progress"] = round(job["done"] / job["total"], 4) if job["total"] else 1.0
    return job


def _set(begin: Connect, job_id, sql: str, **params) -> None:
    with begin() as conn:
        conn.execute(text(f"UPDATE jobs SET {sql} WHERE id = :id"), {"id": str(job_id), **params})


def run_job(begin: Connect, home: Path, index: AdminIndex, job_id: uuid.UUID | str) -> None:
    """Run a queued job to the end, recording progress; failures are stored, never raised.

    BEGIN opens a connection in a transaction that commits when the block ends (`engine.begin`), so
    progress is visible to other requests while the job runs.
    """
    folder = job_dir(home, job_id)
    with begin() as conn:
        job = get_job(conn, job_id)
    _set(begin, job_id, "status = 'running', started_at = now()")
    params = job["params"]
    done = 0

    def progress(n: int) -> None:
        nonlocal done
        done += n
        _set(begin, job_id, "done = :done", done=done)

    try:
        with begin() as conn, open(folder / "result.part", "w", encoding="utf-8-sig",
                                            newline="") as out:
            rows = geocode_csv(conn, index, (folder / "input.csv").read_bytes(), out,
                               column=params.get("column"), division_column=params.get("division_column"),
                               coordsys=params.get("coordsys", "cgcs2000"), on_progress=progress)
        (folder / "result.part").rename(folder / "result.csv")
        _set(begin, job_id, "status = 'done', finished_at = now(), done = :n, summary = CAST(:s AS jsonb)",
             n=rows, s=json.dumps({"rows": rows}))
    except Exception as exc:  # noqa: BLE001 - a job records its failure instead of dying silently
        _set(begin, job_id, "status = 'failed', finished_at = now(), error = :e", e=f"{type(exc).__name__}: {exc}")


def result_path(db: DB, home: Path, job_id: uuid.UUID | str) -> Path:
    """The finished result file of a job (NotFound, or Conflict while it is not done)."""
    job = get_job(db, job_id)
    if job["status"] != "done":
        raise Conflict(f"job {job_id} is {job['status']} ({job['done']} of {job['total']} rows); "
                       "the result is ready when status is done")
    return job_dir(home, job_id) / "result.csv"
