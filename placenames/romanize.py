"""Romanization of Chinese place names (domain.md §3): the 1984 rules (§3.2) and minority names (§3.3).

A name goes through four steps:

1. validation (empty names, control characters, names without Chinese characters are refused);
2. reading: every character gets a numbered pinyin syllable from pypinyin, overridden by the curated
   table `data/readings.tsv` (1984 rule 8: polyphones follow the 审音 rulings, not a dictionary guess);
3. structure: the name is split into 专名 and 通名 by its category's `romanize` mode (categories.toml):
   "separate" (rule 1), "joined" (rule 3), "street" (rule 7) or "building" (rule 14);
4. writing: each written word is joined, apostrophised (rule 11), 儿化-shortened (rule 12) and
   capitalised (rule 10); a sign form in capitals keeps the apostrophe ([TZ-pinyin]).

Interpretations made here (the rules do not spell them out):

- No category given: the 通名 is found among all generics, and the romanize mode is the one shared by
  every category listing that generic (堡, 店, 庄 … only natural villages: joined; 路 only streets:
  street); when the categories disagree (村, 镇, 湾 …), "separate".
- Rule 7 (ordinals in street names): in "street" mode a Chinese numeral written right before the 通名
  (经五路, 二马路, 三环路, 中山三路) is an ordinal when it is one well-formed number (二, 十二, 二十三);
  runs of bare digits (五四路, 八一路, 二七路) commemorate dates and are spelled (Wusi Lu). 第 + numeral
  keeps 第 spelled and writes the number in digits (第二大街 → Di 2 Dajie).
- Rule 2 (modifiers): in "street" mode a single-syllable 方位/size word (东西南北中前后上下大小新老正横)
  that ends the 专名 joins a single-syllable 通名 (景山后街 → Jingshan Houjie, 南小街 → Nan Xiaojie),
  unless the 专名 is itself a word (湖南路 → Hunan Lu); 前后左右中 before 旗 likewise (乌拉特前旗 →
  Wulate Qianqi); 右翼/左翼 are written as a separate word. 第 + numeral at the start of a 专名 is a
  separate word (第二松花江 → Di'er Songhua Jiang).
- Rule 12: 儿 is the 儿化 suffix "r" when it closes a written word of two or more syllables and the two
  characters are not a word in which 儿 is a full syllable (女儿, 婴儿 …); elsewhere it is "er".
- Rule 14: in "building" mode the 专名 is cut into words (jieba's dictionary); an embedded division name
  keeps its own 通名 (郑州市 → Zhengzhou Shi); when the 通名 is one syllable and the 专名 has two words
  or more, the last word is the modifier of the 通名 and is joined to it (玻璃厂 → Bolichang). Callers
  who split the name themselves (`specific=`, `generic=`) get no such joining.
- Autonomous areas: ethnic names before 自治区/州/县/旗 (or before 乡/镇/苏木/区 when they end in 族) are
  separate words; with 族 they are spelled by the Han rules (Huizu, Zangzu, Mengguzu); the bare forms
  used in Xinjiang and Inner Mongolia (维吾尔, 蒙古, 哈萨克 …) take their GB 3304-91 spelling from
  minority.tsv (Xinjiang Uygur Zizhiqu).
- Rule 13 (line breaks at syllable boundaries, with a hyphen) is for typesetting and not done here.
- A segment's rule is "reading-table" when readings.tsv changed pypinyin's reading of one of its
  characters, "minority-table" when minority.tsv supplied its text.
- Search keys (pinyin_key, initials_key) go character by character (儿 is "er": no word boundaries),
  use readings.tsv but never minority.tsv, and write ü as v.
- Generics of four characters or more are written as two-character words with a final three-character
  word when the length is odd (经济技术开发区 → Jingji Jishu Kaifaqu, 居民委员会 → Jumin Weiyuanhui).
"""

from __future__ import annotations

import logging
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from functools import cache, lru_cache
from importlib import resources

from pypinyin import Style, pinyin

from data.errors import InvalidInput
from placenames.categories import Category, all_categories, all_generics, get_category, split_name

ROLES = ("specific", "generic", "modifier", "number", "whole")
READING_COLUMNS = ("hanzi", "pinyin", "scope", "source")
MINORITY_COLUMNS = ("hanzi", "romanization", "language", "scope", "source")
ETHNONYM = "ethnonym"  # minority.tsv language for ethnic names (GB 3304-91), used only before 自治区 etc.

