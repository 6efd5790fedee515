"""Debian packages the project needs on the machine: install them when we are root."""

from __future__ import annotations

import os
import shutil
import subprocess

_updated = False


class MissingSystemPackage(RuntimeError):
    """A Debian package is missing and we cannot install it (not root)."""


def ensure_debian_package(package: str, command: str) -> str:
    """Return the path of COMMAND, installing PACKAGE with apt-get first when missing."""
    found = shutil.which(command)
    if found:
        return found
    if os.geteuid() != 0:
        raise MissingSystemPackage(f"'{command}' is missing; run once: sudo apt-get install -y {package}")
    _apt("install", "-y", "-qq", package)
    found = shutil.which(command)
    if not found:
        raise MissingSystemPackage(f"installing {package} did not provide '{command}'")
    return found


def _apt(*args: str) -> None:
    global _updated
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    if not _updated:
        subprocess.run(["apt-get", "update", "-qq"], env=env, check=True)
        _updated = True
    subprocess.run(["apt-get", *args], env=env, check=True)


if __name__ == "__main__":
    import sys

    for spec in sys.argv[1:]:
        pkg, _, cmd = spec.partition(":")
        print(ensure_debian_package(pkg, cmd or pkg))
