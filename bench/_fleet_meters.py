"""What the fleet benchmark reads besides its own clocks: the registry, CPU, the kernel, the broker's log."""
import os
import resource
import sqlite3
import time
from pathlib import Path

from bench._cpuload import cpu_times

_CLK_TCK = os.sysconf("SC_CLK_TCK")


class RegistryWatch:
    """Counts in the registry file, read on a connection of its own (WAL: never blocks the service)."""

    def __init__(self, path):
        self._db = sqlite3.connect(str(path))

    def counts(self, version=None):
        """(devices with a hello recorded, devices whose desired config [= version] is applied)."""
        applied = "config_version_applied = config_version_desired AND config_version_desired > 0"
        if version is not None:
            applied += " AND config_version_applied = %d" % int(version)
        row = self._db.execute("SELECT COUNT(firmware), COALESCE(SUM(%s), 0) FROM devices WHERE revoked = 0"
                               % applied).fetchone()
        return row[0], row[1]

    def close(self):
        self._db.close()


def _process_cpu_s(pid):
    try:
        with open("/proc/%d/stat" % pid) as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / _CLK_TCK
    except (OSError, IndexError, ValueError):
        return None


def _self_cpu_s():
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _machine_busy_s():
    return sum(busy for busy, _ in cpu_times().values())


def listen_drops():
    """The kernel's TcpExt ListenOverflows + ListenDrops (SYNs a full accept queue turned away)."""
    try:
        with open("/proc/net/netstat") as handle:
            lines = [line.split() for line in handle if line.startswith("TcpExt:")]
        values = dict(zip(lines[0][1:], (int(value) for value in lines[1][1:])))
        return values.get("ListenOverflows", 0) + values.get("ListenDrops", 0)
    except (OSError, IndexError, ValueError):
        return None


class CpuMeter:
    """CPU seconds of the broker, this process (fleet service, gateway) and the whole machine between marks."""

    def __init__(self, broker_pid):
        self.broker_pid = broker_pid
        self._last = self._now()

    def _now(self):
        return _process_cpu_s(self.broker_pid), _self_cpu_s(), _machine_busy_s(), time.monotonic()

    def mark(self, workers_s=0.0):
        """Used since the previous mark: {wall_s, broker_s, service_s, workers_s, others_s}.

        others_s: busy CPU time of everything else on the machine (the kernel's
        softirq work for our sockets included), over all CPUs.
        """
        now, last = self._now(), self._last
        self._last = now
        broker = None if None in (now[0], last[0]) else now[0] - last[0]
        service = now[1] - last[1]
        others = now[2] - last[2] - (broker or 0.0) - service - workers_s
        return {"wall_s": round(now[3] - last[3], 3), "broker_s": broker and round(broker, 3),
                "service_s": round(service, 3), "workers_s": round(workers_s, 3),
                "others_s": round(max(others, 0.0), 3)}


def raise_open_files(needed):
    """Lift the soft open-file limit (inherited by the broker we start) toward the hard one."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < needed:
        target = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def broker_log_summary(state_dir):
    """Warnings in mosquitto's log that bear on the figures (queued messages dropped, refusals)."""
    path = Path(state_dir) / "mosquitto.log"
    lines = path.read_text(errors="replace").splitlines() if path.exists() else []
    dropped = [line for line in lines if "dropped" in line]
    return {"lines": len(lines), "outgoing_dropped_warnings": len(dropped), "first_dropped": dropped[:3],
            "not_authorised": sum("not authorised" in line for line in lines)}
