"""The embedded cluster: idempotent start, stale pid files, clean stop, on a throw-away cluster."""

import os
import subprocess
import tempfile
from pathlib import Path

import psycopg
import pytest

from api.background import free_port
from data.embedded import EmbeddedCluster
from data.settings import Settings


@pytest.fixture
def cluster():
    home = Path(tempfile.mkdtemp(prefix="gazetteer-test-", dir="/var/tmp"))
    home.chmod(0o755)  # the postgres system user must reach it when we run as root
    c = EmbeddedCluster(Settings(home=home, pg_port=free_port()))
    yield c
    c.stop()
    subprocess.run(["rm", "-rf", str(home)], check=False)


def test_lifecycle(cluster):
    assert not cluster.status().initialised and not cluster.status().running
    assert cluster.start() is True
    status = cluster.status()
    assert status.running and status.pid
    assert cluster.start() is False  # starting twice is fine
    url = cluster.url().replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(url) as conn:
        names = {r[0] for r in conn.execute("SELECT extname FROM pg_extension")}
        assert {"postgis", "pg_trgm", "btree_gist"} <= names
        assert conn.execute("SHOW server_encoding").fetchone()[0] == "UTF8"
        assert conn.execute("SHOW listen_addresses").fetchone()[0] == "127.0.0.1"
    assert (cluster.password_file.stat().st_mode & 0o777) == 0o600
    assert cluster.stop() is True
    assert not cluster.status().running
    assert cluster.stop() is False


def test_stale_pid_file_after_a_crash_is_handled(cluster):
    cluster.start()
    pid = cluster.status().pid
    os.kill(pid, 9)  # simulate a crash: the postmaster dies, postmaster.pid stays
    for _ in range(100):
        if not Path(f"/proc/{pid}").exists():
            break
        subprocess.run(["sleep", "0.1"], check=True)
    pidfile = cluster.data_dir / "postmaster.pid"
    if pidfile.exists():
        lines = pidfile.read_text().splitlines()
        lines[0] = "999999"  # a pid that is not a postgres process
        pidfile.write_text("\n".join(lines) + "\n")
    assert not cluster.status().running
    assert cluster.start() is True
    assert cluster.status().running
