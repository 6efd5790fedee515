"""Facilities: read, list, create, change (optimistic versions) and close, every write audited.

A facility's division is the deepest one known: the village of its standard address, else of the nearest
residential address within `LOCATE_M` (the demo and imported address libraries place addresses inside their
village), else the county polygon it lies in. Its address code is the one given, else the nearest standard
address within `MATCH_M`.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, fields, replace
from typing import Any

from sqlalchemy import Connection, text
from sqlalchemy.orm import Session

from data import audit
from data.errors import Conflict, InvalidInput, NotFound
from facilities.divisions import get_division
from facilities.model import Facility
from facilities.types import check_type_codes
from placenames.inputs import today
from placenames.registry import CHINA_BOUNDS

STATUSES = ("planned", "operating", "suspended", "closed")
MATCH_M = 30.0      # a facility is "at" a standard address this close (design choice)
LOCATE_M = 1000.0   # the nearest residential address this close names the facility's village (design choice)
MAX_PAGE = 500
EDITABLE = ("name", "type_code", "lon", "lat", "address", "address_code", "division_code", "beds", "meal_seats",
            "operator", "opened_on", "status", "source")
_SELECT = ("SELECT facility_id, name, type_code, ST_X(geom) AS lon, ST_Y(geom) AS lat, address, address_code, "
           "division_code, beds, meal_seats, operator, opened_on, status, version, closed_on, source "
           "FROM facilities")


@dataclass(frozen=True)
class FacilityInput:
    """A facility as given by a user or a file (plain values; checked by `check_input`)."""

    name: str
    type_code: str
    lon: float | None = None
    lat: float | None = None
    address: str | None = None
    address_code: str | None = None
    division_code: str | None = None
    beds: int | None = None
    meal_seats: int | None = None
    operator: str | None = None
    opened_on: dt.date | None = None
    status: str = "operating"
    source: str = "manual"
    facility_id: str | None = None


@dataclass(frozen=True)
class Placed:
    """Where a checked input goes: point, division and matched address."""

    lon: float
    lat: float
    division_code: str
    address_code: str | None
    address: str | None


def _row(row) -> Facility:
    return Facility(**row._mapping)


def get_facility(db: Session | Connection, facility_id: str, *, lock: bool = False) -> Facility:
    """The facility FACILITY_ID (404 when unknown)."""
    row = db.execute(text(_SELECT + " WHERE facility_id = :id" + (" FOR UPDATE" if lock else "")),
                     {"id": facility_id}).first()
    if row is None:
        raise NotFound(f"no facility {facility_id!r}")
    return _row(row)


def _filters(division: str | None, type_codes: list[str] | None, status: list[str] | None,
             db: Session | Connection) -> tuple[list[str], dict[str, Any]]:
    where, params = [], {}
    if division:
        where.append("division_code LIKE :prefix")
        params["prefix"] = get_division(db, division).prefix + "%"
    if type_codes:
        where.append("type_code = ANY(:types)")
        params["types"] = [t.code for t in check_type_codes(db, type_codes)]
    if status:
        bad = [s for s in status if s not in STATUSES]
        if bad:
            raise InvalidInput(f"status must be one of {', '.join(STATUSES)}",
                               errors=[{"field": "status", "message": f"unknown status {s!r}"} for s in bad])
        where.append("status = ANY(:status)")
        params["status"] = list(status)
    else:
        where.append("valid_to IS NULL")
    return where, params


def list_facilities(session: Session | Connection, division: str, type_codes: list[str] | None = None,
                    status: list[str] | None = None) -> list[Facility]:
    """Every facility in DIVISION (by code prefix) of TYPE_CODES and STATUS (default: all not closed)."""
    where, params = _filters(division, type_codes, status, session)
    rows = session.execute(text(f"{_SELECT} WHERE {' AND '.join(where)} ORDER BY facility_id"), params)
    return [_row(r) for r in rows]


def page_facilities(session: Session | Connection, *, division: str | None = None,
                    type_codes: list[str] | None = None, status: list[str] | None = None,
                    after: str | None = None, limit: int = 50) -> tuple[list[Facility], str | None]:
    """One keyset page of facilities by id, and the cursor of the next page (None on the last)."""
    where, params = _filters(division, type_codes, status, session)
    if after:
        where.append("facility_id > :after")
        params["after"] = after
    params["limit"] = min(max(limit, 1), MAX_PAGE) + 1
    rows = session.execute(text(f"{_SELECT} WHERE {' AND '.join(where)} ORDER BY facility_id LIMIT :limit"),
                           params).all()
    items = [_row(r) for r in rows[:params["limit"] - 1]]
    return items, (items[-1].facility_id if len(rows) == params["limit"] else None)


def match_address(db: Session | Connection, lon: float, lat: float,
                  within_m: float = MATCH_M) -> tuple[str, str, str, float] | None:
    """The nearest current standard address (plate, building, compound) within WITHIN_M of the point:
    (code, full address, village code, distance in m), or None."""
    row = db.execute(text(
        "SELECT code, full_address, village_code, ST_Distance(point::geography, p::geography) AS d "
        "FROM (SELECT ST_SetSRID(ST_MakePoint(:lon, :lat), 4490) AS p) q, LATERAL ("
        "  SELECT code, full_address, village_code, point FROM addresses WHERE valid_to IS NULL "
        "  AND level IN ('plate', 'building', 'compound') AND NOT reserved ORDER BY point <-> q.p LIMIT 8) a "
        "ORDER BY d LIMIT 1"), {"lon": lon, "lat": lat}).first()
    if row is None or row.d > within_m:
        return None
    return row.code, row.full_address, row.village_code, float(row.d)


def locate_division(db: Session | Connection, lon: float, lat: float) -> str | None:
    """The deepest division known at the point: a village (nearest address within LOCATE_M) or a county."""
    near = match_address(db, lon, lat, within_m=LOCATE_M)
    if near is not None:
        return near[2]
    county = db.execute(text(
        "SELECT code FROM divisions WHERE level = 3 AND valid_to IS NULL AND geom IS NOT NULL "
        "AND ST_Intersects(geom, ST_SetSRID(ST_MakePoint(:lon, :lat), 4490)) ORDER BY code LIMIT 1"),
        {"lon": lon, "lat": lat}).scalar()
    return county


def _address_by_code(db: Session | Connection, code: str) -> tuple[float, float, str, str] | None:
    row = db.execute(text(
        "SELECT ST_X(point) AS lon, ST_Y(point) AS lat, full_address, village_code FROM addresses "
        "WHERE code = :code AND valid_to IS NULL"), {"code": code}).first()
    return None if row is None else (row.lon, row.lat, row.full_address, row.village_code)


def _check_values(value: FacilityInput) -> list[dict[str, str]]:
    errors = []
    if not value.name or not value.name.strip() or len(value.name.strip()) > 100:
        errors.append({"field": "name", "message": "a name of 1 to 100 characters is required"})
    if value.status not in STATUSES or value.status == "closed":
        errors.append({"field": "status", "message": "planned, operating or suspended (close a facility with "
                                                     "POST …/close)"})
    for key in ("beds", "meal_seats"):
        number = getattr(value, key)
        if number is not None and (not isinstance(number, int) or number < 0 or number > 1_000_000):
            errors.append({"field": key, "message": "a whole number from 0"})
    if (value.lon is None) != (value.lat is None):
        errors.append({"field": "lon" if value.lon is None else "lat", "message": "give both lon and lat"})
    elif value.lon is not None:
        lo_x, lo_y, hi_x, hi_y = CHINA_BOUNDS
        if not (math.isfinite(value.lon) and lo_x <= value.lon <= hi_x):
            errors.append({"field": "lon", "message": f"longitude {value.lon} is outside China ({lo_x}–{hi_x})"})
        if not (math.isfinite(value.lat) and lo_y <= value.lat <= hi_y):
            errors.append({"field": "lat", "message": f"latitude {value.lat} is outside China ({lo_y}–{hi_y})"})
    if value.facility_id is not None and not _valid_id(value.facility_id):
        errors.append({"field": "facility_id", "message": "1 to 64 letters, digits or _ . : -"})
    return errors


def _valid_id(facility_id: str) -> bool:
    return 1 <= len(facility_id) <= 64 and all(c.isascii() and (c.isalnum() or c in "_.:-") for c in facility_id)


def check_input(db: Session | Connection, value: FacilityInput) -> tuple[FacilityInput, Placed]:
    """VALUE normalised (type code upper case) and placed, or a 422 listing every field error."""
    errors = _check_values(value)
    try:
        value = replace(value, type_code=check_type_codes(db, [value.type_code], field="type_code")[0].code)
    except InvalidInput as exc:
        errors.extend(exc.errors)
    placed = None if errors else _place(db, value, errors)
    if errors or placed is None:
        raise InvalidInput("the facility has invalid fields: " + "; ".join(
            f"{e['field']}: {e['message']}" for e in errors), errors=errors)
    return value, placed


def _place(db: Session | Connection, value: FacilityInput, errors: list[dict[str, str]]) -> Placed | None:
    lon, lat, address, code, village = value.lon, value.lat, value.address, value.address_code, None
    if code:
        found = _address_by_code(db, code)
        if found is None:
            errors.append({"field": "address_code", "message": f"no current standard address {code}"})
            return None
        if lon is None:
            lon, lat = found[0], found[1]
        address, village = address or found[2], found[3]
    elif lon is not None:
        near = match_address(db, lon, lat)
        if near is not None:
            code, address, village = near[0], address or near[1], near[2]
    if lon is None:
        errors.append({"field": "lon", "message": "give lon and lat, or an address_code"})
        return None
    division = value.division_code or village or locate_division(db, lon, lat)
    if division is None:
        errors.append({"field": "division_code", "message": "no division known at this point; give division_code"})
        return None
    try:
        division = get_division(db, division, field="division_code").code
    except (NotFound, InvalidInput) as exc:
        errors.append({"field": "division_code", "message": exc.detail})
        return None
    return Placed(lon, lat, division, code, address)


def _next_id(db: Session | Connection, type_code: str, division_code: str) -> str:
    prefix = f"{type_code}-{division_code[:6]}-"
    last = db.execute(text(
        "SELECT max(substr(facility_id, :n)::int) FROM facilities WHERE facility_id LIKE :p "
        "AND substr(facility_id, :n) ~ '^[0-9]{1,9}$'"), {"n": len(prefix) + 1, "p": prefix + "%"}).scalar()
    return f"{prefix}{(last or 0) + 1:04d}"


def create_facility(session: Session | Connection, value: FacilityInput, *, actor: str) -> Facility:
    """Check and store a new facility (id generated when not given: TYPE-COUNTY-NNNN). Audited."""
    value, placed = check_input(session, value)
    facility_id = value.facility_id or _next_id(session, value.type_code, placed.division_code)
    taken = session.execute(text("SELECT 1 FROM facilities WHERE facility_id = :id"), {"id": facility_id}).first()
    if taken:
        raise Conflict(f"facility {facility_id} exists already",
                       errors=[{"field": "facility_id", "message": "taken"}])
    session.execute(text(
        "INSERT INTO facilities (facility_id, name, type_code, geom, address, address_code, division_code, beds, "
        "meal_seats, operator, opened_on, status, valid_from, source, created_by) VALUES (:facility_id, :name, "
        ":type_code, ST_SetSRID(ST_MakePoint(:lon, :lat), 4490), :address, :address_code, :division_code, :beds, "
        ":meal_seats, :operator, :opened_on, :status, :valid_from, :source, :actor)"),
        {**_columns(value, placed), "facility_id": facility_id, "actor": actor,
         "valid_from": value.opened_on or today()})
    created = get_facility(session, facility_id)
    audit.record(session, actor=actor, action="facility.create", entity_type="facility", entity_id=facility_id,
                 after=created.as_dict())
    return created


def _columns(value: FacilityInput, placed: Placed) -> dict[str, Any]:
    return {"name": value.name.strip(), "type_code": value.type_code, "lon": placed.lon, "lat": placed.lat,
            "address": placed.address, "address_code": placed.address_code,
            "division_code": placed.division_code, "beds": value.beds, "meal_seats": value.meal_seats,
            "operator": value.operator, "opened_on": value.opened_on, "status": value.status,
            "source": value.source}


def update_facility(session: Session | Connection, facility_id: str, base_version: int, changes: dict[str, Any],
                    *, actor: str) -> Facility:
    """Apply CHANGES to the facility at BASE_VERSION (409 with `current_version` when stale). Audited."""
    unknown = sorted(set(changes) - set(EDITABLE))
    if unknown:
        raise InvalidInput(f"only {', '.join(EDITABLE)} can be changed",
                           errors=[{"field": f, "message": "not editable"} for f in unknown])
    before = get_facility(session, facility_id, lock=True)
    if before.status == "closed":
        raise Conflict(f"facility {facility_id} is closed", extra={"current_version": before.version})
    if base_version != before.version:
        raise Conflict(f"facility {facility_id} is at version {before.version}, not {base_version}; reload it and "
                       "apply the change again", extra={"current_version": before.version})
    merged = _merged(before, changes)
    value, placed = check_input(session, merged)
    session.execute(text(
        "UPDATE facilities SET name = :name, type_code = :type_code, geom = ST_SetSRID(ST_MakePoint(:lon, :lat), "
        "4490), address = :address, address_code = :address_code, division_code = :division_code, beds = :beds, "
        "meal_seats = :meal_seats, operator = :operator, opened_on = :opened_on, status = :status, "
        "source = :source, valid_from = coalesce(:opened_on, valid_from), version = version + 1, "
        "updated_at = now() WHERE facility_id = :facility_id"),
        {**_columns(value, placed), "facility_id": facility_id})
    after = get_facility(session, facility_id)
    audit.record(session, actor=actor, action="facility.update", entity_type="facility", entity_id=facility_id,
                 before=before.as_dict(), after=after.as_dict())
    return after


def _merged(before: Facility, changes: dict[str, Any]) -> FacilityInput:
    """The input the changed facility amounts to: a moved point drops the old address match and division."""
    keep = {f.name: getattr(before, f.name) for f in fields(FacilityInput) if hasattr(before, f.name)}
    keep["facility_id"] = None
    keep["source"] = before.source or "manual"
    if ("lon" in changes or "lat" in changes) and "address_code" not in changes:
        keep["address_code"] = None
        keep["address"] = None if "address" not in changes else keep["address"]
        keep["division_code"] = None if "division_code" not in changes else keep["division_code"]
    if "address_code" in changes and "division_code" not in changes:
        keep["division_code"] = None
    return FacilityInput(**{**keep, **changes})


def close_facility(session: Session | Connection, facility_id: str, *, closed_on: dt.date | None = None,
                   actor: str) -> Facility:
    """Close the facility on CLOSED_ON (default today): status closed, valid time ended. Audited."""
    before = get_facility(session, facility_id, lock=True)
    if before.status == "closed":
        raise Conflict(f"facility {facility_id} is closed already", extra={"current_version": before.version})
    when = closed_on or today()
    if before.opened_on and when < before.opened_on:
        raise InvalidInput(f"closed_on {when} is before the opening date {before.opened_on}",
                           errors=[{"field": "closed_on", "message": "before opened_on"}])
    valid_from = session.execute(text("SELECT valid_from FROM facilities WHERE facility_id = :id"),
                                 {"id": facility_id}).scalar_one()
    session.execute(text(
        "UPDATE facilities SET status = 'closed', closed_on = :on, valid_to = :valid_to, version = version + 1, "
        "updated_at = now() WHERE facility_id = :id"),
        {"on": when, "valid_to": max(when, valid_from), "id": facility_id})
    after = get_facility(session, facility_id)
    audit.record(session, actor=actor, action="facility.close", entity_type="facility", entity_id=facility_id,
                 before=before.as_dict(), after=after.as_dict())
    return after