_AUTONOMOUS_GENERICS = ("自治区", "自治州", "自治县", "自治旗", "民族乡", "民族苏木")
_ETHNIC_TOWNSHIP_GENERICS = ("乡", "镇", "苏木", "区")  # 回族乡, 管城回族区 …
# The 56 groups of GB 3304-91, as written before 族; "各" stands for 各族 (龙胜各族自治县).
_ETHNIC_ROOTS = (
    "汉 蒙古 回 藏 维吾尔 苗 彝 壮 布依 朝鲜 满 侗 瑶 白 土家 哈尼 哈萨克 傣 黎 傈僳 佤 畲 "
    "高山 拉祜 水 东乡 纳西 景颇 柯尔克孜 土 达斡尔 仫佬 羌 布朗 撒拉 毛南 仡佬 锡伯 阿昌 "
    "普米 塔吉克 怒 乌孜别克 俄罗斯 鄂温克 德昂 保安 裕固 京 塔塔尔 独龙 鄂伦春 赫哲 门巴 "
    "珞巴 基诺 各"
).split()
# Ethnic names written without 族 in autonomous-area names (Xinjiang, Inner Mongolia).
_BARE_ETHNIC_NAMES = ("维吾尔", "蒙古", "哈萨克", "柯尔克孜", "锡伯", "塔吉克")
_STREET_MODIFIERS = frozenset("东西南北中前后上下大小新老正横")
_BANNER_MODIFIERS = frozenset("前后左右中")
_WING_WORDS = ("右翼", "左翼")
_DIVISION_GENERIC_CHARS = frozenset("省市县区")
# Words in which a final 儿 is a full syllable, not the 儿化 suffix (1984 rule 12).
_FULL_ER_WORDS = frozenset(
    "女儿 男儿 婴儿 幼儿 孤儿 健儿 宠儿 胎儿 乳儿 少儿 妻儿 侄儿 孩儿 娇儿 犬儿 弃儿 患儿 育儿 托儿".split()
)
_NUMERAL_DIGITS = {"〇": 0, "零": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7,
                   "八": 8, "九": 9}
_NUMERAL_UNITS = {"十": 10, "百": 100, "千": 1000}
_TONE_MARKS = {"a": "āáǎà", "e": "ēéěè", "i": "īíǐì", "o": "ōóǒò", "u": "ūúǔù", "ü": "ǖǘǚǜ"}
_SYLLABLE_FORM = re.compile(r"^([a-zü]+)([1-5])?$")


class RomanizationError(InvalidInput):
    """A name that cannot be romanized: empty, control characters, no Chinese, unreadable characters."""


@dataclass(frozen=True)
class Segment:
    """One separately written part of a romanized name and the rule that shaped it."""

    hanzi: str
    text: str
    role: str
    rule: str

    def as_dict(self) -> dict:
        """JSON-ready form."""
        return {"hanzi": self.hanzi, "text": self.text, "role": self.role, "rule": self.rule}


@dataclass(frozen=True)
class Romanization:
    """A name, its standard romanization, the all-capitals sign form and how it was built."""

    name: str
    text: str
    sign_text: str
    segments: tuple[Segment, ...]
    category: str | None

    def as_dict(self) -> dict:
        """JSON-ready form."""
        return {
            "name": self.name, "text": self.text, "sign_text": self.sign_text, "category": self.category,
            "segments": [s.as_dict() for s in self.segments],
        }


@dataclass(frozen=True)
class Reading:
    """One row of readings.tsv: how `hanzi` is read where `scope` (a division-code prefix) applies."""

    hanzi: str
    syllables: tuple[str, ...]
    scope: str
    source: str


@dataclass(frozen=True)
class MinorityName:
    """One row of minority.tsv: the transliterated form of a minority-language name (domain.md §3.3)."""

    hanzi: str
    romanization: str
    language: str
    scope: str
    source: str


@dataclass(frozen=True)
class _Unit:
    """One written unit: a Chinese character with its numbered syllable, or a run of digits or letters."""

    hanzi: str
    syllable: str = ""
    literal: str = ""
    curated: bool = False

    @property
    def is_han(self) -> bool:
        return not self.literal


@dataclass(frozen=True)
class _Part:
    """A separately written segment before rendering."""

    units: tuple[_Unit, ...]
    role: str
    rule: str
    fixed: str = ""

    @property
    def hanzi(self) -> str:
        return "".join(u.hanzi for u in self.units)


# ---------------------------------------------------------------- public interface


