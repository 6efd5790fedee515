"""The Chinese address parser: administrative prefix, then street, number, compound, building, unit,
floor and room.

`parse(texts, index)` normalises each text (`addresses.normalize`), resolves the administrative
prefix with the `AdminIndex` (one automaton pass), and reads the remainder with a small grammar of
anchored, precompiled patterns: [village] road [road number] [compound/POI] [building] [unit]
[floor] [room]. Every component is reported as the user wrote it, with its span in the input; what
the grammar is unsure of stays in `remainder`. Problems become warnings in Baidu's taxonomy
(冲突, 冗余, 缺失, 错误); `parse` never raises on a string.
"""

from __future__ import annotations

import gc
import re
from collections.abc import Sequence
from dataclasses import MISSING, asdict, dataclass, field, fields

from addresses.admin import LEVEL_NAMES, MUNICIPALITIES, SEPARATORS, AdminIndex, AdminMatch
from addresses.normalize import normalize_changes

MAX_INPUT = 256  # characters read from one address; the rest is cut off with a warning
COMPONENTS = ("province", "city", "county", "town", "village", "road", "roadno", "poi", "houseno",
              "cellno", "floorno", "roomno")

_H = "\u3400-\u9fff"
_SEP = r"[,，、;；:：。()（）【】《》/|_]*"
_GEN = r"(?:大道|大街|路|街(?![道区坊])|巷|胡同|弄|里(?=\d)|道(?=\d))"  # road 通名
_ROADNO = (
    r"(?:\d+组)?(?:"
    r"\d+(?:-\d+)?弄(?:\d+(?:-\d+)?(?:支弄\d+)?号(?![楼院馆])|\d+(?![\d号幢栋座单层楼室房]))?"
    r"|\d+(?:-\d+)?号(?![楼院馆])(?:之\d+|附\d+|-\d+)?"
    r"|\d+(?:-\d+)?(?=$|[^\d\-A-Z号幢栋座单层楼室房组弄,，]))")
# A 通名 inside the 专名 (横街路, 红路路, 孙家弄路, 马路村路) is not the road's end: the road is the
# shortest name ending in a 通名 right before a number (or the end), 里 aside (解放路幸福里3幢 is a
# compound); failing that, the shortest one together with any 通名 written right after it
# (东街路阳光小区, 大道街), but not 路口, 路边.
_ROAD = (rf"[{_H}]{{1,14}}?(?:大道|大街|路|街(?![道区坊])|巷|胡同|弄|道)(?={_SEP}(?:\d|$))"
         rf"|[{_H}]{{1,14}}?{_GEN}(?:{_GEN}(?![口边旁侧段]))*")
_POI_TAILS = (
    "小区|花园|公寓|大厦|广场|家园|新村|山庄|庄园|公馆|华庭|华府|名苑|别墅|大楼|商城|商厦|市场|学校|小学|中学|大学|"
    "学院|医院|中心|宾馆|酒店|饭店|工业园|工业区|产业园|科技园|园区|宿舍|公司|苑|园|城|府|村|楼|馆|院|厦|居|庭|"
    "湾|坊|寓|墅|邸|阁|轩|舍|厂")
_POI = rf"[{_H}A-Z]{{0,23}}(?:{_POI_TAILS})"
# A name of unknown kind right before a building/floor/room number is taken as the compound.
_POI_BEFORE_NUMBER = rf"[{_H}]{{2,20}}(?=(?:\d+[A-Z]?|[A-Z]\d*)(?:号楼|幢|栋|座|单元|层|楼|室|F)|[A-Z]座)"
_HOUSE = r"第?(?:\d+[A-Z]?|[A-Z]\d*)(?:号楼|号院|栋楼|幢楼|幢|栋|座|号(?=\d+单元)|楼(?=\d+单元))"
_CELL = r"第?(?:\d+|[A-Z])单元"
_FLOOR = r"(?:第?(?:负|B|-)?\d+(?:层|楼)|F\d+|\d+F)(?!号)"
# 301室, 1001房, A502室; 301号 and a bare 301 only right after a building, unit or floor.
_ROOM = (r"-?\d+(?:-\d+)?(?:室|房|户|号房)|[A-Z]?\d+[A-Z]?(?:室|房)"
         r"|(?<=[幢栋座元层楼F\d])-?\d{1,5}[A-Z]?(?:号(?!楼)|(?=$|[,，。()（）]))")
