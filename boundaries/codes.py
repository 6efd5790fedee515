"""Division codes: parsing, levels and kinds from the code ranges of GB/T 2260 and GB/T 10114.

Rules are numbered as in `shared/domain.md` §9 (27–31); §4.1–4.2 give the ranges.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from data.errors import InvalidInput

LEVELS = {1: "province", 2: "prefecture", 3: "county", 4: "township", 5: "village"}
LEVEL_NAMES = {"province": 1, "prefecture": 2, "county": 3, "township": 4, "village": 5}
CODE_HELP = (
    "a division code is 6 digits (province 330000, prefecture 330500, county 330502), "
    "9 digits (township 330502001) or 12 digits (village 330502001001)"
)
_DIGITS = re.compile(r"^([0-9]{6}|[0-9]{9}|[0-9]{12})$")

# Prefecture-level rows that only group counties in the statistics (not real divisions).
PREFECTURE_PLACEHOLDERS = {
    "市辖区": "直辖市市辖区(统计汇总)",
    "县": "直辖市县(统计汇总)",
    "省直辖县级行政区划": "省直辖县级行政区划(统计汇总)",
    "自治区直辖县级行政区划": "自治区直辖县级行政区划(统计汇总)",
}
PLACEHOLDER_COUNTY = "不设区的地级市(县级占位)"
_FUNCTIONAL_ZONE = re.compile(
    r"(开发区|园区|管理区|管委会|新城|新区|行政委员会|示范区|合作区|试验区)$"
)
_COUNTY_SUFFIXES = (
    ("自治县", "自治县"), ("自治旗", "自治旗"), ("林区", "林区"), ("特区", "特区"),
    ("旗", "旗"), ("县", "县"), ("区", "市辖区"), ("市", "县级市"),
)


class InvalidCode(InvalidInput):
    """The text is not a division code; the message says what one looks like."""


@dataclass(frozen=True, slots=True)
class DivisionCode:
    """A validated 6-, 9- or 12-digit division code (always a string, never an integer)."""

    value: str

    @classmethod
    def parse(cls, text: str) -> DivisionCode:
        """Validate TEXT (surrounding spaces allowed) or raise InvalidCode."""
        value = str(text).strip()
        if not _DIGITS.match(value):
            raise InvalidCode(f"'{text}' is not a division code: {CODE_HELP}")
        if value[:2] == "00":
            raise InvalidCode(f"'{text}' is not a division code: province digits cannot be 00")
        return cls(value)

    @property
    def level(self) -> int:
        """1 province … 5 village, from the code alone (rule 27)."""
        if len(self.value) == 12:
            return 5
        if len(self.value) == 9:
            return 4
        if self.value.endswith("0000"):
            return 1
        return 2 if self.value.endswith("00") else 3

    @property
    def parent(self) -> str | None:
        """The code of the level above, by the code's structure (None for a province)."""
        return parent_code(self.value, self.level)

    def __str__(self) -> str:
        return self.value


def parent_code(code: str, level: int) -> str | None:
    """The parent's code for a row of LEVEL (the placeholder county 441900 sits under 441900)."""
    return {1: None, 2: code[:2] + "0000", 3: code[:4] + "00", 4: code[:6], 5: code[:9]}[level]


def province_kind(name: str) -> str:
    """省 / 自治区 / 直辖市 / 特别行政区, from the name."""
    for suffix, kind in (("自治区", "自治区"), ("特别行政区", "特别行政区"), ("省", "省")):
        if name.endswith(suffix):
            return kind
    return "直辖市"


def prefecture_kind(name: str) -> str:
    """地级市 / 地区 / 自治州 / 盟, or the statistical placeholder kind."""
    if name in PREFECTURE_PLACEHOLDERS:
        return PREFECTURE_PLACEHOLDERS[name]
    for suffix, kind in (("自治州", "自治州"), ("地区", "地区"), ("盟", "盟")):
        if name.endswith(suffix):
            return kind
    return "地级市"


def county_kind(name: str, code: str) -> str:
    """市辖区 / 县 / 自治县 / 旗 / 自治旗 / 林区 / 特区 / 县级市 / 功能区, from name and code."""
    if int(code[4:]) >= 70 and _FUNCTIONAL_ZONE.search(name):
        return "功能区(统计用)"
    for suffix, kind in _COUNTY_SUFFIXES:
        if name.endswith(suffix):
            # 碑林区, 万柏林区, 北林区 are city districts that happen to end in 林; the one 林区
            # (神农架) has county digits (21–50), districts have 01–20.
            if kind == "林区" and not 21 <= int(code[4:6]) <= 50:
                return "市辖区"
            return kind
    return "其他县级单位"


def township_kind(code: str, name: str) -> str:
    """街道 / 镇 / 乡 (苏木, 民族乡) / 政企合一单位 from the township digits (rule 29)."""
    seq = int(code[6:9])
    if seq < 100:
        return "街道"
    if seq < 200:
        return "镇"
    if seq < 400:
        if name.endswith("民族乡") or name.endswith("民族苏木"):
            return "民族乡"
        return "苏木" if name.endswith("苏木") else "乡"
    if seq < 600:
        return "政企合一单位"
    return "其他乡级单位"


def village_kind(code: str) -> str:
    """居委会 / 村委会 / 类似居委会 / 类似村委会 from the village digits (rule 30)."""
    seq = int(code[9:12])
    if seq < 200:
        return "居委会"
    if seq < 400:
        return "村委会"
    return "类似居委会" if seq < 500 else "类似村委会"


def county_code_warnings(code: str, kind: str) -> list[str]:
    """Rule 28: county digits that disagree with the unit type (amended GB/T 2260 ranges)."""
    dd = int(code[4:6])
    rural = {"县", "自治县", "旗", "自治旗", "林区"}
    if 21 <= dd <= 50 and kind not in rural:
        return [f"{code}: digits {dd:02d} are for 县/自治县/旗/自治旗/林区, not {kind}"]
    if 81 <= dd <= 99 and kind != "县级市":
        return [f"{code}: digits {dd:02d} are for 县级市, not {kind}"]
    return []
