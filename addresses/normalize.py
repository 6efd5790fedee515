"""Address text normalisation: the one canonical form the parser, the index and the tests compare.

Steps, in order: drop control characters and all whitespace; full-width → half-width and letters
upper-cased; Traditional → Simplified (OpenCC t2s); Chinese numerals → Arabic digits only where they
are a number (before 号/弄/栋/幢/座/单元/层/楼/室/房/组, before 巷 after a road, or after 之/附); `#`
after a digit → 号; dashes between digits → `-`. `normalize_with_map` also says, for each normalised
character, which character of the input it came from, so parsed parts can be reported as the user
wrote them.
"""

from __future__ import annotations

import re

import opencc

# Whitespace, C0/C1 controls, soft hyphen, zero-width and direction marks, BOM, and lone surrogates
# (they cannot be encoded, so OpenCC would raise on them).
_DROP_RANGES = ((0x00, 0x20), (0x7F, 0xA0), (0xAD, 0xAD), (0x1680, 0x1680), (0x180E, 0x180E),
                (0x2000, 0x200F), (0x2028, 0x202F), (0x205F, 0x2064), (0x3000, 0x3000), (0xFEFF, 0xFEFF),
                (0xD800, 0xDFFF))
_DROP_CHARS = frozenset(chr(cp) for lo, hi in _DROP_RANGES for cp in range(lo, hi + 1))
_KEEP = re.compile("[^" + "".join(f"\\u{lo:04x}-\\u{hi:04x}" for lo, hi in _DROP_RANGES) + "]+")


def _fold_table() -> dict[int, int]:
    table = {cp: cp - 0xFEE0 for cp in range(0xFF01, 0xFF5F)}
    for cp in range(ord("a"), ord("z") + 1):
        table[cp] = cp - 32
        table[cp + 0xFEE0] = cp - 32
    return table


_FOLD = _fold_table()
_FOLD_CHARS = frozenset(map(chr, _FOLD))
_T2S = opencc.OpenCC("t2s")


def _traditional_chars() -> frozenset[str]:
    """Characters t2s changes on their own (one conversion call over all CJK blocks, ~20 ms)."""
    chars = [chr(cp) for block in ((0x3400, 0xA000), (0xF900, 0xFB00), (0x20000, 0x2A6E0))
             for cp in range(*block)]
    converted = _T2S.convert("\n".join(chars)).split("\n")
    return frozenset(a for a, b in zip(chars, converted, strict=False) if a != b)


_CN_DIGITS = {"零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7,
              "八": 8, "九": 9}
_CN_UNITS = {"十": 10, "百": 100, "千": 1000}
_CN = "零〇一二两三四五六七八九十百千"
# Possessive runs that start at a run boundary: linear time even on 10 kB of numerals.
# A marker that runs on into a name is part of the name, not a number (一座营镇, 九房社区, 五楼村):
# 号 only before a place word, the other markers before any character but a numeral or marker.
_AFTER_MARKER = r"(?=$|[^\u3400-\u9fff]|[零〇一二两三四五六七八九十百千号弄栋幢座单层楼室房组巷])"
_MARKER = rf"(?:号(?![村社镇乡街路区庄寨屯湾坊])|(?:弄|栋|幢|座|单元|层|楼|室|房|组){_AFTER_MARKER})"
# 巷 is a road's own 通名 too: a lane number only after a road (解放路三巷) or where a name cannot
# be (start, digits, punctuation); 文二巷 is a name.
_CN_NUMBER = re.compile(rf"(?<![{_CN}])[{_CN}]++(?={_MARKER})|(?<=[之附])[{_CN}]++"
                        rf"|(?:(?<![\u3400-\u9fff])|(?<=[路街道第]))[{_CN}]++(?=巷{_AFTER_MARKER})")