def romanize(
    name: str,
    category: str | Category | None = None,
    *,
    specific: str | None = None,
    generic: str | None = None,
    division_code: str | None = None,
    tones: bool = False,
) -> Romanization:
    """Romanize a place name by the 1984 rules; minority names from minority.tsv where in scope."""
    name = _clean(name)
    cat = _resolve_category(category)
    code = _clean_code(division_code)
    units = _read(name, code)
    spec, gen, mode = _structure(name, cat, specific, generic)
    if mode == "joined":
        parts = _joined_parts(units, code)
    else:
        explicit = specific is not None or generic is not None
        parts = _separate_parts(units, spec, gen, mode, code, explicit=explicit)
    segments = tuple(_render(p, tones) for p in parts)
    plain = " ".join(_render(p, False).text for p in parts)
    return Romanization(
        name=name, text=" ".join(s.text for s in segments), sign_text=plain.upper(), segments=segments,
        category=cat.code if cat else None,
    )


def pinyin_key(name: str, *, division_code: str | None = None) -> str:
    """Lower-case toneless pinyin without spaces or apostrophes (ü as v), e.g. 湖州市 → huzhoushi."""
    return "".join(token for token, _ in _key_tokens(name, division_code))


def initials_key(name: str, *, division_code: str | None = None) -> str:
    """First letter of every syllable (digit and letter runs kept whole), e.g. 湖州市 → hzs."""
    tokens = _key_tokens(name, division_code)
    return "".join(token[0] if kind == "syllable" else token for token, kind in tokens)


@cache
def reading_table() -> tuple[Reading, ...]:
    """The curated readings (readings.tsv), in file order."""
    out = []
    for line_no, cells in _table_rows("readings.tsv", READING_COLUMNS):
        hanzi, syllables, scope, source = cells
        entry = Reading(hanzi, tuple(syllables.split()), scope, source)
        if len(entry.syllables) != len(hanzi) or not all(valid_syllable(s) for s in entry.syllables):
            raise ValueError(f"readings.tsv:{line_no}: {hanzi!r} needs one valid syllable per character")
        out.append(entry)
    return tuple(out)


@cache
def minority_table() -> tuple[MinorityName, ...]:
    """The minority-language transliterations (minority.tsv), in file order."""
    return tuple(MinorityName(*cells) for _, cells in _table_rows("minority.tsv", MINORITY_COLUMNS))


def table_matches(text: str, division_code: str | None = None) -> list[tuple[int, Reading]]:
    """Leftmost-longest matches of readings.tsv in a run of characters: (start offset, entry)."""
    index = _reading_index()
    longest = _longest_reading()
    found: list[tuple[int, Reading]] = []
    i = 0
    while i < len(text):
        for size in range(min(longest, len(text) - i), 0, -1):
            entry = _in_scope(index.get(text[i:i + size], ()), division_code)
            if entry:
                found.append((i, entry))
                i += size
                break
        else:
            i += 1
    return found


def valid_syllable(syllable: str) -> bool:
    """Whether a toneless or tone-numbered syllable ("hong", "lv4", "lü") is a pinyin syllable."""
    match = _SYLLABLE_FORM.match(syllable.replace("v", "ü"))
    return bool(match) and match.group(1) in _known_syllables()


def heteronyms(char: str) -> tuple[str, ...]:
    """pypinyin's readings of one character, tone-numbered (ü as v), most common first."""
    readings = pinyin(char, style=Style.TONE3, heteronym=True, neutral_tone_with_five=True, errors="ignore")
    return tuple(dict.fromkeys(readings[0])) if readings else ()


# ---------------------------------------------------------------- validation


def _clean(name: str) -> str:
    if not isinstance(name, str):
        raise RomanizationError("a place name must be a string")
    if any(unicodedata.category(ch) in ("Cc", "Cf", "Co", "Cs") for ch in name):
        raise RomanizationError(f"{name!r} contains control or private-use characters")
    name = unicodedata.normalize("NFKC", name).strip()
    if not name:
        raise RomanizationError("the place name is empty")
    if not any(_is_han(ch) for ch in name):
        raise RomanizationError(f"{name!r} has no Chinese characters; only Chinese place names are romanized")
    bad = sorted({ch for ch in name if not (_is_han(ch) or ch.isascii() and ch.isalnum() or ch == "·")})
    if bad:
        raise RomanizationError(f"{name!r} contains characters that cannot be romanized: {''.join(bad)}")
    return name


def _clean_code(code: str | None) -> str | None:
    if code is None:
        return None
    code = str(code).strip()
    if not (code.isascii() and code.isdigit()):
        raise RomanizationError(f"division code {code!r} must be digits")
    return code


def _resolve_category(category: str | Category | None) -> Category | None:
    if category is None or isinstance(category, Category):
        return category
    return get_category(category)


