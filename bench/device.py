"""Device cost per packet: packetize + SRTP protect (and encode) of a 20 ms frame.

Runs bench/_device_loop.py, the same file, under the MicroPython unix port
(host.runtimes.micropython_binary, MICROPYPATH from device_env) and under
CPython, pinned to one CPU, and tabulates microseconds per packet and the
share of the 20 ms frame budget. The unix port on this x86 core is far faster
than an ESP32-S3 at 240 MHz: its figures rank the costs, they do not predict
the board (docs/benchmarks.md says how to run the same file on a board).

    python -m bench.device [--iterations 2000] [--repeats 7]

Results: bench/results/device.json and device.md.
"""
import argparse
import json
import os
import subprocess
import sys
import time

from bench._cpuload import wait_for_quiet
from bench._report import machine, markdown_table, source_state, write_results
from host.runtimes import REPO_ROOT, device_command, device_env

FRAME_BUDGET_US = 20000.0
_TIMEOUT_S = 300

# (key in the loop's results, what it is); the table's rows in order.
ROWS = [
    ("l16_packetize", "L16 640 B: packetize (write_header + payload copy)"),
    ("l16_protect", "L16 640 B: SrtpContext.protect"),
    ("l16_packetize_protect", "L16 640 B: packetize + protect"),
    ("l16_encode", "L16 encode (byte swap) alone"),
    ("l16_encode_packetize_protect", "L16: encode + packetize + protect (Uplink._send_frame)"),
    ("opus_packetize", "Opus 60 B: packetize"),
    ("opus_protect", "Opus 60 B: SrtpContext.protect"),
    ("opus_packetize_protect", "Opus 60 B: packetize + protect"),
    ("opus_encode", "Opus encode alone (24 kbit/s, complexity 5)"),
    ("opus_encode_packetize_protect", "Opus: encode + packetize + protect (Uplink._send_frame)"),
    ("sr_build", "RTCP sender report: build (to_bytes)"),
    ("sr_protect_rtcp", "RTCP sender report: SrtpContext.protect_rtcp"),
    ("sr_build_protect_rtcp", "RTCP sender report: build + protect_rtcp"),
]


def _pinned_to_one_cpu():
    if not hasattr(os, "sched_getaffinity"):
        return None
    cpu = max(os.sched_getaffinity(0))
    return lambda: os.sched_setaffinity(0, {cpu})


def run_runtime(runtime, iterations, repeats):
    """Run the timing loop under one runtime; return its parsed JSON."""
    completed = subprocess.run(
        device_command(runtime, "bench._device_loop", (iterations, repeats)),
        env=device_env(runtime), cwd=str(REPO_ROOT), capture_output=True, text=True,
        timeout=_TIMEOUT_S, preexec_fn=_pinned_to_one_cpu())
    if completed.returncode != 0:
        raise RuntimeError("bench: %s exited %d:\n%s" % (runtime, completed.returncode, completed.stderr))
    return json.loads(completed.stdout.strip().splitlines()[-1])


def _cells(value):
    if value is None:
        return [None, None]
    return [round(value, 2), round(100.0 * value / FRAME_BUDGET_US, 3)]


def render(data):
    """The human-readable device.md."""
    results = data["runtimes"]
    micro, cpython = results["micropython"], results["cpython"]
    rows = [[label] + _cells(micro["us"].get(key)) + _cells(cpython["us"].get(key))
            for key, label in ROWS]
    heap = [[label, micro["heap_bytes_per_call"].get(key)] for key, label in ROWS
            if micro["heap_bytes_per_call"].get(key) is not None]
    info = data["machine"]
    return "\n".join([
        "# Device cost per packet", "",
        "Measured %s on %s, one CPU; %s (unix port), CPython %s. Median of %d runs "
        "of %d packets each. Source: commit %s. A dash: the runtime has no such codec (the unix "
        "port has no Opus; the board firmware has a native module)." % (
            info["date_utc"], info["cpu_model"], micro["version"].split(";")[-1].strip(),
            cpython["version"].split()[0], data["repeats"], data["iterations"], data["source"]["commit"]),
        "", markdown_table(["per 20 ms frame", "MicroPython us", "% of 20 ms", "CPython us", "% of 20 ms"], rows),
        "", "Heap allocated per call on MicroPython (GC off while counting):", "",
        markdown_table(["path", "bytes"], heap), ""])


def main(argv=None):
    """Run under both runtimes; write results/device.{json,md}."""
    parser = argparse.ArgumentParser(prog="python -m bench.device", description=__doc__.split("\n")[0])
    parser.add_argument("--iterations", type=int, default=2000, help="packets per timed run")
    parser.add_argument("--repeats", type=int, default=7, help="timed runs; the median is kept")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    if not 10 <= args.iterations <= 100000 or not 1 <= args.repeats <= 50:
        parser.error("--iterations 10..100000, --repeats 1..50")
    started = time.monotonic()
    quiet = wait_for_quiet()
    data = {"benchmark": "device", "machine": machine(), "source": source_state(("device/rtp.py", "device/rtcp.py", "device/srtp.py",
                                                             "device/rtcp_report_block.py", "device/rtcp_time.py",
                                                             "device/crypto.py", "device/codec.py")),
            "iterations": args.iterations, "repeats": args.repeats, "frame_budget_us": FRAME_BUDGET_US,
            "quiet_wait": {"waited_s": quiet[0], "busy_fraction": quiet[1]},
            "runtimes": {runtime: run_runtime(runtime, args.iterations, args.repeats)
                         for runtime in ("micropython", "cpython")}}
    data["wall_s"] = round(time.monotonic() - started, 1)
    paths = write_results("device", data, render(data))
    micro, cpython = data["runtimes"]["micropython"]["us"], data["runtimes"]["cpython"]["us"]
    print("device bench: Opus packet %.1f us (MicroPython) / %.1f us (CPython), L16 %.1f / %.1f us; "
          "wrote %s and %s" % (micro["opus_packetize_protect"], cpython["opus_packetize_protect"],
                               micro["l16_packetize_protect"], cpython["l16_packetize_protect"], *paths))


if __name__ == "__main__":
    main()
