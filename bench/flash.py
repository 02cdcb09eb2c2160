"""Flashing and provisioning one board on the virtual board, step by step.

Everything real on this machine: a pipit broker (mosquitto, TLS, dynsec) in
a temporary state dir, the virtual board (tools/virtual_board.py) on a pty,
esptool 5 writing and verifying a MicroPython-sized image (1.6 MB, about as
compressible as a real build) through the ROM loader without its stub,
mpremote installing the app, and the device runtime booting under the
MicroPython unix port until its hello. Each step's time is what
`pipit flash` itself reports (host/flash/progress.Reporter).

    python -m bench.flash [--runs 3] [--firmware-kb 1600]

Results: bench/results/flash.json and flash.md. A real board differs: its
UART has a line rate (at 460800 baud about 46 KB/s, so a 1.6 MB image needs
tens of seconds on the wire; arithmetic, not measured here), where the pty
has none; the figures here are the software's own cost.
"""
import argparse
import asyncio
import io
import statistics
import tempfile
import time
from pathlib import Path

from bench._report import machine, markdown_table, source_state, write_results
from host.fleet import broker as pipit_broker
from host.fleet import broker_process
from host.flash import pipeline
from host.flash.progress import Reporter
from host.flash.settings import FlashSettings
from tests.host.fleet.conftest import free_tcp_port
from tools.board_process import BoardProcess
from tools.test_firmware import make_firmware

STEPS = ("write firmware", "enrol device", "build app", "install app", "reset board", "wait for hello")


def one_run(work, firmware, run):
    """Flash one fresh virtual board; {step: seconds} plus the total."""
    with BoardProcess(work / ("board-%d" % run), download=True) as board:
        settings = FlashSettings("virtual-esp32s3", board.port, firmware, no_stub=True, reset="manual",
                                 device_id="bench-%d" % run, state_dir=work, hello_timeout_s=60)
        started = time.monotonic()
        result = asyncio.run(pipeline.flash(settings, Reporter(io.StringIO())))
        total = time.monotonic() - started
    steps = {step: result.durations_s[step] for step in STEPS}
    steps["total"] = total
    return steps


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--firmware-kb", type=int, default=1600)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="pipit-bench-flash-") as tmp:
        work = Path(tmp)
        pipit_broker.ensure_broker(work / "broker", port=free_tcp_port())
        try:
            firmware = work / "firmware.bin"
            make_firmware(firmware, "esp32s3", size_bytes=args.firmware_kb * 1024)
            runs = [one_run(work, firmware, run) for run in range(args.runs)]
        finally:
            broker_process.stop_broker(work / "broker")
    median = {key: statistics.median(run[key] for run in runs) for key in runs[0]}
    data = {"machine": machine(), "source": source_state(("device", "host", "tools")),
            "firmware_bytes": args.firmware_kb * 1024, "runs": runs, "median_s": median}
    rows = [(step, "%.2f" % median[step], " / ".join("%.2f" % run[step] for run in runs))
            for step in STEPS + ("total",)]
    markdown = "\n".join([
        "# Flash and provision one board (virtual board)", "",
        "`python -m bench.flash`: esptool 5 (ROM loader, no stub) writes and verifies a %d KB image, "
        "mpremote installs the app, the board boots MicroPython and says hello over TLS. "
        "%d runs, a fresh board each." % (args.firmware_kb, args.runs), "",
        markdown_table(("step", "median s", "each run s"), rows), "",
        "Machine: %s." % data["machine"].get("cpu_model", "?")])
    write_results("flash", data, markdown)
    print(markdown)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
