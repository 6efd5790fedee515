"""Digital door plates (二维码门牌): an SVG plate per domain.md §6.4–6.5.

Blue background and white text [LPS-2016][TJ-QR]; the standard street or compound name with its
romanization on the left, the number large below it, and on the right a QR code [TJ-QR] linking to the
address record, with the address code printed small under it. Plate and QR sizes are the 大/中/小
classes of [RR-QR]; small plates carry no romanization, as Beijing's rule has it [BJ-2012].

A building, unit or room has no door plate of its own here: its plate is the one of the 门牌 it stands
behind, or of its compound when it has no 门牌.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from xml.sax.saxutils import escape, quoteattr

import segno
from sqlalchemy import Connection, text
from sqlalchemy.orm import Session

from addresses.model import CODE_LENGTH
from data.errors import GazetteerError, InvalidInput, NotFound
from placenames.romanize import romanize

DB = Session | Connection
QR_ERROR = "m"      # 15 % recovery: enough for a weathered plate, small enough for the 40 mm class
QR_BORDER = 4       # the quiet zone the QR standard asks for, in modules
BLUE = "#1d4e9e"
MIN_SHRINK = 0.5    # a long line shrinks to half its font size at most, then it is squeezed
FONT = "'Noto Sans CJK SC','Source Han Sans SC','Microsoft YaHei','SimHei',sans-serif"
_CODE = re.compile(r"[0-9]+")
_CODE_LENGTHS = sorted(set(CODE_LENGTH.values()))
_PLATE_LEVELS = ("plate", "compound", "street")
_CATEGORY = {"street": "0801", "compound": "0703"}


@dataclass(frozen=True, slots=True)
class SizeClass:
    """A plate class of [RR-QR]: plate width and height and the QR side, in millimetres."""

    label: str
    width: float
    height: float
    qr: float
    romanized: bool


SIZES = {
    "large": SizeClass("大门牌", 570, 370, 120, True),
    "medium": SizeClass("中门牌", 270, 170, 75, True),
    "small": SizeClass("小门牌", 150, 90, 40, False),
}


@dataclass(frozen=True, slots=True)
class PlateRecord:
    """What a door plate shows: the element it belongs to, the standard name, its romanization, the number."""

    code: str               # the plate, compound or street the door plate is for
    level: str
    name: str               # that element's own name: 100号, 阳光小区
    street_name: str        # the standard street or compound name written on the plate
    romanization: str       # its sign form in capitals ('' when it cannot be romanized)
    number_text: str        # 100号, 100号之1; '' on a compound's or a street's plate
    local_address: str
    full_address: str
    requested_code: str     # the code asked for (a room's code leads to its door plate)


def check_code(code: str) -> str:
    """CODE when it is an address code of 17, 21, 24, 26 or 30 ASCII digits; InvalidInput otherwise."""
    if not _CODE.fullmatch(code or "") or len(code) not in _CODE_LENGTHS:
        message = (f"an address code has {', '.join(map(str, _CODE_LENGTHS[:-1]))} or {_CODE_LENGTHS[-1]} "
                   f"digits (street/compound, plate, building, unit, room), got {code!r}")
        raise InvalidInput(message, errors=[{"field": "code", "message": message}])
    return code


_UP = """
WITH RECURSIVE up AS (
    SELECT a.address_id, a.parent_id, a.street_id, a.code, a.level, a.name, a.local_address, a.full_address,
           a.place_name_id, 0 AS depth
    FROM addresses a WHERE a.code = :code AND a.valid_to IS NULL
    UNION ALL
    SELECT p.address_id, p.parent_id, p.street_id, p.code, p.level, p.name, p.local_address, p.full_address,
           p.place_name_id, up.depth + 1
    FROM up JOIN addresses p ON p.address_id = up.parent_id AND p.valid_to IS NULL
    WHERE up.level NOT IN ('plate', 'compound', 'street') AND up.depth < 8
)
SELECT * FROM up ORDER BY depth DESC LIMIT 1
"""
_NAMED = """
SELECT a.code, a.level, a.name, a.place_name_id, pn.name AS standard_name, pn.romanization
FROM addresses a
LEFT JOIN place_names pn ON pn.name_id = a.place_name_id AND pn.valid_to IS NULL AND pn.status = 'standard'
WHERE a.address_id = :id AND a.valid_to IS NULL
"""


def plate_record(db: DB, code: str) -> PlateRecord:
    """The door plate of the current address CODE (NotFound for unknown or retired codes)."""
    check_code(code)
    top = db.execute(text(_UP), {"code": code}).first()
    if top is None:
        retired = db.execute(text("SELECT max(valid_to) FROM addresses WHERE code = :code"),
                             {"code": code}).scalar_one()
        raise NotFound(f"address {code} was retired on {retired}" if retired else f"no address has code {code}")
    if top.level not in _PLATE_LEVELS:
        raise NotFound(f"address {code} has no current plate or compound above it ({top.level} {top.code} "
                       "has no current parent)")
    named = db.execute(text(_NAMED), {"id": top.street_id if top.level == "plate" else top.address_id}).first()
    if named is None:
        raise NotFound(f"the street of plate {top.code} is not current")
    name = named.standard_name or named.name
    return PlateRecord(
        code=top.code, level=top.level, name=top.name, street_name=name,
        romanization=_sign_text(name, named.level, named.romanization),
        number_text=top.name if top.level == "plate" else "", local_address=top.local_address,
        full_address=top.full_address, requested_code=code)


def _sign_text(name: str, level: str, registered: str | None) -> str:
    """The registry's romanization in capitals, else one computed by the 1984 rules ('' when impossible)."""
    if registered:
        return registered.upper()
    try:
        return romanize(name, _CATEGORY.get(level)).sign_text
    except GazetteerError:
        return ""


