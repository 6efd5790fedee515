"""Batch geocoding: encodings, column choice, one output row per input row, the job API."""

from __future__ import annotations

import csv
import io

import pytest

from addresses.admin import admin_index
from addresses.batch import OUTPUT_COLUMNS, decode, geocode_csv, inspect_csv
from data.errors import InvalidInput
from tests.address_builders import add_plate, add_street

ROWS = [("1", "兰州市城关区文一路5号"), ("2", ""), ("3", "不存在的地方"), ("4", "甘肃省兰州市城关区文一路8号"),
        ("5", "兰州市城关区,文一路 6号")]


@pytest.fixture
def street(connection):
    street = add_street(connection, name="文一路")
    return street, {n: add_plate(connection, street, n) for n in range(1, 10)}


def _csv(rows, header=("编号", "地址"), encoding="utf-8") -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue().encode(encoding)


def _run(connection, data: bytes, **options) -> list[dict]:
    out = io.StringIO()
    written = geocode_csv(connection, admin_index(connection), data, out, **options)
    rows = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert written == len(rows)
    return rows


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gbk", "gb18030"])
def test_every_row_comes_back_in_order_whatever_the_encoding(connection, street, encoding):
    _, plates = street
    rows = _run(connection, _csv(ROWS, encoding=encoding))
    assert [r["编号"] for r in rows] == [r[0] for r in ROWS]
    assert rows[0]["gz_code"] == plates[5].code and rows[0]["gz_match_level"] == "门牌号"
    assert rows[1]["gz_code"] == "" and "缺失" in rows[1]["gz_warnings"]
    assert rows[3]["gz_code"] == plates[8].code
    assert rows[4]["gz_code"] == plates[6].code
    assert rows[0]["gz_county_code"] == "620102" and float(rows[0]["gz_lon"]) > 103
    assert set(OUTPUT_COLUMNS) <= set(rows[0])


def test_encoding_detection(connection):
    assert decode("地址\n".encode("gbk"))[1] == "gb18030"
    assert decode("\ufeff地址\n".encode())[1] == "utf-8"
    with pytest.raises(InvalidInput, match="not text"):
        decode(b"\x00\x01\x02binary")
    with pytest.raises(InvalidInput, match="empty"):
        decode(b"  \n")


def test_column_choice_by_name_or_number_and_clear_errors(connection, street):
    data = _csv([("甲", "兰州市城关区文一路5号")], header=("名称", "addr_text"))
    with pytest.raises(InvalidInput, match="addr_text"):
        inspect_csv(data, None)
    assert inspect_csv(data, "addr_text").address_column == 1
    assert inspect_csv(data, "2").address_column == 1
    with pytest.raises(InvalidInput, match="not in the file"):
        inspect_csv(data, "missing")
    assert _run(connection, data, column="addr_text")[0]["gz_match_level"] == "门牌号"


def test_ragged_rows_and_bad_division_cells_are_kept(connection, street):
    data = _csv([("1",), ("2", "兰州市城关区文一路5号", "extra"), ("3", "文一路5号", "abc")],
                header=("编号", "地址", "区划"))
    rows = _run(connection, data, division_column="区划")
    assert [r["编号"] for r in rows] == ["1", "2", "3"]
    assert "错误" in rows[2]["gz_warnings"]


def test_coordsys_applies_to_the_output(connection, street):
    plain = _run(connection, _csv(ROWS[:1]))[0]
    shifted = _run(connection, _csv(ROWS[:1]), coordsys="gcj02")[0]
    assert shifted["gz_coordsys"] == "gcj02" and shifted["gz_lon"] != plain["gz_lon"]


def test_job_api_round_trip(client, street):
    _, plates = street
    data = _csv(ROWS)
    response = client.post("/v1/addresses/batch", files={"file": ("in.csv", data, "text/csv")},
                           data={"column": "地址"})
    assert response.status_code == 202, response.text
    job = response.json()
    status = client.get(f"/v1/jobs/{job['id']}").json()
    assert status["status"] == "done" and status["done"] == status["total"] == len(ROWS)
    result = client.get(f"/v1/jobs/{job['id']}/result.csv")
    assert result.status_code == 200 and result.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(result.content.decode("utf-8-sig"))))
    assert len(rows) == len(ROWS) and rows[0]["gz_code"] == plates[5].code


@pytest.mark.parametrize("payload,expected", [
    ({"files": {"file": ("in.csv", b"\x00\x00binary", "text/csv")}}, "not text"),
    ({"files": {"file": ("in.csv", "名称\n甲\n".encode(), "text/csv")}}, "which column"),
    ({"files": {"file": ("in.csv", b"", "text/csv")}}, "empty"),
    ({"files": {"file": ("in.csv", "地址\n甲\n".encode(), "text/csv")}, "data": {"coordsys": "x"}}, "coordsys"),
])
def test_job_api_refuses_bad_files_and_stores_nothing(client, connection, payload, expected):
    before = connection.exec_driver_sql("SELECT count(*) FROM jobs").scalar_one()
    response = client.post("/v1/addresses/batch", **payload)
    assert response.status_code == 422 and expected in response.text
    assert connection.exec_driver_sql("SELECT count(*) FROM jobs").scalar_one() == before


def test_unknown_job_is_404_and_malformed_id_422(client):
    assert client.get("/v1/jobs/00000000-0000-0000-0000-000000000000").status_code == 404
    assert client.get("/v1/jobs/not-a-uuid").status_code == 422