# Cheap pre-check: a numeral right before a marker (or right after 之/附).
_CN_HINT = re.compile(rf"[{_CN}][号弄栋幢座单层楼室房组巷]|[之附][{_CN}]")
_HASH = re.compile(r"(?<=\d)#")
_DASHES = "‐‑‒–—―"
_DASH = re.compile(rf"(?<=\d)[{_DASHES}](?=\d)")
_TRADITIONAL = _traditional_chars()
# Any character some step may change; text without them (the common case) is returned as it is.
_SPECIAL = _DROP_CHARS | _FOLD_CHARS | _TRADITIONAL | frozenset(_CN + _DASHES + "#")
_NUMERAL_CHARS = frozenset(_CN)
_LONGEST_NUMBER = 12


def chinese_number(run: str) -> str:
    """The digits of a run of Chinese numerals: 二十三 → 23, 一〇二 → 102, 一百零二 → 102."""
    if not any(ch in _CN_UNITS for ch in run):
        return "".join(str(_CN_DIGITS[ch]) for ch in run)
    total, digit = 0, 0
    for ch in run:
        if ch in _CN_UNITS:
            total += (digit or 1) * _CN_UNITS[ch]
            digit = 0
        else:
            digit = _CN_DIGITS[ch]
    return str(total + digit)


def _to_simplified(text: str) -> str:
    converted = _T2S.convert(text)
    if len(converted) == len(text):
        return converted
    # A phrase rule changed the length: convert character by character so positions still line up.
    out = []
    for ch in text:
        one = _T2S.convert(ch)
        out.append(one if len(one) == 1 else ch)
    return "".join(out)


def _numerals(text: str, index: list[int] | None) -> tuple[str, list[int] | None]:
    parts: list[str] = []
    new_index: list[int] = []
    last = 0
    for m in _CN_NUMBER.finditer(text):
        start, end = m.span()
        if end - start > _LONGEST_NUMBER:
            continue
        digits = chinese_number(m.group())
        parts.append(text[last:start])
        parts.append(digits)
        if index is not None:
            new_index += index[last:start]
            width = end - start
            new_index += [index[start + min(i, width - 1)] for i in range(len(digits))]
        last = end
    if not parts:
        return text, index
    parts.append(text[last:])
    if index is None:
        return "".join(parts), None
    new_index += index[last:]
    return "".join(parts), new_index


def _normalize(text: str, want_index: bool) -> tuple[str, list[int] | None]:
    """The normalised text and its map; the map is None while it is still the identity."""
    present = _SPECIAL.intersection(text)
    if not present:
        return text, None
    index: list[int] | None = None
    if not _DROP_CHARS.isdisjoint(present):
        kept = [(m.start(), m.group()) for m in _KEEP.finditer(text)]
        if want_index:
            index = [start + i for start, piece in kept for i in range(len(piece))]
        text = "".join(piece for _, piece in kept)
    if not _FOLD_CHARS.isdisjoint(present):
        text = text.translate(_FOLD)
    if not _TRADITIONAL.isdisjoint(present):
        text = _to_simplified(text)
    if not _NUMERAL_CHARS.isdisjoint(present) and _CN_HINT.search(text):
        if want_index and index is None:
            index = list(range(len(text)))
        text, index = _numerals(text, index)
    if "#" in present or "＃" in present:
        text = _HASH.sub("号", text)
    if not present.isdisjoint(_DASHES):
        text = _DASH.sub("-", text)
    return text, index


def normalize(text: str) -> str:
    """The canonical form of an address string (see the module docstring for the steps)."""
    return _normalize(text, False)[0]


def normalize_with_map(text: str) -> tuple[str, list[int]]:
    """The canonical form plus, per normalised character, the index of the input character it came from."""
    normalized, index = _normalize(text, True)
    return normalized, index if index is not None else list(range(len(normalized)))


def normalize_changes(text: str) -> tuple[str, list[int] | None]:
    """Like `normalize_with_map`, but (TEXT itself, None) when nothing changes — the common case,
    where building the identity map would be wasted work."""
    normalized, index = _normalize(text, True)
    if normalized is text:
        return text, None
    return normalized, index if index is not None else list(range(len(normalized)))
