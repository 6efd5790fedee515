"""Naming-rule checks that need no database (domain.md §1.2–1.4, §7 and §9 rules 1, 2, 7–13 and 25).

`check_text()` runs the text rules on a `Proposal`; the registry checks (duplicates and homophones, §9
rules 3–6) live in `placenames.checks` and use `homophone_keys()` from here. Word lists are UTF-8 files
in `placenames/data/words/` (one entry a line, `#` comments, `# source: KEYS — …` lines naming where
the entries below them come from, an optional severity after an entry, `-entry` to drop one);
`load_wordlists(extra_dir)` extends every list with same-named files of a deployment.

Severities ("error" blocks approval, "warning" the reviewer decides, "info" is a note):

| §9 rule | code                  | severity                                                              |
|---------|-----------------------|-----------------------------------------------------------------------|
| 1       | generic-only          | error: the name is only a 通名 (XZ-1996 Art. 14)                       |
| 1       | missing-generic       | error; warning for categories whose duplicate scope is "none"          |
| 1       | unlisted-generic      | warning: a given 通名 that is not in the category's vocabulary        |
| 2       | stacked-generic       | warning (0703, 0801 and class 11 only)                                |
| 7       | state-leader          | error, never cleared                                                  |
| 7       | person-name           | error until a reviewer clears it (§9 rule 7, SSB-71 Art. 3); then info |
| 8       | foreign-place/-person | error; warning for list entries marked so (ordinary Chinese words)    |
| 7, 8, 11| listed-exception      | info: a whole name on exceptions.txt skips rules 7, 8 and 11          |
| 9       | enterprise-name       | warning, the reviewer decides on 特定联系; info when cleared          |
| 7, 9    | no-specific-link      | info: a word a reviewer cleared (SSB-71 Art. 3–4)                     |
| 10      | exaggerated-word      | error (0703 and class 11); warning for 国际; info with an approval doc |
| 11      | feudal-word           | error for the annex words; warning for the local seed words           |
| 12      | digits-only           | error, except route and survey numbers (classes 01–03, 0802)          |
| 12      | bizarre-characters    | error: Latin letters, symbols, digits mixed with Chinese              |
| 12      | ordinal-digits        | warning: a street ordinal in Arabic digits (纬1路 → 纬一路)           |
| 12      | bizarre-meaning       | warning (黄泉路)                                                      |
| 12      | traditional-character | warning, with the Simplified form (LRB-DM Art. 9(3))                  |
| 12      | rare-character        | warning: a character outside GB 2312 (生僻字, LRB-DM Art. 9(3))        |
| 13      | square-size           | warning: 广场 with site < 10,000 m² and floor < 100,000 m²            |
| 13      | square-area-missing   | info: areas not given                                                 |
| 25      | english-word          | error: an English 通名 or word on a sign                              |
| 25      | wade-giles            | error: a Wade–Giles or postal spelling on a sign                      |
| 25      | sign-mismatch         | error: the sign differs from the standard romanization                |
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import ahocorasick

from data.errors import InvalidInput
from placenames.categories import Category, all_generics, get_category, split_name

SEVERITIES = ("error", "warning", "info")
MAX_NAME_LENGTH = 50
LIST_NAMES = (
    "exaggerated", "feudal", "foreign_places", "foreign_persons", "state_leaders", "persons",
    "enterprises", "bizarre", "english_generics", "wade_giles", "exceptions",
)
SQUARE_SITE_M2 = 10_000
SQUARE_FLOOR_M2 = 100_000
CODE_CLASSES = ("01", "02", "03")  # survey points such as 1203高地 (WK-1984 rule 7)
ROUTE_SUBCLASSES = ("0802",)  # numbered routes such as 318国道
# single-character 通名 that end too many ordinary words (十里, 港湾, 学院) to count as stacking (rule 2)
WEAK_INNER_GENERICS = frozenset("里湾院场道线")
HOMOPHONE_PREFIXES = ("新", "大")

_HAN = "\u3007\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0003134f"
_HAN_RE = re.compile(f"[{_HAN}]")
_LATIN = "A-Za-z\u00c0-\u00d6\u00d8-\u00f6\u00f8-\u024f\uff21-\uff3a\uff41-\uff5a"
_LATIN_RE = re.compile(f"[{_LATIN}]")
_SIGN_WORD_RE = re.compile(f"[{_LATIN}\u0300-\u036f]+(?:['’][{_LATIN}\u0300-\u036f]+)*")
_ORDINAL_RE = re.compile(f"^[{_HAN}]+\\d+$")
_CODE_RE = re.compile(f"^\\d+[{_HAN}]*$")
_SOURCE_RE = re.compile(r"^#\s*source:\s*(.+?)\s*(?:—.*)?$")
_TONE_MARKS = frozenset("\u0300\u0301\u0304\u030c")
_WG_PATTERNS = (
    (re.compile(r"^(?:hs|ts|tz|sz|ss|kw)"),
     "initial hs-/ts-/tz-/sz-/kw- (pinyin: x-/c-/z-/s-/gu-)"),
    (re.compile(r"[bcdfhjklmpqstwxyz]'"),
     "apostrophe marking aspiration (Ch'ang, T'ien; pinyin: Chang, Tian)"),
    (re.compile(r"(?:ung|ien|ih|eh)(?![aeiouü])"),
     "syllable ending -ung/-ien/-ih/-eh (pinyin: -ong/-ian/-i/-e)"),
)


@dataclass(frozen=True)
class Finding:
    """One rule outcome: which §9 rule, how serious, what to do, what matched and the rule's source."""

    rule: int
    code: str
    severity: str
    message: str
    evidence: dict = field(hash=False)
    source: str

    def __post_init__(self) -> None:
        if self.severity not in SEVERITIES:
            raise ValueError(f"severity must be one of {', '.join(SEVERITIES)}, not {self.severity!r}")

    def as_dict(self) -> dict:
        """The finding as plain JSON-ready data."""
        return {"rule": self.rule, "code": self.code, "severity": self.severity, "message": self.message,
                "evidence": dict(self.evidence), "source": self.source}


