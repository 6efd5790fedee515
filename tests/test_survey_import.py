"""`gazetteer surveys import`: GeoPackage, GeoJSON, CSV and GPX files become one idempotent batch."""

from __future__ import annotations

import json
from contextlib import contextmanager

import geopandas as gpd
import pandas as pd
import pyogrio
import pytest
from shapely.geometry import LineString, Point
from sqlalchemy import text
from typer.testing import CliRunner

from api import cli_surveys
from api.cli import app
from boundaries import survey_import
from boundaries.markers import change_marker
from data.accounts import add_user
from data.errors import InvalidInput
from data.gcj02 import wgs84_to_gcj02
from tests.boundary_builders import add_line, add_markers
from tests.survey_builders import assign, count, uploads_by

STATUSES = ["完好", "损坏", "丢失"]
TIMES = ["2026-11-20T09:30:00+08:00", "2026-11-20T09:50:00+08:00", "2026-11-20T10:10:00+08:00"]


@pytest.fixture
def line(session):
    line_id = add_line(session)
    markers = add_markers(session, line_id, 3)
    add_user(session, "surveyor-file", "long enough password", "surveyor")
    assign(session, line_id, "surveyor-file")
    return line_id, markers


@pytest.fixture
def cli(session, monkeypatch):
    @contextmanager
    def within():
        with session.begin_nested():
            yield session

    monkeypatch.setattr(cli_surveys, "unit", within)
    runner = CliRunner()
    return lambda *args: runner.invoke(app, ["surveys", "import", *map(str, args)])


def frame(markers, crs: int = 4490) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame({"marker": [m.number for m in markers], "status": STATUSES,
                             "accuracy": [0.4, 0.6, 0.8], "observed_at": TIMES, "notes": ["界桩完好", "漆面脱落", None]},
                            geometry=[Point(m.lon, m.lat) for m in markers], crs=crs)


def write(tmp_path, markers, kind: str):
    if kind == "gpkg":
        path = tmp_path / "checks.gpkg"
        pyogrio.write_dataframe(frame(markers), path, layer="checks")
    elif kind == "geojson":
        path = tmp_path / "checks.geojson"
        pyogrio.write_dataframe(frame(markers), path, driver="GeoJSON")
    elif kind == "csv":
        path = tmp_path / "checks.csv"
        pd.DataFrame({"经度": [m.lon for m in markers], "纬度": [m.lat for m in markers], "精度": [0.4, 0.6, 0.8],
                      "界桩编号": [m.number for m in markers], "状态": STATUSES, "备注": ["", "漆面脱落", ""],
                      "观测时间": ["2026-11-20 09:30:00", "2026-11-20 09:50:00", "2026-11-20 10:10:00"]}
                     ).to_csv(path, index=False)
    else:
        path = tmp_path / "checks.gpx"
        waypoints = gpd.GeoDataFrame({"name": [m.number for m in markers], "desc": STATUSES,
                                      "time": pd.to_datetime(TIMES).tz_convert("UTC")},
                                     geometry=[Point(m.lon, m.lat) for m in markers], crs=4326)
        pyogrio.write_dataframe(waypoints, path, driver="GPX", layer="waypoints")
    return path


@pytest.mark.parametrize("kind", ["gpkg", "geojson", "csv", "gpx"])
def test_each_format_imports_as_one_batch_and_reimports_the_same(cli, session, line, tmp_path, kind):
    line_id, markers = line
    path = write(tmp_path, markers, kind)
    first = cli(path, "--as", "surveyor-file", "--device", "Trimble R2", "--json")
    assert first.exit_code == 0, first.output
    receipt = json.loads(first.stdout)
    expected_flags = [["accuracy_unknown"]] * 3 if kind == "gpx" else [[], [], []]   # GPX carries no accuracy
    assert [[r["code"] for r in rec["reasons"]] for rec in receipt["records"]] == expected_flags
    assert [r["marker"] for r in receipt["records"]] == [m.number for m in markers]
    assert receipt["counts"]["rejected"] == 0 and receipt["uploaded_by"] == "surveyor-file"
    assert receipt["captured_at"] == "2026-11-20T02:10:00Z"     # the latest observation
    stored = session.execute(text(
        "SELECT status, datum, observed_at, body ->> 'notes' AS notes FROM survey_records WHERE batch_uuid = :b "
        "ORDER BY observed_at"), {"b": receipt["batch"]}).all()
    assert [r.status for r in stored] == STATUSES
    assert [r.datum for r in stored] == ["WGS84" if kind == "gpx" else "CGCS2000"] * 3
    assert stored[0].observed_at.isoformat().startswith("2026-11-20T01:30:00")
    if kind != "gpx":
        assert stored[1].notes == "漆面脱落"

    again = cli(path, "--as", "surveyor-file", "--device", "Trimble R2", "--json")
    assert again.exit_code == 0 and json.loads(again.stdout) == receipt
    assert uploads_by(session, "surveyor-file") == (1, 3)


def test_the_receipt_table_and_dry_run(cli, session, line, tmp_path):
    _, markers = line
    path = write(tmp_path, markers, "csv")
    dry = cli(path, "--as", "surveyor-file", "--dry-run")
    assert dry.exit_code == 0, dry.output
    assert "dry run" in dry.stdout and markers[0].number in dry.stdout
    assert "nothing stored" in dry.stderr
    assert uploads_by(session, "surveyor-file") == (0, 0)
    real = cli(path, "--as", "surveyor-file")
    assert real.exit_code == 0 and "3 accepted" in real.stderr and "(stored)" in real.stderr
    again = cli(path, "--as", "surveyor-file")
    assert "stored already" in again.stderr