# The remainder grammar in one pattern: every part optional, in address order; a number after a
# village-like compound (XX村15号) is its road number; 3-2-301 is building-unit-room.
GRAMMAR = re.compile(
    rf"(?P<road>{_ROAD})?{_SEP}(?P<roadno>{_ROADNO})?{_SEP}"
    rf"(?:(?P<poi>{_POI})|(?P<poi_named>{_POI_BEFORE_NUMBER}))?{_SEP}"
    rf"(?(roadno)|(?<=村)(?P<roadno_rural>{_ROADNO}))?{_SEP}"
    rf"(?:(?P<house_t>\d+)-(?P<cell_t>\d+)-(?P<room_t>\d+(?:室|号|房)?)(?![\d-])"
    rf"|(?P<houseno>{_HOUSE})?{_SEP}(?P<cellno>{_CELL})?{_SEP}(?P<floorno>{_FLOOR})?{_SEP}"
    rf"(?P<roomno>{_ROOM})?)")
_GROUPS = tuple((GRAMMAR.groupindex[group], name) for group, name in (
    ("road", "road"), ("roadno", "roadno"), ("roadno_rural", "roadno"), ("poi", "poi"),
    ("poi_named", "poi"), ("house_t", "houseno"), ("cell_t", "cellno"), ("room_t", "roomno"),
    ("houseno", "houseno"), ("cellno", "cellno"), ("floorno", "floorno"), ("roomno", "roomno")))
# A township the index does not know, written where one belongs (before a road, village or number).
UNKNOWN_TOWN = re.compile(
    rf"[{_H}]{{2,6}}?(?:街道办事处|街道|镇|乡)(?=[{_H}]{{1,8}}?(?:路|街|大道|巷|村|社区)|$|\d)(?!路|街|大道)")
CHINESE = re.compile(rf"[{_H}]")
_BAD_NUMBER = re.compile(r"(?<!\d)0+(?!\d)|\d{7}")


@dataclass(frozen=True)
class ParsedAddress:
    """One parsed address. Component texts are substrings of `text`; codes follow `divisions`."""

    text: str
    normalized: str
    province: str | None = None
    city: str | None = None
    county: str | None = None
    town: str | None = None
    village: str | None = None
    road: str | None = None
    roadno: str | None = None
    poi: str | None = None
    houseno: str | None = None
    cellno: str | None = None
    floorno: str | None = None
    roomno: str | None = None
    province_code: str | None = None
    city_code: str | None = None
    county_code: str | None = None
    town_code: str | None = None
    village_code: str | None = None
    province_name: str | None = None
    city_name: str | None = None
    county_name: str | None = None
    town_name: str | None = None
    village_name: str | None = None
    level: str | None = None
    remainder: str = ""
    spans: dict[str, tuple[int, int]] = field(default_factory=dict)
    warnings: list[dict] = field(default_factory=list)
    ambiguous: bool = False

    def to_dict(self) -> dict:
        """Plain JSON-ready dict of every field."""
        return asdict(self)


def parse(texts: Sequence[str], index: AdminIndex) -> list[ParsedAddress]:
    """Parse TEXTS in input order with the administrative INDEX (see `admin_index`)."""
    # Results hold no reference cycles, so the cyclic collector has nothing to find in a batch; its
    # passes over tens of thousands of fresh results would cost a third of the time. Reference
    # counting still frees everything; the collector resumes when the batch is done.
    paused = gc.isenabled() and len(texts) > 1
    if paused:
        gc.disable()
    try:
        return [parse_one(t, index) for t in texts]
    finally:
        if paused:
            gc.enable()