@dataclass(frozen=True)
class Proposal:
    """A proposed name with what the text rules need: category, optional split, areas and reviewer notes."""

    name: str
    category: Category
    specific: str | None = None
    generic: str | None = None
    division_code: str | None = None
    site_area_m2: float | None = None
    floor_area_m2: float | None = None
    approval_documents: tuple[str, ...] = ()
    no_specific_link: tuple[str, ...] = ()
    sign_text: str | None = None

    def __post_init__(self) -> None:
        if isinstance(self.category, str):
            object.__setattr__(self, "category", get_category(self.category))
        for name in ("approval_documents", "no_specific_link"):
            raw = getattr(self, name) or ()
            raw = (raw,) if isinstance(raw, str) else raw
            values = tuple(v.strip() for v in raw if v and v.strip())
            object.__setattr__(self, name, values)
        for name in ("site_area_m2", "floor_area_m2"):
            object.__setattr__(self, name, _area(name, getattr(self, name)))


def _area(name: str, value: Any) -> float | None:
    if value is None or value == "":
        return None
    try:
        area = float(value)
    except (TypeError, ValueError):
        area = -1.0
    if not area >= 0:
        raise InvalidInput(f"{name} 须为非负的平方米数 ({name} must be a number of m², not {value!r})",
                           errors=[{"field": name, "message": "not a non-negative number"}])
    return area


# --- word lists --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Entry:
    """One word-list entry: the word, its severity override (None = the rule's default) and its source."""

    word: str
    severity: str | None
    source: str


@dataclass(frozen=True)
class Match:
    """Where a word-list entry occurs in a text."""

    start: int
    end: int
    entry: Entry


