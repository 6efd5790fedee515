"""Address normalisation: the canonical form and the map back to the input."""

import random

import pytest

from addresses.normalize import chinese_number, normalize, normalize_changes, normalize_with_map


@pytest.mark.parametrize(("raw", "expected"), [
    ("浙江省 杭州市\u3000西湖区\t文三路", "浙江省杭州市西湖区文三路"),
    ("文三路\x00１２３号\u200b", "文三路123号"),
    ("ＡＢＣ１２３，－", "ABC123,-"),
    ("abc座ｆ５", "ABC座F5"),
    ("臺灣省廣州市西湖區樓號", "台湾省广州市西湖区楼号"),
    ("二十三号", "23号"),
    ("三单元", "3单元"),
    ("十五楼", "15楼"),
    ("一〇二室", "102室"),
    ("五幢", "5幢"),
    ("一百零二号之一", "102号之1"),
    ("8号附一", "8号附1"),
    ("三幢二单元三〇一室", "3幢2单元301室"),
    ("文三路二十三号阳光小区", "文三路23号阳光小区"),
    ("3#楼", "3号楼"),
    ("3＃楼", "3号楼"),
    ("12—3号", "12-3号"),
    ("12–3号", "12-3号"),
])
def test_normalize_steps(raw, expected):
    assert normalize(raw) == expected


@pytest.mark.parametrize("name", ["第三小学", "三里屯", "五一路", "八一镇", "九房社区", "上三房村", "一座营镇", "五楼村",
                                  "七弄堂", "三巷社区", "文一西路"])
def test_numerals_inside_names_stay(name):
    assert normalize(name) == name


def test_hash_and_dash_only_next_to_digits():
    assert normalize("A#B") == "A#B"
    assert normalize("华—东") == "华—东"


@pytest.mark.parametrize(("run", "value"), [("三", "3"), ("十", "10"), ("十五", "15"), ("二十", "20"),
                                            ("二十三", "23"), ("一〇二", "102"), ("一百零二", "102"),
                                            ("两千零一", "2001"), ("零", "0")])
def test_chinese_number(run, value):
    assert chinese_number(run) == value


def test_map_points_at_the_input_characters():
    raw = "浙江 省，二十三号 Ａ座"
    normalized, where = normalize_with_map(raw)
    assert normalized == "浙江省,23号A座"
    assert len(where) == len(normalized)
    assert where == sorted(where)
    assert [raw[i] for i in where] == ["浙", "江", "省", "，", "二", "十", "号", "Ａ", "座"]


def test_unchanged_text_needs_no_map():
    text = "浙江省杭州市西湖区文三路100号"
    assert normalize_changes(text) == (text, None)
    normalized, where = normalize_changes("文三路１００号")
    assert normalized == "文三路100号" and where == [0, 1, 2, 3, 4, 5, 6]


def test_hostile_input_does_not_raise():
    lone_surrogate = "a\udc80b"
    assert normalize(lone_surrogate) == "AB"
    assert normalize("😀地址") == "😀地址"
    assert normalize("") == ""
    assert normalize("一" * 10_000 + "号") == "一" * 10_000 + "号"  # too long to be a number: left alone
    assert normalize("\x00\x01\x02") == ""


def test_random_text_keeps_its_invariants():
    rng = random.Random(20261124)
    alphabet = "浙江杭州市西湖區路号樓幢单元室一二三十百零〇#－—１２Ａａ ，\t\x00\u3000😀-0123456789AB"
    for _ in range(2_000):
        raw = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 30)))
        normalized, where = normalize_with_map(raw)
        assert normalized == normalize(raw)
        assert normalize(normalized) == normalized, raw
        assert len(where) == len(normalized)
        assert all(0 <= i < len(raw) for i in where)
        assert where == sorted(where)
        assert not any(ch.isspace() for ch in normalized)
