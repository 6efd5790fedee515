"""The embedded PostgreSQL 15 + PostGIS cluster that the project runs itself in `.gazetteer/pg/`.

Layout: `pg/data` is PGDATA, `pg/server.log` the server log, `pg/` also holds the Unix socket;
the superuser `gazetteer` has a random password kept in `.gazetteer/pg-password` (mode 600).
PostgreSQL refuses to run as root, so when we are root every server command runs as the
`postgres` system user, which then owns `pg/`.
"""

from __future__ import annotations

import os
import pwd
import secrets
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import psycopg

from data.settings import Settings

PG_MAJOR = "15"
POSTGIS_PACKAGE = f"postgresql-{PG_MAJOR}-postgis-3"
PGROUTING_PACKAGE = f"postgresql-{PG_MAJOR}-pgrouting"   # optional: walking-network coverage (facilities)
DATABASE = "gazetteer"
SUPERUSER = "gazetteer"
EXTENSIONS = ("postgis", "pg_trgm", "btree_gist")
OPTIONAL_EXTENSIONS = ("pgrouting",)  # created when the server has their files; features needing them say so
PGROUTING_MISSING = (f"pgRouting is not installed, so walking-network coverage is off. To enable it run once: "
                     f"sudo apt-get install -y {PGROUTING_PACKAGE}, then `gazetteer setup`")
_SOCKET_PATH_MAX = 100  # sun_path holds 107 bytes; keep room for ".s.PGSQL.NNNNN"
_TUNING = {
    "shared_buffers": "512MB",
    "work_mem": "32MB",
    "maintenance_work_mem": "512MB",
    "max_wal_size": "4GB",
    "checkpoint_timeout": "15min",
    "random_page_cost": "1.1",
}


class ClusterError(RuntimeError):
    """The embedded cluster cannot be set up or started; the message says what to do."""


@dataclass(frozen=True)
class ClusterStatus:
    """What `gazetteer db status` reports."""

    initialised: bool
    running: bool
    pid: int | None
    data_dir: Path
    port: int


def _is_root() -> bool:
    return os.geteuid() == 0