class WordLists:
    """The word lists by name, each with its Aho–Corasick automaton (matching ignores case)."""

    def __init__(self, lists: dict[str, dict[str, Entry]]) -> None:
        self._entries = {name: tuple(entries.values()) for name, entries in lists.items()}
        self._words = {name: frozenset(e.word for e in entries) for name, entries in self._entries.items()}
        self._automata = {name: _automaton(entries) for name, entries in self._entries.items()}

    def entries(self, name: str) -> tuple[Entry, ...]:
        """Every entry of one list, in file order."""
        return self._entries[name]

    def words(self, name: str) -> frozenset[str]:
        """The words of one list."""
        return self._words[name]

    def sizes(self) -> dict[str, int]:
        """How many entries each list has."""
        return {name: len(entries) for name, entries in self._entries.items()}

    def find(self, name: str, text: str) -> list[Match]:
        """Leftmost-longest, non-overlapping occurrences of a list's words in a text."""
        automaton = self._automata[name]
        if automaton is None:
            return []
        hits = sorted(((end - len(key) + 1, end + 1, entry)
                       for end, (key, entry) in automaton.iter(text.lower())), key=lambda h: (h[0], -h[1]))
        found: list[Match] = []
        for start, end, entry in hits:
            if not found or start >= found[-1].end:
                found.append(Match(start, end, entry))
        return found

    def find_words(self, name: str, text: str) -> list[Match]:
        """Like find(), but only whole words (for Latin-letter lists such as english_generics)."""
        def letter(i: int) -> bool:
            return 0 <= i < len(text) and (text[i].isalnum() or text[i] in "'’")
        return [m for m in self.find(name, text) if not letter(m.start - 1) and not letter(m.end)]


def _automaton(entries: tuple[Entry, ...]) -> ahocorasick.Automaton | None:
    if not entries:
        return None
    automaton = ahocorasick.Automaton()
    for entry in entries:
        key = entry.word.lower()
        automaton.add_word(key, (key, entry))
    automaton.make_automaton()
    return automaton


def _parse_list(text: str, origin: str, entries: dict[str, Entry]) -> None:
    """Add one file's entries to a list (in place): `# source:` lines set the source of what follows."""
    source = None
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line:
            continue
        if line.startswith("#"):
            if found := _SOURCE_RE.match(line):
                source = found.group(1)
            elif source is None:
                raise ValueError(f"{origin}: start the file with a '# source: …' comment naming its source")
            continue
        if source is None:
            raise ValueError(f"{origin}: start the file with a '# source: …' comment naming its source")
        word, *rest = line.split("#", 1)[0].split()
        if len(rest) > 1 or (rest and rest[0] not in SEVERITIES):
            raise ValueError(f"{origin}:{number}: write one entry a line, optionally followed by "
                             f"{' | '.join(SEVERITIES)}; got {line!r}")
        if word.startswith("-") and len(word) > 1:
            entries.pop(word[1:].lower(), None)
        else:
            entries[word.lower()] = Entry(word, rest[0] if rest else None, source)


_EXTRA_DIR: list[str | None] = [None]  # the deployment's folder, set once from the settings


def use_extra_wordlists(extra_dir: str | Path | None) -> None:
    """Make every check use the packaged lists extended by EXTRA_DIR (GAZETTEER_WORDLISTS_DIR)."""
    _EXTRA_DIR[0] = None if extra_dir is None else str(Path(extra_dir).expanduser().resolve())
    load_wordlists()  # fail at start-up, not on the first check, when a list is malformed


def load_wordlists(extra_dir: str | Path | None = None) -> WordLists:
    """The packaged word lists, each extended by the same-named file in extra_dir (default: the
    configured folder) if given (cached)."""
    if extra_dir is None:
        return _load_wordlists(_EXTRA_DIR[0])
    return _load_wordlists(str(Path(extra_dir).expanduser().resolve()))


@cache
def _load_wordlists(extra_dir: str | None) -> WordLists:
    base = resources.files("placenames").joinpath("data/words")
    lists: dict[str, dict[str, Entry]] = {}
    for name in LIST_NAMES:
        lists[name] = {}
        _parse_list(base.joinpath(f"{name}.txt").read_text("utf-8"), f"words/{name}.txt", lists[name])
    if extra_dir is not None:
        folder = Path(extra_dir)
        if not folder.is_dir():
            raise ValueError(f"word-list folder {folder} does not exist")
        for path in sorted(folder.glob("*.txt")):
            if path.stem not in lists:
                raise ValueError(f"{path}: unknown word list; use one of {', '.join(LIST_NAMES)}")
            _parse_list(path.read_text("utf-8"), str(path), lists[path.stem])
    return WordLists(lists)


