"""A coverage report as JSON-ready dicts and as CSV (UTF-8 with BOM, so Excel opens the Chinese names)."""

from __future__ import annotations

import csv
import io

from facilities.model import CoverageReport, DivisionCoverage, Gap

GAP_COLUMNS = ("code", "name", "level", "kind", "rule", "message", "population", "nearest_m", "lon", "lat")


def _share(count: int | None, whole: int | None) -> float | None:
    return None if count is None or not whole else round(count / whole, 4)


def coverage_row(row: DivisionCoverage, radii: tuple[int, ...]) -> dict:
    """One division's coverage: counts and shares per radius, straight-line, network and population."""
    return {
        "code": row.code, "name": row.name, "level": row.level, "addresses": row.addresses,
        "population": row.population,
        "radii": [{
            "radius_m": r, "covered": row.covered[r], "share": _share(row.covered[r], row.addresses),
            "network_covered": None if row.network_covered is None else row.network_covered[r],
            "network_share": None if row.network_covered is None else _share(row.network_covered[r], row.addresses),
            "population_covered": None if row.population_covered is None else row.population_covered[r],
            "population_share": None if row.population_covered is None else _share(row.population_covered[r],
                                                                                   row.population),
        } for r in radii],
    }


def gap_dict(gap: Gap) -> dict:
    """One gap, JSON-ready."""
    return {name: getattr(gap, name) for name in GAP_COLUMNS}


def report_dict(report: CoverageReport) -> dict:
    """The whole report, JSON-ready."""
    return {
        "division": {"code": report.division_code, "name": report.division_name},
        "types": list(report.type_codes), "radius_m": report.radius_m, "radii_m": list(report.radii_m),
        "network": report.network, "facilities": report.facilities,
        "rows": [coverage_row(r, report.radii_m) for r in report.rows],
        "total": coverage_row(report.total, report.radii_m),
        "gaps": [gap_dict(g) for g in report.gaps], "notes": list(report.notes),
    }


def _flat(row: DivisionCoverage, radii: tuple[int, ...]) -> list:
    cells = [row.code, row.name, row.level, row.addresses, row.population]
    for r in radii:
        cells += [row.covered[r], _share(row.covered[r], row.addresses),
                  None if row.network_covered is None else row.network_covered[r],
                  None if row.network_covered is None else _share(row.network_covered[r], row.addresses),
                  None if row.population_covered is None else row.population_covered[r]]
    return cells


def coverage_csv(report: CoverageReport) -> str:
    """One row per child division plus the total (code 'total' row last), BOM first."""
    out = io.StringIO()
    out.write("\ufeff")
    writer = csv.writer(out, lineterminator="\r\n")
    header = ["code", "name", "level", "addresses", "population"]
    for r in report.radii_m:
        header += [f"covered_{r}m", f"share_{r}m", f"network_covered_{r}m", f"network_share_{r}m",
                   f"population_covered_{r}m"]
    writer.writerow(header)
    for row in [*report.rows, report.total]:
        writer.writerow(["" if v is None else v for v in _flat(row, report.radii_m)])
    return out.getvalue()


def gaps_csv(report: CoverageReport) -> str:
    """The gap list, BOM first."""
    out = io.StringIO()
    out.write("\ufeff")
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(GAP_COLUMNS)
    for gap in report.gaps:
        writer.writerow(["" if v is None else v for v in (getattr(gap, c) for c in GAP_COLUMNS)])
    return out.getvalue()
