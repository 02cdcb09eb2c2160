"""A Raspberry Pi or a laptop runs the same runtime without flashing: device run --board, a systemd unit."""
import asyncio
import importlib.util
import subprocess
import sys

import pytest

from device import identity as identity_file
from host.boards import catalog
from host.cli import main
from host.fleet.enrolment import enroll_device
from host.fleet.registry import open_registry
from host.flash.online import HelloWatch
from host.runtimes import REPO_ROOT


def test_device_run_without_pyaudio_or_a_wav_says_what_to_install(tmp_path):
    # This machine has no sound card and the 'laptop' extra is not installed.
    assert importlib.util.find_spec("pyaudio") is None
    with pytest.raises(SystemExit, match=r"rpi-respeaker-2mic .* pip install -e \.\[laptop\].*--mic WAV"):
        main(["device", "run", "--board", "rpi-respeaker-2mic", "--identity", str(tmp_path / "id.json")])


def test_device_run_of_an_esp32_board_says_to_flash_it(tmp_path):
    with pytest.raises(SystemExit, match="esp32-s3-box-3 runs MicroPython.*pipit flash"):
        main(["device", "run", "--board", "esp32-s3-box-3", "--identity", str(tmp_path / "id.json")])


def test_device_run_with_a_board_says_hello_as_that_board(tmp_path, broker, speech_wav):
    with open_registry(tmp_path / "registry.sqlite") as registry:
        identity = enroll_device(registry, broker.info, "pi-kitchen", "rpi-respeaker-2mic")
    identity_file.save(identity, tmp_path / "pi.json")

    async def run():
        watch = HelloWatch(broker.info, "pi-kitchen")
        await watch.start()
        process = subprocess.Popen([sys.executable, "-m", "host.cli", "device", "run", "--board",
                                    "rpi-respeaker-2mic", "--identity", str(tmp_path / "pi.json"),
                                    "--mic", str(speech_wav)], cwd=str(REPO_ROOT),
                                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        try:
            return await watch.wait(30)
        finally:
            process.terminate()
            process.wait(timeout=10)
            await watch.stop()

    hello = asyncio.run(run())
    assert hello is not None and hello.board == "rpi-respeaker-2mic" and hello.runtime == "cpython"
    assert hello.capabilities == ["microphone", "speaker", "button", "led"]


def test_install_service_writes_a_unit_that_runs_device_boot(tmp_path, capsys):
    identity = tmp_path / "pi.json"
    identity.write_text("{}")
    unit = tmp_path / "pipit-device.service"
    assert main(["device", "install-service", "--board", "rpi-respeaker-2mic", "--identity", str(identity),
                 "--user", "pi", "--out", str(unit)]) == 0
    text = unit.read_text()
    exec_line = [line for line in text.splitlines() if line.startswith("ExecStart=")][0]
    argv = exec_line[len("ExecStart="):].split()
    assert argv[1:3] == ["-m", "device.boot"] and argv[3] == str(identity.resolve())
    assert argv[4] == str((catalog.BOARDS_DIR / "rpi-respeaker-2mic.json").resolve())
    assert "Restart=always" in text and "User=pi" in text and "WantedBy=multi-user.target" in text
    # The command the unit runs starts the runtime, which refuses the (empty) identity file.
    result = subprocess.run(argv, cwd=str(REPO_ROOT), capture_output=True, text=True, timeout=60)
    assert result.returncode != 0 and "identity: field 'v' is missing" in result.stderr
    with pytest.raises(SystemExit, match="runs MicroPython: flash it"):
        main(["device", "install-service", "--board", "esp32-s3-box-3", "--identity", str(identity)])