# --- names -------------------------------------------------------------------------------------------


def _bad_name(detail: str, message: str) -> InvalidInput:
    return InvalidInput(detail, errors=[{"field": "name", "message": message}])


def validate_name(name: str) -> str:
    """Strip and NFC-normalise a name; raise InvalidInput (saying why) if it cannot be a place name."""
    if not isinstance(name, str):
        raise _bad_name("地名必须是文本 (the name must be text)", "not text")
    cleaned = unicodedata.normalize("NFC", name).strip()
    if not cleaned:
        raise _bad_name("地名为空 (the name is empty)", "empty")
    if len(cleaned) > MAX_NAME_LENGTH:
        raise _bad_name(f"地名过长：{len(cleaned)} 个字符，最多 {MAX_NAME_LENGTH} 个 "
                        f"(the name has {len(cleaned)} characters; at most {MAX_NAME_LENGTH})", "too long")
    hidden = [ch for ch in cleaned if unicodedata.category(ch) in ("Cc", "Cf", "Co", "Cs", "Cn")]
    if hidden:
        codes = ", ".join(f"U+{ord(ch):04X}" for ch in dict.fromkeys(hidden))
        raise _bad_name(f"地名含控制字符或不可见字符 {codes} (the name contains control or invisible "
                        f"characters {codes})", "control characters")
    if not _HAN_RE.search(cleaned):
        raise _bad_name("地名须用汉字书写 (the name has no Chinese character; give the standard "
                        "Chinese name, not a romanization or a number)", "no Chinese characters")
    if any(ch.isspace() for ch in cleaned):
        raise _bad_name("地名中间不能有空格 (the name contains spaces; write it without them)", "spaces")
    return cleaned


@dataclass(frozen=True)
class _Name:
    """A validated proposal as the checks see it."""

    name: str
    specific: str
    generic: str
    proposal: Proposal
    words: WordLists

    @property
    def category(self) -> Category:
        return self.proposal.category

    @property
    def excepted(self) -> bool:
        return self.name in self.words.words("exceptions")

    def in_name(self, list_name: str) -> list[Match]:
        """Word-list hits, without those that run into the 通名 only part-way (永恒大厦 is not 恒大)."""
        cut, size = len(self.specific), len(self.name)
        return [m for m in self.words.find(list_name, self.name)
                if not (m.start < cut < m.end < size)]


def _parts(p: Proposal, name: str) -> tuple[str, str]:
    if p.specific is None and p.generic is None:
        return split_name(name, p.category)
    specific = None if p.specific is None else p.specific.strip()
    generic = None if p.generic is None else p.generic.strip()
    if generic is None:
        generic = name[len(specific):]
    if specific is None:
        specific = name[: len(name) - len(generic)]
    if specific + generic != name:
        raise InvalidInput(f"专名 {specific!r} + 通名 {generic!r} 须等于地名 {name!r} "
                           f"(the specific and generic parts must spell the name)",
                           errors=[{"field": "specific", "message": "specific + generic ≠ name"}])
    return specific, generic


def _finding(rule: int, code: str, severity: str, message: str, source: str, **evidence: Any) -> Finding:
    return Finding(rule=rule, code=code, severity=severity, message=message, evidence=evidence, source=source)


def _hit(rule: int, code: str, severity: str, message: str, match: Match) -> Finding:
    return _finding(rule, code, severity, message, match.entry.source,
                    word=match.entry.word, position=match.start)


# --- rules 1 and 2: 通名 ----------------------------------------------------------------------------


