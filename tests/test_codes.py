import pytest

from boundaries import codes
from boundaries.codes import DivisionCode, InvalidCode


@pytest.mark.parametrize(("text", "level", "parent"), [
    ("330000", 1, None),
    ("330500", 2, "330000"),
    ("330502", 3, "330500"),
    ("330502001", 4, "330502"),
    ("330502001001", 5, "330502001"),
    (" 330502 ", 3, "330500"),
])
def test_parse_levels_and_parents(text, level, parent):
    code = DivisionCode.parse(text)
    assert code.level == level
    assert code.parent == parent


@pytest.mark.parametrize("bad", ["33050", "3305021", "33050A", "abcdef", "", "3305020010011",
                                 "003305", "33 0502", "３３０５０２"])
def test_malformed_codes_say_what_a_code_looks_like(bad):
    with pytest.raises(InvalidCode) as err:
        DivisionCode.parse(bad)
    assert "6 digits" in err.value.detail or "00" in err.value.detail
    assert err.value.status == 422


@pytest.mark.parametrize(("code", "name", "kind"), [
    ("330502001", "月河街道", "街道"),       # rule 29: 001–099
    ("330502100", "八里店镇", "镇"),         # 100–199
    ("330502200", "某乡", "乡"),             # 200–399
    ("152527201", "贡宝拉格苏木", "苏木"),
    ("130824203", "某满族乡", "乡"),
    ("130824204", "大屯满族民族乡", "民族乡"),
    ("230182400", "某农场", "政企合一单位"),  # 400–599
])
def test_township_kind_from_code_range(code, name, kind):
    assert codes.township_kind(code, name) == kind


@pytest.mark.parametrize(("code", "kind"), [
    ("330502001001", "居委会"), ("330502001199", "居委会"), ("330502100200", "村委会"),
    ("330502100399", "村委会"), ("330502100401", "类似居委会"), ("330502100501", "类似村委会"),
])
def test_village_kind_from_code_range(code, kind):  # rule 30
    assert codes.village_kind(code) == kind


@pytest.mark.parametrize(("name", "code", "kind"), [
    ("吴兴区", "330502", "市辖区"), ("德清县", "330521", "县"), ("景宁畲族自治县", "331127", "自治县"),
    ("太仆寺旗", "152527", "旗"), ("莫力达瓦达斡尔族自治旗", "150722", "自治旗"),
    ("神农架林区", "429021", "林区"), ("碑林区", "610103", "市辖区"), ("金林区", "230751", "市辖区"),
    ("六枝特区", "520203", "特区"), ("义乌市", "330782", "县级市"),
    ("石家庄高新技术产业开发区", "130171", "功能区(统计用)"),
])
def test_county_kind(name, code, kind):
    assert codes.county_kind(name, code) == kind


def test_rule_28_county_digits_against_type():
    assert codes.county_code_warnings("330521", "县") == []
    assert codes.county_code_warnings("330782", "县级市") == []
    assert codes.county_code_warnings("330522", "市辖区")  # 21–50 is for 县 and the like
    assert codes.county_code_warnings("330881", "县")      # 81–99 is for 县级市


def test_province_and_prefecture_kinds():
    assert codes.province_kind("浙江省") == "省"
    assert codes.province_kind("广西壮族自治区") == "自治区"
    assert codes.province_kind("北京市") == "直辖市"
    assert codes.prefecture_kind("湖州市") == "地级市"
    assert codes.prefecture_kind("恩施土家族苗族自治州") == "自治州"
    assert codes.prefecture_kind("阿拉善盟") == "盟"
    assert codes.prefecture_kind("大兴安岭地区") == "地区"
    assert codes.prefecture_kind("市辖区").endswith("(统计汇总)")
