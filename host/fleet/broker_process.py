"""The mosquitto process of the pipit broker: start, stop, and whether it runs.

The pid file in the state directory (host/fleet/broker_files.py) lets any
process find and stop a broker another one started; a pid is only believed
while /proc says it still runs our config.
"""
import os
import shutil
import signal
import socket
import ssl
import subprocess
import time

from host.fleet.broker_files import BrokerError, BrokerPaths

MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
_POLL_S = 0.02


def start_broker(info, timeout_ms=10000):
    """Start mosquitto on the generated config and wait until its TLS listener answers."""
    paths = BrokerPaths(info.state_dir)
    if is_running(paths.root):
        raise BrokerError("a broker already runs from %s" % paths.root)
    with open(paths.log, "ab") as log:
        # A session of its own: a Ctrl-C meant for the CLI must not take the broker down.
        child = subprocess.Popen([MOSQUITTO, "-c", str(paths.conf)], stdin=subprocess.DEVNULL,
                                 stdout=log, stderr=log, start_new_session=True)
    _CHILDREN[child.pid] = child
    paths.pid.write_text("%d\n" % child.pid)
    deadline = time.monotonic() + timeout_ms / 1000
    while not _answers_tls(info):
        if child.poll() is not None or time.monotonic() > deadline:
            _terminate(child.pid, timeout_ms)
            paths.pid.unlink(missing_ok=True)
            raise BrokerError("mosquitto did not start (port %d):\n%s" % (info.port, log_tail(paths.root)))
        time.sleep(_POLL_S)
    return child.pid


def stop_broker(state_dir=None, timeout_ms=10000):
    """SIGTERM the broker (it saves its database on the way out) and wait; True if one ran."""
    paths = BrokerPaths(state_dir)
    pid = _running_pid(paths)
    if pid is not None:
        _terminate(pid, timeout_ms)
    paths.pid.unlink(missing_ok=True)
    return pid is not None


def restart_broker(info, timeout_ms=10000):
    """Stop and start again on the same port (retained messages and sessions persist)."""
    stop_broker(info.state_dir, timeout_ms)
    return start_broker(info, timeout_ms)


def is_running(state_dir=None):
    """True if the broker started from this state dir is alive."""
    return _running_pid(BrokerPaths(state_dir)) is not None


def log_tail(state_dir=None, lines=20):
    """The last lines of the broker's log, for error messages."""
    path = BrokerPaths(state_dir).log
    if not path.exists():
        return ""
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


# Brokers this process started: reaped on stop, so they do not linger as zombies.
_CHILDREN = {}


def _running_pid(paths):
    try:
        pid = int(paths.pid.read_text().strip())
    except (OSError, ValueError):
        return None
    return pid if _alive(pid, str(paths.conf)) else None


def _alive(pid, conf=None):
    child = _CHILDREN.get(pid)
    if child is not None:
        return child.poll() is None
    try:
        with open("/proc/%d/stat" % pid) as handle:
            if handle.read().rsplit(")", 1)[1].split()[0] == "Z":
                return False
        with open("/proc/%d/cmdline" % pid, "rb") as handle:
            # The pid may have been reused by another program since.
            return conf is None or conf.encode() in handle.read()
    except (OSError, IndexError):
        return False


def _terminate(pid, timeout_ms):
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        pass
    if not _wait_gone(pid, timeout_ms / 1000):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        _wait_gone(pid, 5.0)
    _CHILDREN.pop(pid, None)


def _wait_gone(pid, timeout_s):
    child = _CHILDREN.get(pid)
    if child is not None:
        try:
            child.wait(timeout_s)
            return True
        except subprocess.TimeoutExpired:
            return False
    deadline = time.monotonic() + timeout_s
    while _alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(_POLL_S)
    return True


def _answers_tls(info):
    """One TLS handshake against the listener, checking the certificate against our CA."""
    try:
        with socket.create_connection((info.connect_host, info.port), timeout=1.0) as raw:
            with info.ssl_context().wrap_socket(raw, server_hostname=info.server_hostname):
                return True
    except (OSError, ssl.SSLError):
        return False
