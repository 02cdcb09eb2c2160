"""The fleet CLI end to end: broker start, serve, enroll, list, set, command, revoke.

The verbs run in-process through host.cli.main (as a user's shell would call
them); the fleet service and the device runtime run as their own processes,
against a real broker in a temporary state dir.
"""
import subprocess
import sys
import time

import pytest

from host.cli import main
from host.fleet import broker_process
from host.runtimes import REPO_ROOT
from tests.host.fleet.conftest import free_tcp_port


def _pipit(*argv):
    return subprocess.Popen([sys.executable, "-m", "host.cli", *argv], cwd=str(REPO_ROOT),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _until(condition, timeout_s, what):
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for " + what)
        time.sleep(0.1)  # polling the registry through the CLI, not timing the test


@pytest.fixture
def state_dir(tmp_path):
    state = tmp_path / "state"
    yield state
    broker_process.stop_broker(state / "broker")


def _ready(process, marker="fleet service connected"):
    """Read the process's output until its ready line (EOF: it died, and says why)."""
    seen = []
    for line in process.stdout:
        seen.append(line)
        if marker in line:
            return line
    raise AssertionError("pipit fleet serve ended before it was ready:\n" + "".join(seen))


def _list(capsys, state):
    main(["fleet", "list", "--state-dir", str(state)])
    return capsys.readouterr().out


def test_fleet_cli_lifecycle(state_dir, speech_wav, capsys):
    state = str(state_dir)
    assert main(["broker", "start", "--state-dir", state, "--listen", "127.0.0.1:%d" % free_tcp_port()]) == 0
    serve = _pipit("fleet", "serve", "--state-dir", state, "--gateway-listen", "127.0.0.1:0")
    device = None
    try:
        _ready(serve)  # a device that says hello before the service listens is heard later
        assert main(["fleet", "enroll", "porch-1", "--tag", "outdoor", "--state-dir", state]) == 0
        identity = state_dir / "devices" / "porch-1.json"
        assert identity.stat().st_mode & 0o777 == 0o600
        capsys.readouterr()
        device = _pipit("device", "run", "--identity", str(identity), "--mic", str(speech_wav))
        _until(lambda: "gw-1" in _list(capsys, state_dir), 30, "the device online with a gateway")
        row = [line for line in _list(capsys, state_dir).splitlines() if line.startswith("porch-1")][0]
        assert row.split()[1:4] == ["virtual", "0.1.0", "yes"]

        assert main(["fleet", "set", "volume_pct=75", "listen_mode=always_listening",
                     "--tag", "outdoor", "--state-dir", state]) == 0
        assert "acknowledged by 1, refused by 0, no answer from 0" in capsys.readouterr().out
        with pytest.raises(SystemExit, match="field 'volume_pct' must be in 0..100"):
            main(["fleet", "set", "volume_pct=800", "--all", "--state-dir", state])

        assert main(["fleet", "command", "porch-1", "volume", "volume_pct=20", "--state-dir", state]) == 0
        assert 'ok {"volume_pct": 20}' in capsys.readouterr().out

        assert main(["fleet", "revoke", "porch-1", "--state-dir", state]) == 0
        assert "revoked porch-1" in capsys.readouterr().out
        assert "0 device(s)" in _list(capsys, state_dir)
        main(["fleet", "list", "--revoked", "--state-dir", state])
        assert "revoked" in capsys.readouterr().out
    finally:
        for process in (device, serve):
            if process is not None:
                process.terminate()
                process.wait(timeout=10)