def record_url(base_url: str, code: str) -> str:
    """The address record a plate's QR code links to."""
    return f"{base_url.rstrip('/')}/v1/addresses/{code}"


def plate_svg(record: PlateRecord, *, base_url: str, size: str = "medium") -> str:
    """The SVG door plate of RECORD in size class SIZE ('large', 'medium', 'small'), dimensions in mm."""
    if size not in SIZES:
        message = f"size must be one of {', '.join(SIZES)}, got {size!r}"
        raise InvalidInput(message, errors=[{"field": "size", "message": message}])
    s = SIZES[size]
    url = record_url(base_url, record.code)
    margin = s.height * 0.06
    text_width = s.width - s.qr - 3.5 * margin
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{_n(s.width)}mm" height="{_n(s.height)}mm" '
        f'viewBox="0 0 {_n(s.width)} {_n(s.height)}" role="img" aria-label={quoteattr(record.full_address)}>',
        f"<title>{escape(record.full_address)}</title>",
        f"<desc>{escape(s.label)} {escape(record.code)} {escape(url)}</desc>",
        f'<rect width="{_n(s.width)}" height="{_n(s.height)}" rx="{_n(margin)}" fill="{BLUE}"/>',
        f'<rect x="{_n(margin / 2)}" y="{_n(margin / 2)}" width="{_n(s.width - margin)}" '
        f'height="{_n(s.height - margin)}" rx="{_n(margin / 2)}" fill="none" stroke="#fff" '
        f'stroke-width="{_n(s.height * 0.012)}"/>',
        f'<g fill="#fff" font-family="{FONT}">',
        *_lines(record, s, margin * 1.5, margin, text_width),
        "</g>",
        *_qr(url, record.code, s, margin),
        "</svg>",
    ]
    return "\n".join(parts) + "\n"


