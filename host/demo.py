"""The main job, for now: the media demo on the virtual board.

Speaks a sentence with espeak-ng into the virtual board's microphone, streams
it through a gateway on loopback under CPython (Opus) and MicroPython (L16),
and reports counters, time alignment and wideband PESQ for each.
"""
import asyncio
import tempfile
from pathlib import Path

from host.loopback import stream_through_gateway
from host.quality import compare
from host.speech import synthesise

DEMO_TEXT = "Hello pipit. What time is it in Lisbon, and will it rain tomorrow?"


def _report_lines(runtime, result, quality):
    counters = result.session_counters
    device = result.device_stats
    lines = [
        "%s device, codec %s:" % (runtime, result.session.codec),
        "  sent      %4d packets, %d RTCP sender reports" % (device["packets_sent"], device["rtcp_sent"]),
        "  gateway   %4d received, %d lost, %d late, %d duplicate, %d concealed, %d auth failures"
        % (counters["received"], counters["lost"], counters["late"], counters["duplicate"],
           counters["concealed"], counters["auth_failed"]),
        "  RTCP      gateway sent %d receiver reports; device heard %d (loss %.1f %%, jitter %.2f ms)"
        % (counters["rtcp_sent"], device["rtcp_received"], 100 * device["fraction_lost"],
           device["jitter_ms"]),
        "  recorded  %s (%.0f ms of %.0f ms spoken, lag %.1f ms)"
        % (result.recorded_path, quality["recorded_ms"], quality["reference_ms"], quality["lag_ms"]),
        "  quality   PESQ wideband MOS-LQO %.2f" % quality["pesq_wb"],
    ]
    return lines


async def run_demo(work_dir, text=DEMO_TEXT, runtimes=("cpython", "micropython")):
    """Run the media demo; return {runtime: (LoopbackResult, quality dict)}."""
    work_dir = Path(work_dir)
    work_dir.mkdir(parents=True, exist_ok=True)
    spoken = synthesise(text, work_dir / "spoken.wav", lead_silence_ms=200, tail_silence_ms=200)
    results = {}
    for runtime in runtimes:
        result = await stream_through_gateway(spoken, work_dir, runtime=runtime)
        results[runtime] = (result, compare(spoken, result.recorded_path))
    return results


def main(work_dir=None, text=DEMO_TEXT):
    """CLI entry: run the demo and print what happened."""
    work_dir = Path(work_dir or tempfile.mkdtemp(prefix="pipit-demo-"))
    print("pipit media demo: the virtual board speaks %r" % text)
    print("into its microphone and streams it over SRTP to a gateway on 127.0.0.1.\n")
    results = asyncio.run(run_demo(work_dir, text))
    for runtime, (result, quality) in results.items():
        print("\n".join(_report_lines(runtime, result, quality)))
        print()
    print("files are in %s (spoken.wav is what the microphone heard)" % work_dir)
    return 0
