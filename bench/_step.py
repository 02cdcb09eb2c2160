"""One load step of the gateway benchmark: a gateway process, sender processes, the figures.

run_step() forks the gateway (bench/_gateway_proc.py) pinned to the first CPU
and the senders (bench/_senders.py) on the others, waits for an idle machine,
times an OpusDecoder.decode on the gateway's CPU just before and after (the
CPU's speed drifts on a shared machine), and returns the raw results of both
sides. Every wait is bounded; processes that overrun are terminated.
"""
import multiprocessing
import os
import time

from bench import _baseline
from bench._cpuload import wait_for_quiet
from bench._gateway_proc import pin, run_gateway, udp_socket_row
from bench._senders import FRAME_S, run_sender
from host.sessions import new_session

_START_DELAY_S = 0.7  # senders fork and build their libsrtp sessions meanwhile
_SOCKET_SAMPLE_S = 0.1


def cores():
    """(gateway CPUs, sender CPUs): the gateway gets one CPU to itself."""
    if not hasattr(os, "sched_getaffinity"):
        return None, None
    available = sorted(os.sched_getaffinity(0))
    if len(available) < 2:
        return None, None
    return [available[0]], available[1:]


def _assignments(streams, settings, payload_count):
    # Stream i: phase i/N of a frame, a different place in the speech, its SR
    # in a different frame of the second; senders take streams round-robin.
    report_every = max(1, int(round(settings.rtcp_interval_s / FRAME_S)))
    plans = [[] for _ in range(settings.senders)]
    sessions = [new_session("127.0.0.1", 5004).to_dict() for _ in range(streams)]
    phases = {}
    for i, data in enumerate(sessions):
        phases[data["uplink_ssrc"]] = i * FRAME_S / streams
        plans[i % settings.senders].append(
            (data, phases[data["uplink_ssrc"]], (i * 37) % payload_count, i % report_every))
    return sessions, plans, phases


def _expect(conn, kind, timeout_s):
    if not conn.poll(timeout_s):
        raise RuntimeError("bench: gateway process sent no %r within %.0f s" % (kind, timeout_s))
    message = conn.recv()
    if message[0] != kind:
        raise RuntimeError("bench: expected %r from the gateway process, got %r" % (kind, message[0]))
    return message


def _watch_socket(port, senders, deadline_s):
    """Sample the gateway socket's receive queue while the senders run."""
    peak = 0
    while any(sender.is_alive() for sender in senders) and time.monotonic() < deadline_s:
        row = udp_socket_row(port)
        if row is not None:
            peak = max(peak, row["rx_queue_bytes"])
        time.sleep(_SOCKET_SAMPLE_S)
    return peak


def _run_senders(context, plans, port, plan, payloads, cpus, deadline_s):
    """Start the sender processes, watch the socket while they run, collect their results."""
    queue = context.Queue()
    senders = [context.Process(target=run_sender, daemon=True,
                               args=(queue, i, streams, port, plan, payloads, cpus))
               for i, streams in enumerate(plans)]
    try:
        for sender in senders:
            sender.start()
        rx_peak = _watch_socket(port, senders, deadline_s)
        results = [queue.get(timeout=30) for _ in senders]
        for sender in senders:
            sender.join(10)
    finally:
        _end(senders)
    return results, rx_peak


def _end(processes):
    for process in processes:
        if process.is_alive():
            process.terminate()
            process.join(5)


def run_step(streams, settings, payloads, profile=False, duration_s=None):
    """One load step; returns the gateway's and the senders' raw results."""
    duration_s = duration_s or settings.duration_s
    context = multiprocessing.get_context("fork")
    gateway_cores, sender_cores = cores()
    sessions, plans, phases = _assignments(streams, settings, len(payloads))
    quiet_wait_s, busy_before = wait_for_quiet(max_wait_s=settings.quiet_wait_s)
    probe_before = _decode_probe(payloads, gateway_cores)
    parent, child = context.Pipe()
    # Latency reservoirs of one window's frames: the samples are the window's.
    gateway = context.Process(target=run_gateway, daemon=True, args=(
        child, sessions, phases, max(1, int(duration_s / FRAME_S)), gateway_cores))
    gateway.start()
    try:
        _, port, receive_buffer_bytes = _expect(parent, "ready", 60)
        t0 = time.monotonic() + _START_DELAY_S
        window = (t0 + settings.warmup_s, t0 + settings.warmup_s + duration_s)
        parent.send(("window", t0, window[0], window[1], profile))
        sent, rx_peak = _run_senders(
            context, plans, port, (t0, settings.warmup_s, duration_s, settings.rtcp_interval_s),
            payloads, sender_cores, window[1] + 10)
        time.sleep(settings.drain_s)
        parent.send(("stop",))
        received = _expect(parent, "result", 60)[1]
        gateway.join(10)
    finally:
        _end([gateway])
    probes_us = [round(probe_before, 2), round(_decode_probe(payloads, gateway_cores), 2)]
    return {"streams": streams, "gateway": received, "senders": sent, "rx_queue_peak_bytes": rx_peak,
            "decode_probes_us": probes_us,
            "receive_buffer_bytes": receive_buffer_bytes, "quiet_wait_s": quiet_wait_s,
            "busy_before": busy_before}


def on_cores(cpus, work):
    """work() with this process pinned to cpus, then unpinned again."""
    everywhere = os.sched_getaffinity(0) if cpus else None
    pin(cpus)
    try:
        return work()
    finally:
        pin(everywhere)


def _decode_probe(payloads, cpus):
    # OpusDecoder.decode on the gateway's CPU right before and after a step:
    # this shared machine's speed drifts (neighbours), the ratio stays comparable.
    return on_cores(cpus, lambda: _baseline.decode_probe_us(payloads))


def baseline_costs(payloads, settings):
    """In-process reference costs, measured quiet and on the gateway's CPU."""
    gateway_cores, _ = cores()
    wait_for_quiet(max_wait_s=settings.quiet_wait_s)
    return on_cores(gateway_cores, lambda: dict(_baseline.decode_costs(payloads),
                                                 **_baseline.path_costs(payloads)))
