"""The ESP32 HAL type-checks against MicroPython's ESP32 stubs (ARCHITECTURE.md).

mpy-cross checks syntax only; a wrong machine.I2S keyword or method would
only show on a board. ./run installs mypy and micropython-esp32-stubs into
.venv-stubs (apart from the project's venv: the stubs shadow stdlib names);
tools/mypy-esp32.ini points mypy at them. Every device/ file that imports
machine or network is checked, and a call the stubs refuse must be refused.
"""
import re
import subprocess

import pytest

from host.runtimes import REPO_ROOT

MYPY = REPO_ROOT / ".venv-stubs" / "bin" / "mypy"
CONFIG = REPO_ROOT / "tools" / "mypy-esp32.ini"
_HARDWARE_IMPORT = re.compile(r"^\s*(import|from)\s+(machine|network)\b", re.MULTILINE)


def hardware_modules():
    return sorted(str(path.relative_to(REPO_ROOT)) for path in (REPO_ROOT / "device").rglob("*.py")
                  if _HARDWARE_IMPORT.search(path.read_text()))


def mypy(*paths):
    assert MYPY.exists(), "mypy for the ESP32 stubs is missing: run ./run setup"
    return subprocess.run([str(MYPY), "--config-file", str(CONFIG), *map(str, paths)],
                          cwd=str(REPO_ROOT), capture_output=True, text=True, timeout=120)


def test_the_hal_files_are_found():
    assert {"device/hal/esp32.py", "device/hal/gpio.py", "device/hal/wifi.py"} <= set(hardware_modules())


def test_every_hardware_module_type_checks_against_the_esp32_stubs():
    done = mypy(*hardware_modules())
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize("line, complaint", [
    ("I2S(0, sck=Pin(4), ws=Pin(5), sd=Pin(6), mode=I2S.RX, bits=32, format=I2S.MONO, rate=16000, "
     "ibufx=1280)", 'Unexpected keyword argument "ibufx"'),
    ("I2S(0, sck=Pin(4), ws=Pin(5), sd=Pin(6), mode=I2S.RX, bits=32, format=I2S.MONO, rate=16000, "
     "ibuf=1280).readintoo(bytearray(4))", 'has no attribute "readintoo"'),
    ("Pin(4, Pin.IN, Pin.PULL_UPP)", 'has no attribute "PULL_UPP"'),
])
def test_a_wrong_machine_call_is_refused(tmp_path, line, complaint):
    wrong = tmp_path / "wrong_hal.py"
    wrong.write_text("from machine import I2S, Pin\n%s\n" % line)
    done = mypy(wrong)
    assert done.returncode == 1 and complaint in done.stdout, done.stdout
