"""The datums a field or register position may come in, and their conversion to CGCS2000 (EPSG:4490).

CGCS2000 and WGS84 agree to a few centimetres in China (pyproj's 4326→4490 is a no-op "ballpark"
transformation), so WGS84 is kept as it is with its datum recorded, as in `addresses.coords`; GCJ-02
goes through the project's inverse (`data.gcj02`). The legacy datums (1980西安, 1954北京) need local
transformation parameters that the server does not have.
"""

from __future__ import annotations

import re

from shapely.geometry.base import BaseGeometry

from data.gcj02 import transform_geometry

DATUMS = {"CGCS2000": "CGCS2000", "EPSG4490": "CGCS2000", "WGS84": "WGS84", "EPSG4326": "WGS84",
          "GCJ02": "GCJ02"}
LEGACY = {"XIAN80", "XIAN1980", "XIAN", "XA80", "EPSG4610", "BEIJING54", "BEIJING1954", "BJ54", "EPSG4214"}


def _key(value: str) -> str:
    return re.sub(r"[^A-Z0-9]", "", value.upper())


def canonical(value: str | None) -> str | None:
    """CGCS2000, WGS84 or GCJ02 for any spelling of them ("EPSG:4490", "wgs 84"…); None otherwise."""
    return DATUMS.get(_key(value)) if value else None


def is_legacy(value: str) -> bool:
    """True for 1980西安 / 1954北京 in any usual spelling."""
    return _key(value) in LEGACY


def to_cgcs2000(geom: BaseGeometry, datum: str) -> BaseGeometry:
    """GEOM (lon/lat in the canonical DATUM) in EPSG:4490."""
    return transform_geometry(geom) if datum == "GCJ02" else geom