def _rule1_generic(n: _Name) -> list[Finding]:
    """§9 rule 1: a name needs a 通名 from its category's vocabulary, and is more than a 通名."""
    source = "LRB-DM Art. 9; XZ-1996 Art. 14"
    if n.name in all_generics() or n.name in n.category.generics:
        return [_finding(1, "generic-only", "error",
                         f"“{n.name}”只有通名，缺专名 (a 通名 alone is not a name)", source, generic=n.name)]
    if not n.generic:
        severity = "warning" if n.category.scope == "none" else "error"
        examples = "、".join(n.category.generics[:6])
        return [_finding(1, "missing-generic", severity,
                         f"缺少{n.category.name}的通名，如 {examples} "
                         f"(the name lacks a 通名 of its category)",
                         source, category=n.category.code)]
    if n.generic not in n.category.generics:
        return [_finding(1, "unlisted-generic", "warning",
                         f"通名“{n.generic}”不在{n.category.name}的通名表中 (the 通名 is not in the "
                         f"category's vocabulary; check it, or add it to categories.toml)",
                         source + " (vocabulary: design choice)",
                         generic=n.generic, category=n.category.code)]
    return []


@cache
def _stack_vocabulary(category: Category) -> tuple[str, ...]:
    if category.code == "0801":
        return category.generics
    if category.code == "0703" or category.class_code == "11":
        codes = ("0703", "1101", "1102")
        return tuple(dict.fromkeys(g for c in codes for g in get_category(c).generics))
    return ()


def _rule2_stacked(n: _Name) -> list[Finding]:
    """§9 rule 2: no stacked 通名 (××大厦广场, ××苑公寓) in residential, street and building names."""
    vocabulary = _stack_vocabulary(n.category)
    if not n.generic or n.generic not in vocabulary:
        return []
    inner = [g for g in vocabulary if n.specific.endswith(g) and g not in WEAK_INNER_GENERICS]
    if not inner:
        return []
    word = max(inner, key=len)
    return [_finding(2, "stacked-generic", "warning",
                     f"通名叠加：“{word}”后又加“{n.generic}” (stacked 通名; keep one of them)", "FY-169936",
                     inner_generic=word, generic=n.generic, position=len(n.specific) - len(word))]


# --- rules 7–11: word lists --------------------------------------------------------------------------


def _cleared(n: _Name, match: Match) -> bool:
    """Whether a reviewer cleared this occurrence as having no specific link (SSB-71 Art. 3–4)."""
    for word in n.proposal.no_specific_link:
        start = n.name.find(word)
        while start >= 0:
            if start <= match.start and match.end <= start + len(word):
                return True
            start = n.name.find(word, start + 1)
    return False


def _cleared_note(rule: int, match: Match) -> Finding:
    return _hit(rule, "no-specific-link", "info",
                f"审核人已认定“{match.entry.word}”与人名、企业或商标无特定联系 (cleared by a reviewer: "
                f"no specific link)", match)


def _rule7_persons(n: _Name) -> list[Finding]:
    """§9 rule 7: never a state leader's name; other persons' names only when cleared as unrelated."""
    if n.excepted:
        return []
    found = [_hit(7, "state-leader", "error",
                  f"不得以国家领导人名字“{m.entry.word}”命名 (a state leader's name is never allowed)", m)
             for m in n.in_name("state_leaders")]
    for m in n.in_name("persons"):
        found.append(_cleared_note(7, m) if _cleared(n, m) else _hit(
            7, "person-name", m.entry.severity or "error",
            f"含人名“{m.entry.word}”，一般不以人名命名；如无特定联系请审核确认 (contains a person's name; "
            f"a reviewer may clear it as having no specific link)", m))
    return found


def _rule8_foreign(n: _Name) -> list[Finding]:
    """§9 rule 8 (洋): no foreign place or person names, except listed historical/friendship names."""
    if n.excepted:
        return []
    found = []
    for list_name, code, label in (("foreign_places", "foreign-place", "外国地名"),
                                   ("foreign_persons", "foreign-person", "外国人名")):
        found += [_hit(8, code, m.entry.severity or "error",
                       f"含{label}“{m.entry.word}”(洋) (contains a foreign {code.split('-')[1]} name)", m)
                  for m in n.in_name(list_name)]
    return found


def _exception_note(n: _Name) -> list[Finding]:
    if not n.excepted:
        return []
    return [_finding(8, "listed-exception", "info",
                     "列入历史、纪念或友好地名例外表，不查人名、外国名和封建用词 (a listed historical, "
                     "commemorative or friendship name: rules 7, 8 and 11 skipped)", "JF-table; ZQ-2019",
                     name=n.name)]


