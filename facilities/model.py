"""What the facility domain returns: types, facilities, coverage rows, gaps, the coverage report.

These are the contract between `facilities/` and its readers (the API, the CLI, the map pages).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass, field

RADII_M = (300, 500, 1000)  # domain.md §8 (design choice): 5-, 10- and 15-minute circles


@dataclass(frozen=True)
class FacilityType:
    """A facility type from `facilities/types.csv`."""

    code: str
    name: str
    category: str  # elderly | children | social_work | assistance | marriage | funeral
    default_radius_m: int
    capacity_unit: str | None  # beds | meal_seats | places | None
    icon: str  # a Font Awesome 4 icon name (folium.Icon prefix "fa")
    color: str  # #rrggbb
    sort_order: int
    description: str

    def as_dict(self) -> dict:
        """JSON-ready form."""
        return asdict(self)


@dataclass(frozen=True)
class Facility:
    """A facility as readers see it (coordinates in CGCS2000 lon/lat)."""

    facility_id: str
    name: str
    type_code: str
    lon: float
    lat: float
    address: str | None
    address_code: str | None
    division_code: str
    beds: int | None
    meal_seats: int | None
    operator: str | None
    opened_on: dt.date | None
    status: str
    version: int
    closed_on: dt.date | None = None
    source: str | None = None

    def as_dict(self) -> dict:
        """JSON-ready form, with a GeoJSON point."""
        out = asdict(self)
        out["geometry"] = {"type": "Point", "coordinates": [round(self.lon, 7), round(self.lat, 7)]}
        for key in ("opened_on", "closed_on"):
            out[key] = out[key].isoformat() if out[key] else None
        return out


@dataclass(frozen=True)
class DivisionCoverage:
    """One division's coverage: residential addresses (and population) within each radius."""

    code: str
    name: str
    level: int
    addresses: int  # residential addresses in the division
    covered: dict[int, int]  # radius (m) -> residential addresses within it, straight-line
    network_covered: dict[int, int] | None  # the same along the walking network, when one is loaded
    population: int | None  # loaded population, when known
    population_covered: dict[int, int] | None  # radius -> population covered (address-weighted)

    def share(self, radius_m: int, network: bool = False) -> float | None:
        """The share of residential addresses covered within RADIUS_M (None when not computed)."""
        counts = self.network_covered if network else self.covered
        if counts is None or radius_m not in counts or self.addresses == 0:
            return None
        return counts[radius_m] / self.addresses


@dataclass(frozen=True)
class Gap:
    """A division that fails a coverage rule, with why."""

    code: str
    name: str
    level: int
    kind: str  # community | village | township
    rule: str  # no_facility_in_radius | no_social_work_station | large_village_without_meal_point
    message: str
    population: int | None
    nearest_m: float | None  # distance to the nearest facility of the type, when any
    lon: float | None  # a representative point (centroid of its residential addresses), when known
    lat: float | None


@dataclass(frozen=True)
class CoverageReport:
    """The coverage of DIVISION's children by the facility TYPES within RADIUS_M, plus the gap list."""

    division_code: str
    division_name: str
    type_codes: tuple[str, ...]
    radius_m: int  # the radius the gap list uses
    radii_m: tuple[int, ...]
    network: bool  # whether network distances were computed (a walking network is loaded)
    rows: list[DivisionCoverage]
    total: DivisionCoverage
    gaps: list[Gap]
    facilities: int  # facilities of the types counted (in and around the division)
    notes: list[str] = field(default_factory=list)  # e.g. "no population loaded: shares by address only"
