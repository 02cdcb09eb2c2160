"""How busy each CPU is, from /proc/stat: to tell our load from everyone else's.

The benchmark pins the gateway to one CPU; time that CPU spent busy beyond the
gateway's own CPU time is interference (another process, interrupts), which
makes a step's figures pessimistic. Before each step the benchmark waits,
bounded, for the machine to be quiet, and every step records both.
"""
import os
import time

_TICK_S = 1.0 / os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 0.01
_IDLE_FIELDS = (3, 4)  # idle, iowait (after the "cpuN" label: user nice system idle iowait ...)


def cpu_times():
    """{cpu index: (busy_s, total_s)} since boot, per CPU."""
    times = {}
    try:
        with open("/proc/stat") as stat:
            for line in stat:
                if not line.startswith("cpu") or line.startswith("cpu "):
                    continue
                fields = line.split()
                ticks = [int(value) for value in fields[1:9]]  # guest time is inside user
                idle = sum(ticks[index] for index in _IDLE_FIELDS)
                total = sum(ticks)
                times[int(fields[0][3:])] = ((total - idle) * _TICK_S, total * _TICK_S)
    except OSError:
        pass
    return times


def busy_fraction(before, after, cpus=None):
    """Mean busy fraction over the given CPUs (all if None) between two cpu_times()."""
    busy = total = 0.0
    for cpu in after:
        if cpu in before and (cpus is None or cpu in cpus):
            busy += after[cpu][0] - before[cpu][0]
            total += after[cpu][1] - before[cpu][1]
    return busy / total if total > 0 else 0.0


def wait_for_quiet(threshold=0.10, max_wait_s=15.0, sample_s=0.5):
    """Wait until the machine is under `threshold` busy, at most max_wait_s.

    Returns (seconds waited, busy fraction of the last sample).
    """
    started = time.monotonic()
    while True:
        before = cpu_times()
        time.sleep(sample_s)
        busy = busy_fraction(before, cpu_times())
        waited = time.monotonic() - started
        if busy < threshold or waited >= max_wait_s:
            return round(waited, 1), round(busy, 3)
