"""The gateway under test, alone in its own process so its CPU time is its own.

The process runs the real host.gateway.server.Gateway on 127.0.0.1 with sinks
that discard PCM, and talks to the benchmark over a multiprocessing Pipe:
("ready", port) once the sessions are served, ("window", t0_s, start_s,
end_s, profile) to measure, ("stop",) to finish, ("result", dict) back.
Times are time.monotonic() (CLOCK_MONOTONIC), shared by every process here.
"""
import asyncio
import cProfile
import gc
import os
import pstats
import resource
import time
from array import array

from bench._cpuload import cpu_times
from bench._report import percentile
from device.session import MediaSession
from host.gateway.server import Gateway, GatewaySettings

FRAME_S = 0.020
_LAG_PROBE_S = 0.010
_PROFILE_TOP = 15
_IDLE_FUNCTION = "<method 'poll' of 'select.epoll' objects>"


class NullSink:
    """Discards PCM, counting bytes; optionally times each frame against its send schedule.

    Once schedule() says when the stream's frame 0 was due to be sent, write()
    records (now - due) for frame k (= writes so far) inside the window: the
    delay from the sender's schedule to decoded PCM, socket queueing included.
    """

    def __init__(self):
        self.bytes_written = 0
        self.delays_s = array("d")
        self._frames = 0
        self._due0_s = None
        self._window = (0.0, 0.0)

    def schedule(self, due0_s, window):
        """Frame k of this stream is sent at due0_s + k * 20 ms; record inside window."""
        self._due0_s = due0_s
        self._window = window

    def write(self, pcm):
        """Count the frame's bytes (and time it, once scheduled)."""
        self.bytes_written += len(pcm)
        if self._due0_s is not None:
            due = self._due0_s + self._frames * FRAME_S
            if self._window[0] <= due < self._window[1]:
                self.delays_s.append(time.monotonic() - due)
        self._frames += 1

    def close(self):
        """Nothing to close."""


def pin(cores):
    """Restrict this process to the given CPUs (a no-op where unsupported)."""
    if cores and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, cores)


