"""A device and a gateway on loopback: the media path end to end.

The device runtime runs as its own process (CPython or MicroPython), the way
a board would; the gateway runs in this process. Used by the demo, the
end-to-end tests and the benchmarks.
"""
import asyncio
import os
import json
import time
from pathlib import Path

from device import session as media_session
from host.gateway.server import Gateway, GatewaySettings
from host.gateway.wav_sink import WavSink
from host.runtimes import device_command, device_env, REPO_ROOT
from host.sessions import new_session

DEFAULT_CODEC = {"cpython": "opus", "micropython": "l16"}


class LoopbackResult:
    """What one streamed file produced at both ends."""

    def __init__(self, session, recorded_path, device_stats, gateway_stats):
        self.session = session
        self.recorded_path = recorded_path
        self.device_stats = device_stats
        self.gateway_stats = gateway_stats

    @property
    def session_counters(self):
        """The gateway's counters for this session."""
        return self.gateway_stats["sessions"][self.session.uplink_ssrc]["counters"]


async def run_device_module(runtime, module, argv, timeout_s, what="device", cpus=None):
    """Run a device/ module as a child process; return the JSON stats of its last line.

    cpus: CPU numbers to pin the process to (benchmarks), None for no pinning.
    """
    pin = None if cpus is None else (lambda: os.sched_setaffinity(0, set(cpus)))
    process = await asyncio.create_subprocess_exec(
        *device_command(runtime, module, argv), env=device_env(runtime), cwd=str(REPO_ROOT),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, preexec_fn=pin)
    try:
        out, err = await asyncio.wait_for(process.communicate(), timeout_s)
    except asyncio.TimeoutError:
        process.kill()
        await process.wait()
        raise RuntimeError("%s (%s) did not finish within %.0f s" % (what, runtime, timeout_s))
    if process.returncode != 0:
        raise RuntimeError("%s (%s) exited %d:\n%s" % (what, runtime, process.returncode,
                                                      err.decode(errors="replace")[-3000:]))
    return json.loads(out.decode().strip().splitlines()[-1])


async def run_device_stream(runtime, session_path, wav_path, timeout_s):
    """Run device.devstream as a child process; return the stats it prints."""
    return await run_device_module(runtime, "device.devstream", [session_path, wav_path], timeout_s)


async def _wait_for_packets(gateway, ssrc, expected, timeout_s):
    """Wait until the gateway has taken in `expected` packets (or time is up)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        counters = gateway.session(ssrc).counters
        taken = (counters.received + counters.rtcp_received + counters.duplicate
                 + counters.auth_failed + counters.replayed + counters.malformed)
        if taken >= expected:
            return
        await asyncio.sleep(0.01)


async def stream_through_gateway(wav_path, work_dir, runtime="cpython", codec_name=None,
                                 settings=None, timeout_s=120):
    """Stream wav_path from a virtual board to a gateway on 127.0.0.1; record it."""
    work_dir = Path(work_dir)
    work_dir.mkdir(parents=True, exist_ok=True)
    recorded = work_dir / ("recorded-%s.wav" % runtime)
    settings = settings or GatewaySettings(host="127.0.0.1", port=0)
    gateway = Gateway(settings, sink_factory=lambda session: WavSink(str(recorded)))
    host, port = await gateway.start()
    try:
        session = new_session(host, port, codec_name or DEFAULT_CODEC[runtime])
        session_path = work_dir / ("session-%s.json" % runtime)
        media_session.save(session, session_path)
        gateway.add_session(session)
        device_stats = await run_device_stream(runtime, session_path, wav_path, timeout_s)
        await _wait_for_packets(gateway, session.uplink_ssrc,
                                device_stats["packets_sent"] + device_stats["rtcp_sent"], 2.0)
    finally:
        gateway_stats = await gateway.stop()
    return LoopbackResult(session, recorded, device_stats, gateway_stats)