def test_import_uses_the_same_checks_as_the_api(cli, session, line, tmp_path):
    line_id, markers = line
    add_user(session, "surveyor-other", "long enough password", "surveyor")
    path = write(tmp_path, markers, "gpkg")
    response = cli(path, "--as", "surveyor-other", "--json")
    assert response.exit_code == 0
    assert {r["reasons"][0]["code"] for r in json.loads(response.stdout)["records"]} == {"not_assigned"}
    assert cli(path, "--as", "nobody").exit_code == 1
    add_user(session, "applicant-file", "long enough password", "applicant")
    refused = cli(path, "--as", "applicant-file")
    assert refused.exit_code == 1 and "role" in refused.stderr


def test_base_version_is_the_one_in_force_when_observed(cli, session, line, tmp_path):
    """A change registered after the survey shows up as a conflict, not as an overwrite."""
    _, markers = line
    path = write(tmp_path, markers, "gpkg")
    change_marker(session, markers[1].id, {"status": "丢失"}, source="manual", actor="office")
    receipt = json.loads(cli(path, "--as", "surveyor-file", "--json").stdout)
    assert [r["outcome"] for r in receipt["records"]] == ["accepted", "flagged", "accepted"]
    assert receipt["records"][1]["conflict"]["kind"] == "hard"


def test_gcj02_datum_and_projected_files_are_converted(cli, session, line, tmp_path):
    _, markers = line
    gx, gy = wgs84_to_gcj02([m.lon for m in markers], [m.lat for m in markers])
    shifted = frame(markers).set_geometry([Point(x, y) for x, y in zip(gx, gy, strict=True)])
    path = tmp_path / "amap.geojson"
    pyogrio.write_dataframe(shifted, path, driver="GeoJSON")
    receipt = json.loads(cli(path, "--as", "surveyor-file", "--datum", "GCJ02", "--json").stdout)
    assert [r["outcome"] for r in receipt["records"]] == ["accepted"] * 3
    assert max(r["displacement_m"] for r in receipt["records"][:2]) < 0.01   # the third is 丢失: not measured

    projected = tmp_path / "gk.gpkg"
    pyogrio.write_dataframe(frame(markers).to_crs(4549), projected)   # CGCS2000 / 3-degree GK CM 120E
    receipt = json.loads(cli(projected, "--as", "surveyor-file", "--json").stdout)
    assert [r["outcome"] for r in receipt["records"]] == ["accepted"] * 3
    assert max(r["displacement_m"] for r in receipt["records"][:2]) < 0.01   # the third is 丢失: not measured


def test_observations_from_a_line_layer(session, line, tmp_path, settings):
    line_id, markers = line
    sections = gpd.GeoDataFrame({"notes": ["界线清晰"], "time": [TIMES[0]], "accuracy": [0.5]},
                                geometry=[LineString([(m.lon, m.lat) for m in markers])], crs=4490)
    path = tmp_path / "sections.gpkg"
    pyogrio.write_dataframe(sections, path)
    imported = survey_import.import_file(session, settings, path, actor="surveyor-file", role="surveyor",
                                         line_id=line_id)
    record = imported.result.receipt["records"][0]
    assert (record["kind"], record["outcome"], record["line_id"]) == ("line_observation", "accepted", line_id)
    stored = session.execute(text("SELECT GeometryType(geom) FROM survey_records WHERE uuid = :u"),
                             {"u": record["uuid"]}).scalar_one()
    assert stored == "LINESTRING"


def test_unreadable_rows_name_the_row(session, line, tmp_path, settings):
    path = tmp_path / "bad.csv"
    path.write_text("经度,纬度,界桩编号,状态,观测时间\n120.16,30.26,T001001Q,完好,2026-11-20 09:30\n"
                    "东经120度,30.26,T001002Q,完好,2026-11-20 09:40\n", encoding="utf-8")
    with pytest.raises(InvalidInput, match="row 2"):
        survey_import.import_file(session, settings, path, actor="surveyor-file", role="surveyor")
    path.write_text("经度,纬度,界桩编号,状态,观测时间\n120.16,30.26,T001001Q,裂开,2026-11-20 09:30\n", encoding="utf-8")
    with pytest.raises(InvalidInput) as raised:
        survey_import.import_file(session, settings, path, actor="surveyor-file", role="surveyor")
    assert raised.value.errors[0]["field"] == "row 1.status"
    untimed = tmp_path / "untimed.csv"
    untimed.write_text("lon,lat,marker,status\n120.16,30.26,T001001Q,完好\n", encoding="utf-8")
    with pytest.raises(InvalidInput, match="capture time"):
        survey_import.import_file(session, settings, untimed, actor="surveyor-file", role="surveyor")
    with pytest.raises(InvalidInput, match="survey files are"):
        survey_import.import_file(session, settings, tmp_path / "notes.txt", actor="surveyor-file",
                                  role="surveyor")
    assert uploads_by(session, "surveyor-file") == (0, 0)


def test_cli_option_errors_and_purge(cli, session, line, tmp_path):
    _, markers = line
    path = write(tmp_path, markers, "csv")
    bad_time = cli(path, "--as", "surveyor-file", "--captured-at", "yesterday")
    assert bad_time.exit_code == 1 and "ISO date" in bad_time.stderr
    session.execute(text("INSERT INTO attachment_uploads (sha256, total_size, media_type, started_by, expires_at) "
                         "VALUES (repeat('ab', 32), 10, 'image/jpeg', 'x', now() - interval '1 hour')"))
    purged = CliRunner().invoke(app, ["surveys", "purge-uploads"])
    assert purged.exit_code == 0 and "purged 1 expired" in purged.stderr
    assert count(session, "attachment_uploads", sha256="ab" * 32) == 0
