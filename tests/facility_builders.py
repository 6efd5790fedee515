"""Tiny builders for facility tests: a test county with townships and villages far from any demo data,
homes (plates) at chosen distances, facilities, population rows."""

from __future__ import annotations

from pyproj import Geod
from sqlalchemy import Connection, text
from sqlalchemy.orm import Session

from tests.address_builders import add_plate, add_street
from tests.builders import add_division

GEOD = Geod(ellps="GRS80")
ORIGIN = (100.0, 30.0)      # western Sichuan: no demo addresses or facilities anywhere near
COUNTY = "339901"
STREET_TOWN, TOWN = "339901001", "339901101"          # a 街道 and a 镇
COMMUNITY, COMMUNITY_2 = "339901001001", "339901001002"  # 居委会 range
VILLAGE, EMPTY_VILLAGE = "339901101201", "339901101202"  # 村委会 range; the second has no addresses


def offset(metres: float, azimuth: float, start: tuple[float, float] = ORIGIN) -> tuple[float, float]:
    """The point METRES from START towards AZIMUTH (degrees from north), geodesic on GRS80."""
    lon, lat, _ = GEOD.fwd(start[0], start[1], azimuth, metres)
    return float(lon), float(lat)


def add_test_county(session: Session) -> None:
    """County 339901 with a 街道 (two communities) and a 镇 (two villages)."""
    add_division(session, code=COUNTY, level=3, name="测试县", parent_code="330500", kind="县")
    add_division(session, code=STREET_TOWN, level=4, name="测试街道", parent_code=COUNTY, kind="街道")
    add_division(session, code=TOWN, level=4, name="测试镇", parent_code=COUNTY, kind="镇")
    for code, name, parent, kind in ((COMMUNITY, "甲社区", STREET_TOWN, "居委会"),
                                     (COMMUNITY_2, "乙社区", STREET_TOWN, "居委会"),
                                     (VILLAGE, "丙村", TOWN, "村委会"), (EMPTY_VILLAGE, "丁村", TOWN, "村委会")):
        add_division(session, code=code, level=5, name=name, parent_code=parent, kind=kind)


def add_homes(conn: Connection | Session, village: str, points: list[tuple[float, float]]) -> list[str]:
    """One plate per point on a street of VILLAGE; returns their codes."""
    conn = conn.connection() if isinstance(conn, Session) else conn
    street = add_street(conn, village_code=village, name="测试路", named=False, lon=points[0][0], lat=points[0][1])
    return [add_plate(conn, street, 2 * i + 1, lon=lon, lat=lat).code for i, (lon, lat) in enumerate(points)]


def add_facility(session: Session | Connection, *, type_code: str = "MEAL_POINT", at: tuple[float, float] = ORIGIN,
                 division_code: str = COMMUNITY, status: str = "operating", facility_id: str | None = None,
                 name: str = "测试设施") -> str:
    """Insert one facility directly (no matching); returns its id."""
    facility_id = facility_id or f"T-{type_code}-{division_code}-{at[0]:.5f}-{at[1]:.5f}"
    session.execute(text(
        "INSERT INTO facilities (facility_id, name, type_code, geom, division_code, status, source, created_by) "
        "VALUES (:id, :name, :type, ST_SetSRID(ST_MakePoint(:lon, :lat), 4490), :division, :status, 'test', "
        "'test')"), {"id": facility_id, "name": name, "type": type_code, "lon": at[0], "lat": at[1],
                     "division": division_code, "status": status})
    return facility_id


def add_population(session: Session | Connection, code: str, population: int) -> None:
    """A population row for CODE."""
    session.execute(text("INSERT INTO division_population (code, population, year, source) "
                         "VALUES (:c, :p, 2020, 'test')"), {"c": code, "p": population})
