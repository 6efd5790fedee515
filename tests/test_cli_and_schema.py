"""The command line and the schema as the migrations built it."""

from sqlalchemy import inspect
from typer.testing import CliRunner

from api.cli import app
from data import migrate
from data.models import Base

runner = CliRunner()


def test_cli_locate():
    result = runner.invoke(app, ["locate", "120.09", "30.87"])
    assert result.exit_code == 0, result.output
    assert "330502\tcounty\t市辖区\t吴兴区" in result.output


def test_cli_db_status_and_url(settings):
    if settings.embedded:
        status = runner.invoke(app, ["db", "status"])
        assert status.exit_code == 0 and "running: True" in status.output
    url = runner.invoke(app, ["db", "url"])
    assert url.exit_code == 0 and url.output.startswith("postgresql+psycopg://")


def test_cli_rejects_unknown_role_without_writing():
    result = runner.invoke(app, ["users", "add", "cli-user", "--role", "emperor",
                                 "--password", "long enough"])
    assert result.exit_code != 0


def test_schema_is_at_head_and_matches_models(engine):
    assert migrate.current_revision(engine) == migrate.head_revision()
    inspector = inspect(engine)
    for table in Base.metadata.sorted_tables:
        db_columns = {c["name"] for c in inspector.get_columns(table.name)}
        assert {c.name for c in table.columns} == db_columns, table.name
