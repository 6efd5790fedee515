"""Geodesic distance from many points to their nearest facility, exactly, in bulk.

Candidates come from an R-tree on a local plane (longitude scaled by the cosine of the group's mean
latitude, one plane per county so the distortion stays within a few per cent); the distances are
geodesic on CGCS2000's ellipsoid. Two passes keep it exact and small: the plane's nearest facility gives
an upper bound d₁; every facility within d₁ × SLACK on the plane is then measured, and the least wins.
"""

from __future__ import annotations

import numpy as np
import shapely
from pyproj import Geod

GEOD = Geod(ellps="GRS80")   # CGCS2000's ellipsoid (differs from GRS80 by 0.1 mm in the semi-minor axis)
M_PER_DEG = 111_320.0
SLACK = 1.25                 # covers the plane's distortion within a county (a few per cent) with room


def nearest_metres(groups: np.ndarray, lon: np.ndarray, lat: np.ndarray, fac_lon: np.ndarray,
                   fac_lat: np.ndarray, far: float) -> np.ndarray:
    """Per point, the geodesic metres to the nearest facility when within FAR, else +inf.

    GROUPS labels the points (county codes); each group gets its own plane and facility tree."""
    out = np.full(len(lon), np.inf)
    if not len(lon) or not len(fac_lon):
        return out
    for group in np.unique(groups):
        index = np.flatnonzero(groups == group)
        out[index] = _group(lon[index], lat[index], fac_lon, fac_lat, far)
    return out


def _group(lon: np.ndarray, lat: np.ndarray, fac_lon: np.ndarray, fac_lat: np.ndarray, far: float) -> np.ndarray:
    scale = float(np.cos(np.radians(lat.mean())))
    reach = far * SLACK / M_PER_DEG / max(scale, 0.05)
    near = ((fac_lon >= lon.min() - reach) & (fac_lon <= lon.max() + reach)
            & (fac_lat >= lat.min() - reach) & (fac_lat <= lat.max() + reach))
    out = np.full(len(lon), np.inf)
    if not near.any():
        return out
    f_lon, f_lat = fac_lon[near], fac_lat[near]
    tree = shapely.STRtree(shapely.points(f_lon * scale, f_lat))
    homes = shapely.points(lon * scale, lat)
    first_home, first_fac = tree.query_nearest(homes, max_distance=far * SLACK / M_PER_DEG, all_matches=False)
    if not len(first_home):
        return out
    _, _, bound = GEOD.inv(lon[first_home], lat[first_home], f_lon[first_fac], f_lat[first_fac])
    keep = bound <= far * SLACK
    first_home, bound = first_home[keep], bound[keep]
    plane = shapely.distance(homes[first_home], shapely.points(f_lon[first_fac[keep]] * scale, f_lat[first_fac[keep]]))
    home_of, fac_of = tree.query(homes[first_home], predicate="dwithin", distance=plane * SLACK + 1e-9)
    home_of = first_home[home_of]
    _, _, metres = GEOD.inv(lon[home_of], lat[home_of], f_lon[fac_of], f_lat[fac_of])
    np.minimum.at(out, home_of, metres)
    out[out > far] = np.inf
    return out