def _is_han(ch: str) -> bool:
    cp = ord(ch)
    return (0x4E00 <= cp <= 0x9FFF or 0x3400 <= cp <= 0x4DBF or 0x20000 <= cp <= 0x3FFFF
            or 0xF900 <= cp <= 0xFAFF or ch == "〇")


# ---------------------------------------------------------------- reading (1984 rule 8)


SCOPE_DIGITS = 6  # reading-table scopes are division-code prefixes of at most six digits


def _read(name: str, code: str | None) -> list[_Unit]:
    return list(_read_cached(name, code[:SCOPE_DIGITS] if code else None))


@lru_cache(maxsize=262_144)  # seeding reads 665k division names, many of them several times
def _read_cached(name: str, code: str | None) -> tuple[_Unit, ...]:
    units: list[_Unit] = []
    for run in re.finditer(r"[0-9]+|[A-Za-z]+|·|[^0-9A-Za-z·]+", name):
        text = run.group()
        if text == "·":
            units.append(_Unit("·", literal="·"))
        elif not _is_han(text[0]):
            units.append(_Unit(text, literal=text))
        else:
            units.extend(_read_han(text, code))
    return tuple(units)


def _read_han(run: str, code: str | None) -> list[_Unit]:
    # Style.TONE and our own conversion are 2.3x faster than Style.TONE3 (same output, checked on
    # the division names); seeding romanizes 665k names.
    guessed = pinyin(run, style=Style.TONE, errors=lambda s: [""] * len(s))
    syllables = [_tone_numbered(item[0]) if item and item[0] else "" for item in guessed]
    if len(syllables) != len(run):
        syllables = [(heteronyms(ch) or ("",))[0] for ch in run]
    units = [_Unit(ch, _numbered(s)) for ch, s in zip(run, syllables, strict=True)]
    for start, entry in table_matches(run, code):
        for offset, written in enumerate(entry.syllables):
            unit = units[start + offset]
            chosen = _with_tone(unit.hanzi, written)
            units[start + offset] = replace(unit, syllable=chosen,
                                            curated=_toneless(chosen) != _toneless(unit.syllable))
    unread = "".join(u.hanzi for u in units if not u.syllable)
    if unread:
        raise RomanizationError(f"no reading is known for {unread!r}; add it to placenames/data/readings.tsv")
    return units


_UNMARK = {ch: (base, str(i + 1)) for base, marks in {**_TONE_MARKS, "n": "ńňǹ", "m": "ḿ"}.items()
           for i, ch in enumerate(marks)}


def _tone_numbered(marked: str) -> str:
    """A tone-marked syllable as pypinyin's TONE3 form: lǜ → lv4, ma → ma5."""
    letters, tone = [], ""
    for ch in marked:
        base, number = _UNMARK.get(ch, (ch, ""))
        letters.append("v" if base == "ü" else base)
        tone = tone or number
    return "".join(letters) + (tone or "5")


def _numbered(syllable: str) -> str:
    if not syllable:
        return ""
    syllable = syllable.replace("ü", "v")
    return syllable if syllable[-1].isdigit() else syllable + "5"


def _with_tone(char: str, written: str) -> str:
    """A table syllable with its tone: as written, or the matching pypinyin reading, else neutral."""
    written = written.replace("ü", "v")
    if written[-1].isdigit():
        return written
    for candidate in heteronyms(char):
        if _toneless(candidate) == written:
            return candidate
    return written + "5"


def _toneless(syllable: str) -> str:
    return syllable.rstrip("012345")


@cache
def _reading_index() -> dict[str, tuple[Reading, ...]]:
    index: dict[str, list[Reading]] = {}
    for entry in reading_table():
        index.setdefault(entry.hanzi, []).append(entry)
    return {k: tuple(v) for k, v in index.items()}


@cache
def _longest_reading() -> int:
    return max((len(k) for k in _reading_index()), default=0)


@cache
def _minority_index() -> dict[str, tuple[MinorityName, ...]]:
    index: dict[str, list[MinorityName]] = {}
    for entry in minority_table():
        index.setdefault(entry.hanzi, []).append(entry)
    return {k: tuple(v) for k, v in index.items()}


def _in_scope(entries: Iterable, code: str | None):
    """The entry whose scope is the longest prefix of `code`; an unscoped entry when none is."""
    best = None
    for entry in entries:
        if entry.scope and not (code and code.startswith(entry.scope)):
            continue
        if best is None or len(entry.scope) > len(best.scope):
            best = entry
    return best