def _rule9_enterprises(n: _Name) -> list[Finding]:
    """§9 rule 9: enterprise names and trademarks are flagged; the reviewer decides on 特定联系."""
    return [_cleared_note(9, m) if _cleared(n, m) else _hit(
        9, "enterprise-name", m.entry.severity or "warning",
        f"含企业名称或商标“{m.entry.word}”，请审核是否有特定联系 (contains an enterprise name or trademark; "
        f"the reviewer decides whether there is a specific link)", m)
        for m in n.in_name("enterprises")]


def _rule10_exaggerated(n: _Name) -> list[Finding]:
    """§9 rule 10 (大): scale words in residential and building names need a national approval document."""
    if not (n.category.code == "0703" or n.category.class_code == "11"):
        return []
    documents = n.proposal.approval_documents
    found = []
    for m in n.in_name("exaggerated"):
        if documents:
            found.append(_hit(10, "exaggerated-word", "info",
                              f"“{m.entry.word}”已附批件 {'；'.join(documents)}，请核对 (exempt by the "
                              f"attached approval document; check that it covers this word)", m))
        else:
            found.append(_hit(10, "exaggerated-word", m.entry.severity or "error",
                              f"含夸大用词“{m.entry.word}”(大)，须附国家有关部门批件或改名 (exaggerated "
                              f"word: attach a national department's approval document, or rename)", m))
    return found


def _rule11_feudal(n: _Name) -> list[Finding]:
    """§9 rule 11 (怪): words with a strong feudal connotation, unless the name is a listed exception."""
    if n.excepted:
        return []
    return [_hit(11, "feudal-word", m.entry.severity or "error",
                 f"含封建色彩用词“{m.entry.word}”(怪) (feudal word; allowed only with a specific historical "
                 f"or religious background)", m)
            for m in n.in_name("feudal")]


# --- rule 12: bizarre characters and meanings ---------------------------------------------------------


def _digits_allowed(category: Category) -> bool:
    return category.class_code in CODE_CLASSES or category.code in ROUTE_SUBCLASSES


def _rule12_digits(n: _Name) -> list[Finding]:
    """§9 rule 12: a 专名 of digits only (route and survey numbers such as 318国道 and 1203高地 are fine)."""
    if not n.specific.isdigit() or _digits_allowed(n.category):
        return []
    return [_finding(12, "digits-only", "error", f"专名“{n.specific}”只有数字 (the 专名 is only digits)",
                     "JY-2019; JF-table", specific=n.specific)]


def _rule12_characters(n: _Name) -> list[Finding]:
    """§9 rule 12: Latin letters, symbols (· - _) and digits mixed with Chinese in the 专名."""
    text = n.specific
    if not text or text.isdigit():
        return []
    if n.category.code == "0801" and _ORDINAL_RE.match(text):
        return [_finding(12, "ordinal-digits", "warning",
                         "序数请用汉字数字书写（如 纬一路），罗马字母拼写再写作阿拉伯数字 "
                         "(write the ordinal in Chinese numerals; the romanization uses Arabic digits)",
                         "WK-1984 rule 7; JY-2019",
                         specific=text)]
    if _digits_allowed(n.category) and _CODE_RE.match(text):
        return []
    kinds = {
        "latin letters": [ch for ch in text if _LATIN_RE.match(ch)],
        "symbols": [ch for ch in text if unicodedata.category(ch)[0] in "PS"],
        "digits mixed with Chinese": [ch for ch in text if ch.isdigit()] if _HAN_RE.search(text) else [],
    }
    if not _HAN_RE.search(text) and any(ch.isdigit() for ch in text):
        kinds["digits"] = [ch for ch in text if ch.isdigit()]
    kinds = {kind: chars for kind, chars in kinds.items() if chars}
    if not kinds:
        return []
    chars = "".join(dict.fromkeys(ch for group in kinds.values() for ch in group))
    return [_finding(12, "bizarre-characters", "error",
                     f"专名“{text}”含字母、符号或数字与汉字混用：{chars}(怪) (the 专名 contains "
                     f"{', '.join(kinds)})", "JY-2019; JF-table", specific=text, kinds=list(kinds),
                     characters=chars)]


