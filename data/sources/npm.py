"""Fetch a package from the npm registry with `npm pack` and unpack it into a cache folder."""

from __future__ import annotations

import shutil
import subprocess
import tarfile
from pathlib import Path


class NpmUnavailable(RuntimeError):
    """npm is missing or the registry could not be reached."""


def npm_package(name: str, version: str, cache_dir: Path) -> Path:
    """Return the unpacked `package/` folder of NAME@VERSION, fetching it once."""
    target = cache_dir / "npm" / f"{name.replace('/', '+')}-{version}"
    package = target / "package"
    if (target / ".complete").exists():
        return package
    npm = shutil.which("npm")
    if npm is None:
        raise NpmUnavailable("npm is not installed; run: apt-get install -y npm")
    target.mkdir(parents=True, exist_ok=True)
    result = subprocess.run(
        [npm, "pack", f"{name}@{version}", "--silent", "--pack-destination", str(target)],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise NpmUnavailable(f"npm pack {name}@{version} failed: {result.stderr.strip()[-500:]}")
    tarball = target / result.stdout.strip().splitlines()[-1]
    with tarfile.open(tarball) as tar:
        tar.extractall(target, filter="data")
    tarball.unlink()
    (target / ".complete").touch()
    return package