def _minority(hanzi: str, code: str | None, *, ethnonym: bool = False) -> MinorityName | None:
    """The transliteration of a place name, or (ethnonym=True) of an ethnic name, in scope of `code`."""
    entries = [e for e in _minority_index().get(hanzi, ()) if (e.language == ETHNONYM) == ethnonym]
    return _in_scope(entries, code)


def _table_rows(filename: str, columns: Sequence[str]) -> list[tuple[int, list[str]]]:
    text = resources.files("placenames").joinpath(f"data/{filename}").read_text("utf-8")
    rows = []
    for line_no, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.startswith("#"):
            continue
        cells = line.split("\t")
        if cells == list(columns):
            continue
        if len(cells) != len(columns) or not cells[0] or not cells[-1]:
            raise ValueError(f"{filename}:{line_no}: expected {len(columns)} tab-separated columns")
        rows.append((line_no, cells))
    return rows


@cache
def _known_syllables() -> frozenset[str]:
    from pypinyin.pinyin_dict import pinyin_dict

    found = set()
    for readings in pinyin_dict.values():
        for reading in readings.split(","):
            found.add(_strip_marks(reading))
    return frozenset(s for s in found if s.isalpha())


def _strip_marks(text: str) -> str:
    decomposed = unicodedata.normalize("NFD", text)
    kept = "".join(ch for ch in decomposed if not unicodedata.combining(ch) or ch == "\u0308")
    return unicodedata.normalize("NFC", kept)


# ---------------------------------------------------------------- structure (专名/通名)


def _structure(name: str, cat: Category | None, specific: str | None, generic: str | None):
    """(专名, 通名, romanize mode) from the caller's split, the category's generics or all generics."""
    if specific is not None or generic is not None:
        spec, gen = _explicit_split(name, specific, generic)
        mode = cat.romanize if cat else _mode_of_generic(gen)
        return spec, gen, mode
    if cat and cat.romanize == "joined":
        return name, "", "joined"
    spec, gen = split_name(name, cat)
    return spec, gen, cat.romanize if cat else _mode_of_generic(gen)


def _explicit_split(name: str, specific: str | None, generic: str | None) -> tuple[str, str]:
    specific = unicodedata.normalize("NFKC", specific).strip() if specific is not None else None
    generic = unicodedata.normalize("NFKC", generic).strip() if generic is not None else None
    if specific is None and generic is not None and name.endswith(generic):
        specific = name[: len(name) - len(generic)]
    if generic is None and specific is not None and name.startswith(specific):
        generic = name[len(specific):]
    if specific is None or generic is None or specific + generic != name:
        raise RomanizationError(f"专名 {specific!r} and 通名 {generic!r} do not make up {name!r}")
    return specific, generic


def _mode_of_generic(generic: str) -> str:
    """The romanize mode shared by every category that lists this generic; "separate" otherwise."""
    modes = _modes_by_generic().get(generic, set())
    return next(iter(modes)) if len(modes) == 1 else "separate"


@cache
def _modes_by_generic() -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for cat in all_categories():
        if cat.is_subclass:
            for g in cat.generics:
                out.setdefault(g, set()).add(cat.romanize)
    return out


# ---------------------------------------------------------------- segments


def _joined_parts(units: list[_Unit], code: str | None) -> list[_Part]:
    """1984 rule 3: a natural village or town is one word, 专名 and 通名 together."""
    whole = "".join(u.hanzi for u in units)
    found = _minority(whole, code)
    if found:
        return [_Part(tuple(units), "whole", "minority-table", found.romanization)]
    return _words_of(units, "whole", "1984-3")


def _separate_parts(units, spec: str, gen: str, mode: str, code: str | None, *, explicit: bool):
    """1984 rule 1: 专名 and 通名 are written separately; the 专名 is one word (rule 5: a person's
    name in it stays joined) apart from ordinals, street numbers, building words and ethnic names."""
    spec_units, gen_units = _cut(units, len(spec))
    spec_units, gen_units, ethnic = _ethnic_split(spec_units, gen_units, code)
    spec_units, gen_parts, wing = _generic_modifier(spec_units, gen_units, mode)
    parts = _specific_parts(spec_units, mode, code, joins_generic=not explicit and _one_syllable(gen_units))
    if parts and parts[-1].role == "generic" and parts[-1].rule == "1984-14":
        gen_parts = [_Part(parts.pop().units + gen_parts[0].units, "generic", "1984-14")] + gen_parts[1:]
    parts += wing + [_ethnic_part(e, code) for e in ethnic] + gen_parts
    return parts