def _lines(record: PlateRecord, s: SizeClass, x: float, margin: float, width: float) -> list[str]:
    """The text on the left: name (+ romanization) above, the number large below."""
    inner = s.height - 2 * margin
    romanized = s.romanized and record.romanization
    if not record.number_text:      # a compound's or street's plate: the name is the big text
        lines = [(record.street_name, inner * 0.34, margin + inner * (0.55 if romanized else 0.62), "name")]
        if romanized:
            lines.append((record.romanization, inner * 0.1, margin + inner * 0.8, "romanization"))
        return [_text(t, x, y, size, width, role) for t, size, y, role in lines]
    if s.romanized:                 # 大/中门牌: name band on top, number in the middle three fifths
        lines = [(record.street_name, inner * 0.17, margin + inner * 0.2, "name"),
                 (record.number_text, inner * 0.42, margin + inner * 0.82, "number")]
        if romanized:
            lines.insert(1, (record.romanization, inner * 0.07, margin + inner * 0.31, "romanization"))
    else:                           # 小门牌: name in the top two fifths, number in the bottom three
        lines = [(record.street_name, inner * 0.24, margin + inner * 0.3, "name"),
                 (record.number_text, inner * 0.45, margin + inner * 0.9, "number")]
    return [_text(t, x, y, size, width, role) for t, size, y, role in lines]


def _text(value: str, x: float, y: float, size: float, width: float, role: str) -> str:
    """One line of text, made smaller to fit WIDTH, and squeezed when it would get too small to read."""
    fit = ""
    ems = _em_width(value)
    if ems * size > width:
        size = max(width / ems, size * MIN_SHRINK)
        if ems * size > width:
            fit = f' textLength="{_n(width)}" lengthAdjust="spacingAndGlyphs"'
    weight = ' font-weight="bold"' if role in ("name", "number") else ""
    return (f'<text class="{role}" x="{_n(x)}" y="{_n(y)}" font-size="{_n(size)}"{weight}{fit}>'
            f"{escape(value)}</text>")


def _em_width(value: str) -> float:
    """Estimated advance of VALUE in ems: wide (CJK) characters 1, the rest 0.6."""
    return sum(1.0 if unicodedata.east_asian_width(ch) in "WF" else 0.6 for ch in value)


def _qr(url: str, code: str, s: SizeClass, margin: float) -> list[str]:
    """The QR code on a white square on the right, the address code small below it."""
    qr = segno.make(url, error=QR_ERROR, micro=False)
    modules = qr.symbol_size(border=QR_BORDER)[0]
    scale = s.qr / modules
    code_size = s.qr / 20
    x = s.width - margin * 1.5 - s.qr
    y = (s.height - s.qr - code_size * 1.6) / 2
    return [
        f"<a href={quoteattr(url)}>",
        f'<g class="qr" transform="translate({_n(x)} {_n(y)}) scale({scale:.6f})" shape-rendering="crispEdges">',
        f'<rect width="{modules}" height="{modules}" fill="#fff"/>',
        f'<path fill="#000" d="{_module_path(qr)}"/>',
        "</g>",
        "</a>",
        f'<text class="code" x="{_n(x + s.qr / 2)}" y="{_n(y + s.qr + code_size * 1.3)}" '
        f'font-size="{_n(code_size)}" text-anchor="middle" fill="#fff" font-family="monospace">'
        f"{escape(code)}</text>",
    ]


def _module_path(qr: segno.QRCode) -> str:
    """Dark modules as one path of horizontal runs, in module units with the quiet zone included."""
    runs = []
    for row, line in enumerate(qr.matrix_iter(border=QR_BORDER)):
        col = 0
        while col < len(line):
            if not line[col]:
                col += 1
                continue
            start = col
            while col < len(line) and line[col]:
                col += 1
            runs.append(f"M{start} {row}h{col - start}v1h-{col - start}z")
    return "".join(runs)


def _n(value: float) -> str:
    """A compact number for SVG attributes."""
    return f"{value:.2f}".rstrip("0").rstrip(".")