def _rule12_meaning(n: _Name) -> list[Finding]:
    """§9 rule 12: bizarre, vulgar or unhealthy meanings (黄泉路), from the bizarre word list."""
    return [_hit(12, "bizarre-meaning", m.entry.severity or "warning",
                 f"含怪异或不健康含义的“{m.entry.word}”(怪) (bizarre or unhealthy meaning)", m)
            for m in n.in_name("bizarre")]


@cache
def _t2s():
    import opencc

    return opencc.OpenCC("t2s")


def _rule12_script(n: _Name) -> list[Finding]:
    """§1.3 item 3 via §9 rule 12: Traditional characters and rare characters (outside GB 2312)."""
    found = []
    simplified = _t2s().convert(n.name)
    changed = [(i, a, b) for i, (a, b) in enumerate(zip(n.name, simplified, strict=False)) if a != b]
    if changed or len(simplified) != len(n.name):
        found.append(_finding(12, "traditional-character", "warning",
                              f"含繁体字，规范写法为“{simplified}” "
                              f"(Traditional characters; the Simplified form is {simplified})",
                              "LRB-DM Art. 9(3)", simplified=simplified,
                              characters=[a for _, a, _ in changed], positions=[i for i, _, _ in changed]))
    rare = [(i, ch) for i, ch in enumerate(simplified) if _HAN_RE.match(ch) and not _in_gb2312(ch)]
    if rare:
        chars = "".join(dict.fromkeys(ch for _, ch in rare))
        found.append(_finding(12, "rare-character", "warning",
                              f"含生僻字“{chars}”（不在 GB 2312 内），请避免使用 "
                              f"(rare characters outside GB 2312)",
                              "LRB-DM Art. 9(3)", characters=chars, positions=[i for i, _ in rare]))
    return found


def _in_gb2312(ch: str) -> bool:
    try:
        ch.encode("gb2312")
    except UnicodeEncodeError:
        return False
    return True


# --- rule 13: 广场 -----------------------------------------------------------------------------------


def _rule13_square(n: _Name) -> list[Finding]:
    """§9 rule 13 (大, 通名): a building called 广场 needs site ≥ 10,000 m² or floor area ≥ 100,000 m²."""
    if n.category.class_code != "11" or n.generic != "广场":
        return []
    site, floor = n.proposal.site_area_m2, n.proposal.floor_area_m2
    evidence = {"site_area_m2": site, "floor_area_m2": floor}
    if (site is not None and site >= SQUARE_SITE_M2) or (floor is not None and floor >= SQUARE_FLOOR_M2):
        return []
    if site is None or floor is None:
        return [_finding(13, "square-area-missing", "info",
                         f"请填写占地面积和建筑面积以核对“广场”通名（占地 ≥ {SQUARE_SITE_M2:,} m² "
                         f"或建筑面积 ≥ {SQUARE_FLOOR_M2:,} m²） "
                         f"(give site and floor area to check the 广场 rule)",
                         "JF-table", **evidence)]
    return [_finding(13, "square-size", "warning",
                     f"“广场”通名与规模不符：占地 {site:,.0f} m² < {SQUARE_SITE_M2:,}，"
                     f"建筑面积 {floor:,.0f} m² < {SQUARE_FLOOR_M2:,} (too small to be called 广场)",
                     "JF-table", **evidence)]


_TEXT_CHECKS = (
    _rule1_generic, _rule2_stacked, _exception_note, _rule7_persons, _rule8_foreign, _rule9_enterprises,
    _rule10_exaggerated, _rule11_feudal, _rule12_digits, _rule12_characters, _rule12_meaning,
    _rule12_script, _rule13_square,
)


def check_text(p: Proposal, *, words: WordLists | None = None) -> list[Finding]:
    """§9 rules 1, 2, 7–13 (and 25 with sign_text) on one proposal; InvalidInput if it is not a name."""
    name = validate_name(p.name)
    specific, generic = _parts(p, name)
    n = _Name(name, specific, generic, p, words or load_wordlists())
    found = [f for check in _TEXT_CHECKS for f in check(n)]
    if p.sign_text is not None:
        found += check_sign_text(p.sign_text, words=n.words)
    return found