def parse_one(text: str, index: AdminIndex) -> ParsedAddress:
    """Parse one address; problems are reported in `warnings`, never raised."""
    warnings: list[dict] = []
    if not isinstance(text, str):
        warnings.append(_warning("错误", None, f"输入不是文本（{type(text).__name__}）"))
        text = ""
    read = text
    if len(text) > MAX_INPUT:
        read = text[:MAX_INPUT]
        warnings.append(_warning("错误", None, f"地址过长（{len(text)}字），只读取前{MAX_INPUT}字"))
    normalized, where = normalize_changes(read)
    admin = index.resolve(normalized)
    described = admin.described
    if described is None:
        described = admin.described = _describe(index, admin, normalized)
    values = described.copy()
    if admin.warnings:
        warnings += [dict(w) for w in admin.warnings]
    if where is None:
        spans = values["spans"] = described["spans"].copy()
    else:
        spans = values["spans"] = {}
        for level, (start, end) in admin.spans.items():
            _put(values, spans, LEVEL_NAMES[level], where[start], where[end - 1] + 1, read)
    pos = admin.end
    if pos < len(normalized) and normalized[pos] in SEPARATORS:
        pos = _skip(normalized, pos)
    nodes = admin.nodes
    if nodes and 4 not in nodes:
        m = UNKNOWN_TOWN.match(normalized, pos)
        if m is not None:
            warnings.append(_warning("错误", "town", f"未知的乡镇/街道“{m.group()}”"))
            pos = _skip(normalized, m.end())
    if pos < len(normalized):
        _read_remainder(normalized, pos, where, read, values, spans, bool(nodes))
        if _BAD_NUMBER.search(normalized, pos):
            _check_numbers(normalized, pos, warnings)
    if not nodes:
        warnings.append(_warning("缺失", None, "未识别出行政区划"))
        if normalized and not CHINESE.search(normalized):
            warnings.append(_warning("错误", None, "地址中没有汉字"))
    values["text"] = text
    values["normalized"] = normalized
    values["remainder"] = normalized[pos:]
    values["warnings"] = warnings
    address = object.__new__(ParsedAddress)
    # The frozen __init__ sets 29 fields one object.__setattr__ at a time (as slow as the whole
    # grammar); filling the instance dict in one step gives the same object.
    object.__setattr__(address, "__dict__", values)
    return address


def _read_remainder(s: str, pos: int, where: list[int] | None, read: str, values: dict, spans: dict,
                    placed: bool) -> None:
    """Road, number, compound, building, unit, floor and room (GRAMMAR), as written in READ.

    A number right at the start counts as a road number only after a division (PLACED) or a road.
    """
    regs = GRAMMAR.match(s, pos).regs
    for group, name in _GROUPS:
        start, end = regs[group]
        if start < end:
            if s[start] == "-":
                start += 1
            if where is not None:
                start, end = where[start], where[end - 1] + 1
            values[name] = read[start:end]
            spans[name] = (start, end)
    if not placed and "roadno" in spans and "road" not in spans:
        del spans["roadno"]
        values["roadno"] = None


def _put(values: dict, spans: dict, name: str, start: int, end: int, text: str) -> None:
    values[name] = text[start:end]
    spans[name] = (start, end)


_DEFAULTS = {f.name: f.default for f in fields(ParsedAddress) if f.default is not MISSING}
_CODE_KEYS = tuple(f"{name}_code" if name else None for name in LEVEL_NAMES)
_NAME_KEYS = tuple(f"{name}_name" if name else None for name in LEVEL_NAMES)


def _describe(index: AdminIndex, admin: AdminMatch, normalized: str) -> dict:
    """Every field at its default, plus what the administrative prefix decides: codes, standard
    names, level, ambiguity, and the division components as they read when the text needed no
    normalisation (cached with the prefix, so an unchanged text copies them as they are)."""
    values = dict(_DEFAULTS)
    values["ambiguous"] = admin.ambiguous
    values["spans"] = {}
    for level, (start, end) in admin.spans.items():
        _put(values, values["spans"], LEVEL_NAMES[level], start, end, normalized)
    nodes = admin.nodes
    if not nodes:
        return values
    codes, names, placeholder = index.codes, index.names, index.placeholder
    for level, node in nodes.items():
        values[_CODE_KEYS[level]] = codes[node]
        values[_NAME_KEYS[level]] = names[node]
    city = nodes.get(2)
    if city is not None and placeholder[city]:
        # 市辖区 / 县 of a municipality carry the municipality's name; 省直辖县级行政区划 has none.
        values["city_name"] = names[nodes[1]] if codes[city][:2] in MUNICIPALITIES else None
    if admin.village is not None:
        values["village_code"], values["village_name"] = admin.village
        values["level"] = "village"
    else:
        values["level"] = LEVEL_NAMES[max(nodes)]
    return values


def _skip(s: str, pos: int) -> int:
    while pos < len(s) and s[pos] in SEPARATORS:
        pos += 1
    return pos


_NUMBERED = ("roadno", "houseno", "cellno", "floorno", "roomno")


def _check_numbers(s: str, start: int, warnings: list[dict]) -> None:
    """A number that cannot be one (0, or seven digits and more) in any numbered part after START."""
    for m in _BAD_NUMBER.finditer(s, start):
        warnings.append(_warning("错误", None, f"编号“{m.group()}”不合理"))


def _warning(kind: str, component: str | None, message: str) -> dict:
    return {"kind": kind, "component": component, "message": message}