def cpu_s():
    """User + system CPU seconds of this process (getrusage: microsecond resolution)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def udp_socket_row(port):
    """rx_queue bytes and kernel drops of the UDP socket bound to 127.0.0.1:port."""
    wanted = "0100007F:%04X" % port
    with open("/proc/net/udp") as table:
        for line in table:
            fields = line.split()
            if len(fields) > 12 and fields[1] == wanted:
                return {"rx_queue_bytes": int(fields[4].split(":")[1], 16), "drops": int(fields[-1])}
    return None


def run_gateway(conn, session_dicts, phases, latency_samples, cores):
    """Process entry point: serve the sessions, measure one window, report."""
    pin(cores)
    sessions = [MediaSession.from_dict(data) for data in session_dicts]
    asyncio.run(_serve(conn, sessions, phases, latency_samples, cores or []))


async def _serve(conn, sessions, phases, latency_samples, cores):
    loop = asyncio.get_running_loop()
    inbox = asyncio.Queue()
    loop.add_reader(conn.fileno(), lambda: inbox.put_nowait(conn.recv()))
    sinks = {}

    def sink_factory(session):
        sinks[session.uplink_ssrc] = NullSink()
        return sinks[session.uplink_ssrc]

    gateway = Gateway(GatewaySettings(host="127.0.0.1", port=0, latency_samples=latency_samples),
                      sink_factory=sink_factory)
    _, port = await gateway.start()
    for session in sessions:
        gateway.add_session(session)
    conn.send(("ready", port, gateway.settings.receive_buffer_bytes))
    _, t0_s, start_s, end_s, profile = await inbox.get()
    for ssrc, sink in sinks.items():
        sink.schedule(t0_s + phases[ssrc], (start_s, end_s))
    lags = []
    probe = asyncio.create_task(_lag_probe(lags, start_s, end_s))
    pauses = _GcPauses(start_s, end_s)
    gc.callbacks.append(pauses.callback)
    result = await _measure(gateway, start_s, end_s, profile, cores)
    await probe
    gc.callbacks.remove(pauses.callback)
    result["gc"] = pauses.summary()
    await inbox.get()  # ("stop",): the senders are done and the socket drained
    result.update(kernel=udp_socket_row(port), totals=gateway.counters.as_dict(),
                  latency_ms=ms_summary(gateway.latency_samples_s()), loop_lag_ms=ms_summary(lags),
                  send_to_pcm_ms=ms_summary([d for sink in sinks.values() for d in sink.delays_s]))
    await gateway.stop()
    loop.remove_reader(conn.fileno())
    conn.send(("result", result))


class _GcPauses:
    """Garbage-collector pauses inside the window, per generation."""

    def __init__(self, start_s, end_s):
        self._window = (start_s, end_s)
        self._started = None
        self._pauses = {0: [], 1: [], 2: []}

    def callback(self, phase, info):
        """gc.callbacks hook."""
        now = time.monotonic()
        if phase == "start":
            self._started = now
        elif self._started is not None and self._window[0] <= now < self._window[1]:
            self._pauses[info["generation"]].append(now - self._started)

    def summary(self):
        """Per generation: collections, total and longest pause in milliseconds."""
        return {"gen%d" % generation: {"count": len(pauses),
                                        "total_ms": round(1000.0 * sum(pauses), 2),
                                        "max_ms": round(1000.0 * max(pauses), 2) if pauses else 0.0}
                for generation, pauses in self._pauses.items()}


async def _sleep_until(when_s):
    delay = when_s - time.monotonic()
    if delay > 0:
        await asyncio.sleep(delay)


def _snapshot(gateway, cores):
    counters = gateway.counters
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return {"t_s": time.monotonic(), "cpu_s": usage.ru_utime + usage.ru_stime,
            "user_s": usage.ru_utime, "system_s": usage.ru_stime, "core_busy_s": _core_busy(cores),
            "received": counters.received,
            "rtcp_received": counters.rtcp_received, "frames_written": counters.frames_written}


def _core_busy(cores):
    now = cpu_times()
    return sum(now[cpu][0] for cpu in cores if cpu in now)


async def _measure(gateway, start_s, end_s, profile, cores):
    await _sleep_until(start_s)
    profiler = cProfile.Profile() if profile else None
    first = _snapshot(gateway, cores)
    if profiler is not None:
        profiler.enable()
    await _sleep_until(end_s)
    if profiler is not None:
        profiler.disable()
    last = _snapshot(gateway, cores)
    result = {"window": {name: last[name] - first[name] for name in first}}
    if profiler is not None:
        result["profile"] = summarise_profile(profiler)
    return result


async def _lag_probe(lags, start_s, end_s):
    # How late a 10 ms timer fires: how long ready work waits behind packets.
    await _sleep_until(start_s)
    while time.monotonic() < end_s:
        due = time.monotonic() + _LAG_PROBE_S
        await asyncio.sleep(_LAG_PROBE_S)
        lags.append(time.monotonic() - due)


def ms_summary(values_s):
    """count, p50, p99 and max of second values, in milliseconds."""
    ordered = sorted(values_s)

    def pick(fraction):
        value = percentile(ordered, fraction)
        return None if value is None else round(value * 1000.0, 4)
    return {"count": len(ordered), "p50": pick(0.50), "p99": pick(0.99),
            "max": None if not ordered else round(ordered[-1] * 1000.0, 4)}


def _where(key):
    filename, line, name = key
    if filename == "~":
        return name  # a C function, e.g. "<method 'recvfrom' of '_socket.socket' objects>"
    for marker in ("/site-packages/", "/lib/python3.11/", "/work/main/"):
        at = filename.find(marker)
        if at >= 0:
            filename = filename[at + len(marker):]
            break
    return "%s:%d(%s)" % (filename, line, name)


def summarise_profile(profiler):
    """Top functions by own and by cumulative time; shares exclude time idle in epoll."""
    stats = pstats.Stats(profiler).stats
    rows = [{"function": _where(key), "calls": entry[1], "tottime_s": entry[2], "cumtime_s": entry[3]}
            for key, entry in stats.items()]
    idle = sum(row["tottime_s"] for row in rows if row["function"] == _IDLE_FUNCTION)
    busy = sum(row["tottime_s"] for row in rows) - idle or 1.0
    for row in rows:
        row["busy_share"] = None if row["function"] == _IDLE_FUNCTION else row["tottime_s"] / busy
    by_own = sorted(rows, key=lambda row: row["tottime_s"], reverse=True)[:_PROFILE_TOP + 1]
    by_cumulative = sorted(rows, key=lambda row: row["cumtime_s"], reverse=True)[:_PROFILE_TOP]
    return {"busy_s": busy, "epoll_s": idle, "by_own_time": by_own, "by_cumulative_time": by_cumulative}