# --- rule 25: signs ----------------------------------------------------------------------------------


def _sign_key(text: str) -> str:
    """Sign text for comparison: no tone marks, no spacing, lower case, one kind of apostrophe."""
    bare = "".join(ch for ch in unicodedata.normalize("NFD", text) if ch not in _TONE_MARKS)
    return "".join(unicodedata.normalize("NFC", bare).replace("’", "'").lower().split())


def _wade_giles_patterns(sign_text: str, skip: set[int]) -> list[Finding]:
    found = []
    for token in _SIGN_WORD_RE.finditer(sign_text):
        if token.start() in skip:
            continue
        word = _sign_key(token.group())
        for pattern, label in _WG_PATTERNS:
            if pattern.search(word):
                found.append(_finding(25, "wade-giles", "error",
                                      f"“{token.group()}”为威妥玛式拼写：{label} "
                                      f"(Wade–Giles spelling on a sign; use Hanyu Pinyin)", "SS-1987",
                                      word=token.group(), position=token.start(), pattern=label))
                break
    return found


def check_sign_text(sign_text: str, expected: str | None = None, *,
                    words: WordLists | None = None) -> list[Finding]:
    """§9 rule 25: English words or Wade–Giles spellings on a sign, or a sign that differs from `expected`."""
    text = (sign_text or "").strip()
    if not text:
        raise InvalidInput("标志上的罗马字母拼写为空 (the sign text is empty)",
                           errors=[{"field": "sign_text", "message": "empty"}])
    words = words or load_wordlists()
    found, seen = [], set()
    for m in words.find_words("english_generics", text):
        seen.add(m.start)
        found.append(_hit(25, "english-word", "error",
                          f"标志不得用英文“{text[m.start:m.end]}”，通名用汉语拼音 (English on a sign; "
                          f"spell the 通名 in pinyin, e.g. Lu, Jie)", m))
    for m in words.find_words("wade_giles", text):
        seen.add(m.start)
        found.append(_hit(25, "wade-giles", "error",
                          f"“{text[m.start:m.end]}”为威妥玛式或邮政式拼写 (Wade–Giles or postal spelling; "
                          f"use Hanyu Pinyin)", m))
    found += _wade_giles_patterns(text, seen)
    if expected is not None and _sign_key(text) != _sign_key(expected):
        found.append(_finding(25, "sign-mismatch", "error",
                              f"标志拼写“{text}”与标准罗马字母拼写“{expected}”不一致 "
                              f"(sign text does not match the standard romanization)", "SS-1987; WK-1984",
                              sign_text=text, expected=expected))
    return sorted(found, key=lambda f: f.evidence.get("position", len(text)))


# --- homophones --------------------------------------------------------------------------------------


def _prefixes(city_names: Iterable[str]) -> tuple[str, ...]:
    cities = set()
    for city in city_names:
        city = (city or "").strip()
        if city:
            cities.update({city, city.removesuffix("市"), city.removesuffix("市") + "市"})
    cities.discard("")
    cities.discard("市")
    return (*HOMOPHONE_PREFIXES, *cities, *(c + p for c in cities for p in HOMOPHONE_PREFIXES))


def homophone_keys(name: str, city_names: Iterable[str] = ()) -> set[str]:
    """Toneless pinyin keys of a name and of its one-step 新/大/city-prefix variants (FS-172294).

    Another name counts as the same name or a homophone when its pinyin_key() is in this set: same
    pinyin ignoring tones, or one leading 新, 大, city name (with or without 市) or city name + 新/大
    added or removed, where the shorter name has at least two characters (大道 and 道 differ).
    """
    from placenames.romanize import pinyin_key

    name = validate_name(name)
    variants = {name}
    for prefix in _prefixes(city_names):
        if name.startswith(prefix):
            if len(name) - len(prefix) >= 2:
                variants.add(name[len(prefix):])
        elif len(name) >= 2:
            variants.add(prefix + name)
    return {pinyin_key(v) for v in variants}