def _cut(units: list[_Unit], chars: int) -> tuple[list[_Unit], list[_Unit]]:
    taken = 0
    for i, unit in enumerate(units):
        if taken >= chars:
            return units[:i], units[i:]
        taken += len(unit.hanzi)
    return units, []


def _hanzi(units: Sequence[_Unit]) -> str:
    return "".join(u.hanzi for u in units)


def _one_syllable(units: Sequence[_Unit]) -> bool:
    return len(units) == 1 and units[0].is_han


def _ethnic_split(spec_units, gen_units, code: str | None):
    """Ethnic names of an autonomous area taken out of its 专名/通名: (专名, bare 通名, ethnic names)."""
    gen = _hanzi(gen_units)
    bare = next((a for a in _AUTONOMOUS_GENERICS if gen.endswith(a)), None)
    if bare:
        prefix = len(gen) - len(bare)
        rest, gen_units = list(spec_units) + list(gen_units[:prefix]), list(gen_units[prefix:])
        ethnic = [] if _minority(_hanzi(rest), code) else _peel_ethnic(rest, bare_allowed=True)
    elif gen in _ETHNIC_TOWNSHIP_GENERICS:
        rest, ethnic = list(spec_units), _peel_ethnic(list(spec_units), bare_allowed=False)
    else:
        return spec_units, gen_units, []
    return rest[: len(rest) - sum(len(e) for e in ethnic)], gen_units, ethnic


def _peel_ethnic(units: list[_Unit], *, bare_allowed: bool) -> list[list[_Unit]]:
    """Ethnic names at the end of `units` (at least one character of place name is left in front)."""
    found: list[list[_Unit]] = []
    end = len(units)
    while end > 1:
        text = _hanzi(units[:end])
        name = next((n for n in _ethnic_names(bare_allowed) if text.endswith(n) and len(text) > len(n)), None)
        if not name:
            break
        found.insert(0, units[end - len(name): end])
        end -= len(name)
    return found


@cache
def _ethnic_names(bare_allowed: bool) -> tuple[str, ...]:
    names = [root + "族" for root in _ETHNIC_ROOTS] + (list(_BARE_ETHNIC_NAMES) if bare_allowed else [])
    return tuple(sorted(names, key=len, reverse=True))


def _ethnic_part(units: list[_Unit], code: str | None) -> _Part:
    """An ethnic name: the bare Xinjiang/Inner Mongolia forms from minority.tsv, 族 forms by Han rules."""
    found = _minority(_hanzi(units), code, ethnonym=True)
    if found:
        return _Part(tuple(units), "modifier", "minority-table", found.romanization)
    return _Part(tuple(units), "modifier", "1984-2")


def _generic_modifier(spec_units, gen_units, mode):
    """1984 rule 2: a single-syllable modifier ending the 专名 joins a single-syllable 通名."""
    gen_words = _generic_words(gen_units)
    spec = _hanzi(spec_units)
    if not (_one_syllable(gen_units) and len(spec_units) >= 2 and spec_units[-1].is_han):
        return spec_units, gen_words, []
    gen = gen_units[0].hanzi
    street = mode == "street" and spec[-1] in _STREET_MODIFIERS and not _is_word(spec)
    banner = gen == "旗" and spec[-1] in _BANNER_MODIFIERS
    if not (street or banner):
        return spec_units, gen_words, []
    joined = [_Part((spec_units[-1], gen_units[0]), "generic", "1984-2")]
    spec_units = spec_units[:-1]
    wing: list[_Part] = []
    if banner and len(spec_units) > 2 and _hanzi(spec_units[-2:]) in _WING_WORDS:
        wing = [_Part(tuple(spec_units[-2:]), "modifier", "1984-2")]
        spec_units = spec_units[:-2]
    return spec_units, joined, wing


