"""Output (and input) coordinate systems for the lookup API: CGCS2000 by default, or the web maps'.

CGCS2000 and WGS84 agree to a few centimetres in China, so both are returned unchanged; GCJ-02 and
BD-09 are the offsets AMap/Tencent and Baidu use, given for comparison with the commercial maps.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from data.errors import InvalidInput
from data.gcj02 import bd09_to_gcj02, gcj02_to_bd09, gcj02_to_wgs84, wgs84_to_gcj02

COORDSYS = ("cgcs2000", "wgs84", "gcj02", "bd09")


def check_coordsys(value: str) -> str:
    """The coordinate system named, or a 422 listing the ones offered."""
    name = value.lower()
    if name not in COORDSYS:
        raise InvalidInput(f"coordsys must be one of {', '.join(COORDSYS)}",
                           errors=[{"field": "coordsys", "message": f"unknown coordinate system {value!r}"}])
    return name


def from_cgcs2000(lons: Sequence[float], lats: Sequence[float], coordsys: str) -> tuple[list, list]:
    """Stored CGCS2000 lon/lat converted to COORDSYS (lists in, lists out)."""
    if coordsys in ("cgcs2000", "wgs84") or not len(lons):
        return list(lons), list(lats)
    lon, lat = wgs84_to_gcj02(np.asarray(lons), np.asarray(lats))
    if coordsys == "bd09":
        lon, lat = gcj02_to_bd09(lon, lat)
    return lon.tolist(), lat.tolist()


def to_cgcs2000(lon: float, lat: float, coordsys: str) -> tuple[float, float]:
    """A point given in COORDSYS as CGCS2000 lon/lat."""
    if coordsys in ("cgcs2000", "wgs84"):
        return lon, lat
    if coordsys == "bd09":
        lon, lat = (float(v) for v in bd09_to_gcj02(lon, lat))
    out_lon, out_lat = gcj02_to_wgs84(lon, lat)
    return float(out_lon), float(out_lat)


def point(lon: float | None, lat: float | None, coordsys: str) -> dict | None:
    """A GeoJSON point in COORDSYS rounded to 7 decimals (≈1 cm), or None."""
    if lon is None or lat is None:
        return None
    (x,), (y,) = from_cgcs2000([lon], [lat], coordsys)
    return {"type": "Point", "coordinates": [round(x, 7), round(y, 7)]}
