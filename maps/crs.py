"""Coordinate reference systems of the OGC API (Features Part 2): the supported CRSs, their URIs, axis
order, and the SQL that moves geometries and boxes between them and the storage CRS (EPSG:4490).

Storage is CGCS2000 lon/lat; CRS84 output is the stored coordinates unchanged (CGCS2000 and WGS 84
agree to centimetres, as elsewhere in the service), EPSG:4326 likewise, in its authority axis order.
The axis order of every CRS comes from pyproj (EPSG:4490 and 4326 are lat,lon; the CGCS2000 3-degree
Gauss-Krüger zones 4534–4554 are northing,easting; 3857 is x,y).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache

import numpy as np
import shapely
from pyproj import CRS as ProjCRS
from pyproj import Transformer
from pyproj.exceptions import ProjError

from data.errors import InvalidInput

CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
EPSG_URI = "http://www.opengis.net/def/crs/EPSG/0/{}"
GAUSS_KRUGER_ZONES = tuple(range(4534, 4555))  # CGCS2000 3-degree GK, CM 75E … 135E
SUPPORTED_SRIDS = (4490, 4326, 3857, *GAUSS_KRUGER_ZONES)
GEOGRAPHIC_SRIDS = (4490, 4326)  # stored lon/lat is used as is (no datum shift)

_EPSG = re.compile(r"^(?:https?://www\.opengis\.net/def/crs/EPSG/0/|urn:ogc:def:crs:EPSG:[0-9.]*:|EPSG:)(\d+)$",
                   re.IGNORECASE)
_CRS84 = re.compile(r"^(?:https?://www\.opengis\.net/def/crs/OGC/1\.3/CRS84|urn:ogc:def:crs:OGC:(?:1\.3)?:CRS84"
                    r"|OGC:CRS84)$", re.IGNORECASE)


class BadParameter(InvalidInput):
    """An OGC API query parameter with an invalid value (the OGC standards require 400, not 422)."""

    status = 400
    code = "invalid-parameter"
    title = "Invalid parameter"


def bad(param: str, message: str) -> BadParameter:
    """A 400 for PARAM with MESSAGE (one field error)."""
    return BadParameter(f"{param}: {message}", errors=[{"field": param, "message": message}])


@dataclass(frozen=True)
class Crs:
    """A supported CRS: its URI, EPSG code (None for CRS84) and whether its first axis is north."""

    uri: str
    srid: int | None
    lat_first: bool

    @property
    def geographic(self) -> bool:
        """True for the lon/lat systems that share the stored coordinates (CRS84, 4490, 4326)."""
        return self.srid is None or self.srid in GEOGRAPHIC_SRIDS

    @property
    def decimals(self) -> int:
        """Decimal digits that keep centimetre precision: 7 for degrees, 3 for metres."""
        return 7 if self.geographic else 3


@cache
def _north_first(srid: int) -> bool:
    return ProjCRS.from_epsg(srid).axis_info[0].direction == "north"


def crs_of(srid: int | None) -> Crs:
    """The Crs for SRID (None = CRS84)."""
    if srid is None:
        return Crs(CRS84, None, False)
    return Crs(EPSG_URI.format(srid), srid, _north_first(srid))


DEFAULT = crs_of(None)


def supported_uris() -> list[str]:
    """Every supported CRS URI, CRS84 first."""
    return [CRS84, *(EPSG_URI.format(s) for s in SUPPORTED_SRIDS)]


def parse_crs(value: str | None, param: str = "crs") -> Crs:
    """Parse an OGC CRS URI (http or urn form; CRS84 when absent), or raise a 400."""
    if value is None:
        return DEFAULT
    value = value.strip()
    if _CRS84.match(value):
        return DEFAULT
    match = _EPSG.match(value)
    if match and int(match.group(1)) in SUPPORTED_SRIDS:
        return crs_of(int(match.group(1)))
    raise bad(param, f"unsupported CRS {value!r}; use one of {', '.join(supported_uris())}")


def _transformer(crs: Crs) -> Transformer:
    return _to_lonlat(crs.srid)


@cache
def _to_lonlat(srid: int) -> Transformer:
    return Transformer.from_crs(f"EPSG:{srid}", "OGC:CRS84", always_xy=True)


def _finite(geometry: shapely.Geometry, param: str) -> shapely.Geometry:
    if geometry.is_empty or not np.isfinite(shapely.get_coordinates(geometry)).all():
        raise bad(param, "the coordinates are outside the CRS's area or not finite")
    return geometry


def to_storage(geometry: shapely.Geometry, crs: Crs, param: str = "filter") -> shapely.Geometry:
    """GEOMETRY given in CRS's axis order, as storage lon/lat (EPSG:4490), or a 400 for PARAM."""
    geometry = _finite(geometry, param)
    if crs.lat_first:
        geometry = shapely.transform(geometry, lambda xy: xy[:, ::-1])
    if not crs.geographic:
        with np.errstate(all="ignore"):
            geometry = shapely.transform(geometry, lambda xy: np.column_stack(
                _transformer(crs).transform(xy[:, 0], xy[:, 1], errcheck=False)))
    return _finite(geometry, param)


def box_to_storage(box: tuple[float, float, float, float], crs: Crs,
                   param: str = "bbox") -> tuple[float, float, float, float]:
    """A box (min, min, max, max in CRS's axis order) as storage lon/lat bounds, or a 400 for PARAM."""
    a, b, c, d = box
    minx, miny, maxx, maxy = (b, a, d, c) if crs.lat_first else (a, b, c, d)
    if crs.geographic:
        return minx, miny, maxx, maxy
    try:
        bounds = _transformer(crs).transform_bounds(minx, miny, maxx, maxy, densify_pts=21, errcheck=True)
    except ProjError:
        raise bad(param, "the box is outside the CRS's area") from None
    if not np.isfinite(bounds).all():
        raise bad(param, "the box is outside the CRS's area")
    return bounds


def from_storage_sql(expr: str, crs: Crs) -> str:
    """SQL turning the stored geometry EXPR into CRS, in its authority axis order."""
    if not crs.geographic:
        expr = f"ST_Transform({expr}, {crs.srid})"
    return f"ST_FlipCoordinates({expr})" if crs.lat_first else expr