class EmbeddedCluster:
    """Create, start, stop and describe the project's own PostgreSQL cluster."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.root = settings.home / "pg"
        self.data_dir = self.root / "data"
        self.log_file = self.root / "server.log"
        self.password_file = settings.home / "pg-password"
        self.port = settings.pg_port
        self.routing_message: str | None = None  # set by start(): why pgRouting is missing, if it is

    # -- binaries and packages -------------------------------------------------------------

    def bin(self, name: str) -> str:
        """Path of a PostgreSQL server program (initdb, pg_ctl, postgres)."""
        candidates = [self.settings.pg_bin, Path(f"/usr/lib/postgresql/{PG_MAJOR}/bin")]
        for folder in candidates:
            if folder and (folder / name).exists():
                return str(folder / name)
        found = shutil.which(name)
        if found:
            return found
        raise ClusterError(
            f"PostgreSQL {PG_MAJOR} server program '{name}' not found; "
            f"install it with: apt-get install -y postgresql-{PG_MAJOR}"
        )

    def postgis_installed(self) -> bool:
        """True when the PostGIS extension files are present for this server."""
        return self._extension_installed("postgis")

    def _extension_installed(self, name: str) -> bool:
        sharedir = subprocess.run(
            [self.bin("pg_config"), "--sharedir"], capture_output=True, text=True, check=False
        ).stdout.strip()
        return Path(sharedir or f"/usr/share/postgresql/{PG_MAJOR}", "extension", f"{name}.control").exists()

    def pgrouting_installed(self) -> bool:
        """True when the pgRouting extension files are present for this server."""
        return self._extension_installed("pgrouting")

    def ensure_postgis(self) -> None:
        """Install PostGIS from Debian when missing and we are root; otherwise say how."""
        if self.postgis_installed():
            return
        if not _is_root():
            raise ClusterError(
                f"PostGIS is not installed. Run once: sudo apt-get install -y {POSTGIS_PACKAGE}"
            )
        self._apt_install(POSTGIS_PACKAGE)

    def ensure_pgrouting(self) -> str | None:
        """Install pgRouting from Debian when missing and we are root; None when present, else what to do.

        Optional: without it everything but walking-network coverage works, so a failure is a message.
        """
        if self.pgrouting_installed():
            return None
        if not _is_root():
            return PGROUTING_MISSING
        try:
            self._apt_install(PGROUTING_PACKAGE)
        except ClusterError as exc:
            return f"{exc}; {PGROUTING_MISSING}"
        return None if self.pgrouting_installed() else PGROUTING_MISSING

    def _apt_install(self, package: str) -> None:
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        install = ["apt-get", "install", "-y", "-qq", package]
        for cmd in (["apt-get", "update", "-qq"], install):
            if subprocess.run(cmd, env=env, check=False).returncode != 0:
                raise ClusterError(f"'{' '.join(cmd)}' failed; install {package} by hand")

    # -- running commands as the right user ----------------------------------------------------

    def _run(self, args: list[str], *, check: bool = True) -> subprocess.CompletedProcess:
        if _is_root():
            args = ["runuser", "-u", "postgres", "--", *args]
        result = subprocess.run(args, capture_output=True, text=True, check=False)
        if check and result.returncode != 0:
            raise ClusterError(
                f"{' '.join(args)} failed ({result.returncode}):\n{result.stderr.strip()}"
                f"\nSee {self.log_file}"
            )
        return result

    def _give_to_server_user(self, path: Path) -> None:
        if not _is_root():
            return
        user = pwd.getpwnam("postgres")
        for item in [path, *path.rglob("*")]:
            os.chown(item, user.pw_uid, user.pw_gid)
        self._check_reachable(path)

    def _check_reachable(self, path: Path) -> None:
        probe = subprocess.run(
            ["runuser", "-u", "postgres", "--", "test", "-w", str(path)], check=False
        )
        if probe.returncode != 0:
            raise ClusterError(
                f"The postgres system user cannot reach {path} (a parent folder is private). "
                "Set GAZETTEER_HOME to a folder it can reach, e.g. /var/tmp/gazetteer."
            )

    # -- lifecycle ---------------------------------------------------------------------------

    def password(self) -> str:
        """The superuser password, created on first use."""
        if not self.password_file.exists():
            self.password_file.parent.mkdir(parents=True, exist_ok=True)
            self.password_file.write_text(secrets.token_urlsafe(24))
            self.password_file.chmod(0o600)
        return self.password_file.read_text().strip()

    def initialised(self) -> bool:
        """True when initdb has run."""
        return (self.data_dir / "PG_VERSION").exists()

    def init(self) -> bool:
        """Run initdb once; returns True when it created the cluster."""
        if self.initialised():
            return False
        self.ensure_postgis()
        self.root.mkdir(parents=True, exist_ok=True)
        pwfile = self.root / "initdb-password"
        pwfile.write_text(self.password())
        self._give_to_server_user(self.root)
        try:
            self._run([
                self.bin("initdb"), "-D", str(self.data_dir), "-U", SUPERUSER,
                "--auth=scram-sha-256", f"--pwfile={pwfile}", "-E", "UTF8",
                "--locale=C.UTF-8", "--no-instructions",
            ])
        finally:
            pwfile.unlink(missing_ok=True)
        self._write_config()
        return True

    def _socket_dir(self) -> str:
        socket = self.root / f".s.PGSQL.{self.port}"
        return str(self.root) if len(str(socket)) <= _SOCKET_PATH_MAX else ""

    def _write_config(self) -> None:
        lines = [
            "# written by gazetteer (data/embedded.py)",
            "listen_addresses = '127.0.0.1'",
            f"port = {self.port}",
            f"unix_socket_directories = '{self._socket_dir()}'",
            *(f"{key} = '{value}'" for key, value in _TUNING.items()),
        ]
        conf = self.data_dir / "postgresql.auto.conf"
        text = conf.read_text() if conf.exists() else ""
        conf.write_text(text + "\n".join(lines) + "\n")

    def _pid(self) -> int | None:
        pidfile = self.data_dir / "postmaster.pid"
        try:
            return int(pidfile.read_text().splitlines()[0])
        except (FileNotFoundError, ValueError, IndexError):
            return None

    def _process_is_postgres(self, pid: int) -> bool:
        try:
            return b"postgres" in Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            return False

    def status(self) -> ClusterStatus:
        """Whether the cluster exists and runs, with its pid."""
        pid = self._pid()
        running = bool(pid and self._process_is_postgres(pid) and self._accepting())
        return ClusterStatus(self.initialised(), running, pid if running else None,
                             self.data_dir, self.port)

    def _accepting(self) -> bool:
        probe = subprocess.run(
            [self.bin("pg_isready"), "-h", "127.0.0.1", "-p", str(self.port), "-q"],
            check=False,
        )
        return probe.returncode == 0

    def _clear_stale_pid(self) -> None:
        pid = self._pid()
        if pid is not None and not self._process_is_postgres(pid):
            (self.data_dir / "postmaster.pid").unlink(missing_ok=True)

    def start(self) -> bool:
        """Start the server (initdb first if needed); returns False when it already ran."""
        self.init()
        self.routing_message = self.ensure_pgrouting()
        if self.status().running:
            self.ensure_database()
            return False
        self._clear_stale_pid()
        self._port_free_or_fail()
        self._run([self.bin("pg_ctl"), "start", "-D", str(self.data_dir), "-l",
                   str(self.log_file), "-w", "-t", "120", "-s"])
        self._wait_ready()
        self.ensure_database()
        return True

    def _port_free_or_fail(self) -> None:
        if self._accepting():
            raise ClusterError(
                f"Port {self.port} on 127.0.0.1 is taken by another server; "
                "set GAZETTEER_PG_PORT to a free port."
            )

    def _wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while not self._accepting():
            if time.monotonic() > deadline:
                raise ClusterError(f"PostgreSQL did not accept connections; see {self.log_file}")
            time.sleep(0.2)

    def stop(self) -> bool:
        """Shut the server down cleanly; returns False when it was not running."""
        if not self.status().running:
            if self.initialised():
                self._clear_stale_pid()
            return False
        self._run([self.bin("pg_ctl"), "stop", "-D", str(self.data_dir), "-m", "fast", "-w", "-s"])
        return True

    # -- database ----------------------------------------------------------------------------

    def url(self, database: str = DATABASE) -> str:
        """SQLAlchemy URL of the embedded database."""
        return (f"postgresql+psycopg://{SUPERUSER}:{quote(self.password(), safe='')}"
                f"@127.0.0.1:{self.port}/{database}")

    def _connect(self, database: str) -> psycopg.Connection:
        return psycopg.connect(
            host="127.0.0.1", port=self.port, user=SUPERUSER, password=self.password(),
            dbname=database, autocommit=True,
        )

    def ensure_database(self) -> None:
        """Create the database and its extensions when missing."""
        with self._connect("postgres") as conn:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DATABASE,))
            if exists.fetchone() is None:
                conn.execute(f'CREATE DATABASE "{DATABASE}" ENCODING \'UTF8\' TEMPLATE template0')
        ensure_extensions(self.url())


def ensure_extensions(sqlalchemy_url: str) -> list[str]:
    """Create postgis, pg_trgm and btree_gist in the database when missing, and pgrouting when the server
    has its files; returns the optional extensions it could not create."""
    conninfo = sqlalchemy_url.replace("postgresql+psycopg://", "postgresql://", 1)
    missing = []
    with psycopg.connect(conninfo, autocommit=True) as conn:
        for name in EXTENSIONS:
            conn.execute(f"CREATE EXTENSION IF NOT EXISTS {name}")
        for name in OPTIONAL_EXTENSIONS:
            available = conn.execute("SELECT 1 FROM pg_available_extensions WHERE name = %s", (name,)).fetchone()
            if available:
                conn.execute(f"CREATE EXTENSION IF NOT EXISTS {name}")
            else:
                missing.append(name)
    return missing