def _generic_words(gen_units) -> list[_Part]:
    """A 通名 is one word; four characters or more are written as two-character words, the last three
    characters together when the length is odd (经济技术开发区 → Jingji Jishu Kaifaqu)."""
    if not gen_units:
        return []
    if len(gen_units) < 4 or not all(u.is_han for u in gen_units):
        return _words_of(gen_units, "generic", "1984-1")
    sizes = [2] * (len(gen_units) // 2 - 1) + ([3] if len(gen_units) % 2 else [2])
    parts, start = [], 0
    for size in sizes:
        parts.append(_Part(tuple(gen_units[start:start + size]), "generic", "1984-1"))
        start += size
    return parts


def _specific_parts(units, mode: str, code: str | None, *, joins_generic: bool) -> list[_Part]:
    if not units:
        return []
    whole = _minority(_hanzi(units), code)
    if whole:
        return [_Part(tuple(units), "specific", "minority-table", whole.romanization)]
    ordinal, units = _ordinal_prefix(units, mode)
    number, units = _street_number(units, mode)
    if mode == "building":
        body = _building_words(units, code, joins_generic=joins_generic)
    else:
        body = _minority_prefix(units, code) or _words_of(units, "specific", _specific_rule(units))
    return ordinal + body + number


def _ordinal_prefix(units, mode: str) -> tuple[list[_Part], list[_Unit]]:
    """第 + numeral at the start of a 专名: a separate word (rule 6, spelled), or 第 + digits in streets."""
    if len(units) < 2 or units[0].hanzi != "第":
        return [], units
    end, last = 1, len(units) if mode == "street" else len(units) - 1
    while end < last and units[end].hanzi in _NUMERAL_DIGITS | _NUMERAL_UNITS:
        end += 1
    if end == 1:
        return [], units
    numeral = units[1:end]
    if mode == "street" and _numeral_value(_hanzi(numeral)) is not None:
        digits = str(_numeral_value(_hanzi(numeral)))
        return [_Part((units[0],), "modifier", "1984-2"),
                _Part(tuple(numeral), "number", "1984-7", digits)], units[end:]
    return [_Part(tuple(units[:end]), "number", "1984-6")], units[end:]


def _street_number(units, mode: str) -> tuple[list[_Part], list[_Unit]]:
    """1984 rule 7: an ordinal right before the 通名 of a street is written in Arabic digits."""
    if mode != "street":
        return [], units
    start = len(units)
    while start > 0 and units[start - 1].hanzi in _NUMERAL_DIGITS | _NUMERAL_UNITS:
        start -= 1
    value = _numeral_value(_hanzi(units[start:])) if start < len(units) else None
    if value is None:
        return [], units
    return [_Part(tuple(units[start:]), "number", "1984-7", str(value))], units[:start]


def _numeral_value(text: str) -> int | None:
    """The value of one well-formed Chinese numeral (二, 十二, 二十三, 一百零八); None for digit strings
    such as 五四 or 八一, which name dates rather than count."""
    if not text:
        return None
    if len(text) == 1:
        return _NUMERAL_DIGITS.get(text, _NUMERAL_UNITS.get(text))
    total, digit, last_unit, zero = 0, None, 10_000, False
    for ch in text:
        if ch in ("零", "〇"):
            if digit is not None or zero or total == 0:
                return None
            zero = True
        elif ch in _NUMERAL_DIGITS:
            if digit is not None:
                return None
            digit = _NUMERAL_DIGITS[ch]
        elif ch in _NUMERAL_UNITS:
            unit = _NUMERAL_UNITS[ch]
            if unit >= last_unit or (digit is None and (total or unit != 10)):
                return None
            total += (1 if digit is None else digit) * unit
            digit, last_unit, zero = None, unit, False
        else:
            return None
    return total + (digit or 0)


def _specific_rule(units) -> str:
    """1984 rule 4 when the 专名 ends in a word that is itself a 通名 (黑龙江, 景德镇), else rule 1."""
    text = _hanzi(units)
    generics, longest = _generic_set()
    if any(text[-size:] in generics for size in range(1, min(longest, len(text) - 1) + 1)):
        return "1984-4"
    return "1984-1"


@cache
def _generic_set() -> tuple[frozenset[str], int]:
    generics = all_generics()
    return frozenset(generics), max(len(g) for g in generics)


def _minority_prefix(units, code: str | None) -> list[_Part]:
    """A 专名 that starts with a transliterated name: that name, then the rest as its own word."""
    text = _hanzi(units)
    if len(text) != len(units):
        return []
    for size in range(len(units) - 1, 1, -1):
        found = _minority(text[:size], code)
        if found:
            rest = units[size:]
            return [_Part(tuple(units[:size]), "specific", "minority-table", found.romanization)] + _words_of(
                rest, "specific", "1984-1")
    return []


def _building_words(units, code: str | None, *, joins_generic: bool) -> list[_Part]:
    """1984 rule 14: 专名 words written separately; the modifier of a one-syllable 通名 joins it."""
    words = _dictionary_words(units)
    parts = []
    for word in words:
        text = _hanzi(word)
        found = _minority(text, code)
        if found:
            parts.append(_Part(tuple(word), "specific", "minority-table", found.romanization))
        elif len(word) == 1 and text in _DIVISION_GENERIC_CHARS and parts:
            parts.append(_Part(tuple(word), "generic", "1984-1"))
        else:
            parts.extend(_words_of(word, "specific", "1984-14"))
    if joins_generic and len(parts) >= 2 and parts[-1].role == "specific" and not parts[-1].fixed:
        parts[-1] = replace(parts[-1], role="generic")
    return parts


def _dictionary_words(units) -> list[list[_Unit]]:
    """Cut a 专名 into dictionary words; runs of single unknown characters stay together (proper names);
    a division name keeps its own 通名 (郑州市 → 郑州 + 市)."""
    text = _hanzi(units)
    if len(units) <= 2 or len(text) != len(units):
        return [list(units)]
    words: list[str] = []
    for word in _jieba().lcut(text, HMM=False):
        if len(word) >= 3 and word[-1] in _DIVISION_GENERIC_CHARS:
            words += [word[:-1], word[-1]]
        elif len(word) == 1 and words and len(words[-1]) == 1 and words[-1] not in _DIVISION_GENERIC_CHARS:
            words[-1] += word
        else:
            words.append(word)
    out, start = [], 0
    for word in words:
        out.append(list(units[start:start + len(word)]))
        start += len(word)
    return out


def _is_word(text: str) -> bool:
    return bool(_jieba().get_FREQ(text))


@cache
def _jieba():
    import jieba

    jieba.setLogLevel(logging.WARNING)
    jieba.initialize()
    return jieba


def _words_of(units, role: str, rule: str) -> list[_Part]:
    """Split at digits, letters and "·": each Han run is one word, each digit or letter run its own."""
    parts: list[_Part] = []
    run: list[_Unit] = []
    for unit in units:
        if unit.is_han:
            run.append(unit)
            continue
        if run:
            parts.append(_Part(tuple(run), role, rule))
            run = []
        if unit.literal != "·":
            parts.append(_Part((unit,), "number" if unit.literal.isdigit() else role, "1984-7", unit.literal))
    if run:
        parts.append(_Part(tuple(run), role, rule))
    return parts


# ---------------------------------------------------------------- writing


def _render(part: _Part, tones: bool) -> Segment:
    if part.fixed:
        return Segment(part.hanzi, part.fixed, part.role, part.rule)
    curated = any(u.curated for u in part.units) and part.rule.startswith("1984")
    rule = "reading-table" if curated else part.rule  # 1984 rule 8 decided the reading
    return Segment(part.hanzi, _capitalise(_write_word(part.units, tones)), part.role, rule)


def _write_word(units: Sequence[_Unit], tones: bool) -> str:
    out: list[str] = []
    for i, unit in enumerate(units):
        if unit.literal:
            out.append(unit.literal)
            continue
        if _is_erhua(units, i):
            out.append("r")  # 1984 rule 12
            continue
        plain = _plain(unit.syllable)
        if i and plain[0] in "aoe":
            out.append("'")  # 1984 rule 11
        out.append(_marked(unit.syllable) if tones else plain)
    return "".join(out)


def _is_erhua(units: Sequence[_Unit], i: int) -> bool:
    return (units[i].hanzi == "儿" and i == len(units) - 1 and i > 0 and units[i - 1].is_han
            and units[i - 1].hanzi + "儿" not in _FULL_ER_WORDS)


def _capitalise(word: str) -> str:
    return word[:1].upper() + word[1:]  # 1984 rule 10


def _plain(syllable: str) -> str:
    return _toneless(syllable).replace("v", "ü")


def _marked(syllable: str) -> str:
    """A tone-numbered syllable with its tone mark (1984 rule 9); neutral tone unmarked."""
    letters, tone = _plain(syllable), syllable[-1]
    if tone not in "1234":
        return letters
    if "a" in letters or "e" in letters:
        at = letters.index("a" if "a" in letters else "e")
    elif "ou" in letters:
        at = letters.index("o")
    else:
        vowels = [i for i, ch in enumerate(letters) if ch in "iouü"]
        if not vowels:
            return letters
        at = vowels[-1]
    return letters[:at] + _TONE_MARKS[letters[at]][int(tone) - 1] + letters[at + 1:]


def _key_tokens(name: str, division_code: str | None) -> list[tuple[str, str]]:
    """(token, kind) for the search keys: one toneless syllable per character with ü as v (儿 always
    "er": the keys know no word boundaries), digit and letter runs lower-cased. No minority forms."""
    tokens: list[tuple[str, str]] = []
    for unit in _read(_clean(name), _clean_code(division_code)):
        if unit.literal:
            if unit.literal != "·":
                tokens.append((unit.literal.lower(), "literal"))
        else:
            tokens.append((_toneless(unit.syllable), "syllable"))
    return tokens
