"""Fixtures for flashing: a pipit broker in the test's state dir, a virtual board, a firmware image."""
import pytest

from tests.host.fleet.conftest import broker  # noqa: F401  (the broker lives in tmp_path/broker)
from tools.board_process import BoardProcess
from tools.test_firmware import make_firmware

FIRMWARE_BYTES = 192 * 1024


@pytest.fixture
def firmware(tmp_path):
    """A valid ESP32-S3 app image and its bytes."""
    path = tmp_path / "micropython-esp32s3.bin"
    return path, make_firmware(path, "esp32s3", size_bytes=FIRMWARE_BYTES)


@pytest.fixture
def virtual_board(tmp_path):
    """A virtual ESP32-S3 with 8 MB of flash, powered on in download mode (BOOT held)."""
    with BoardProcess(tmp_path / "board", download=True) as board:
        yield board


def flash_settings(tmp_path, port, **overrides):
    """FlashSettings for the virtual board (ROM only, no auto-reset lines) in tmp_path's state dir."""
    from host.flash.settings import FlashSettings
    options = dict(board="virtual-esp32s3", port=port, no_stub=True, reset="manual", state_dir=tmp_path,
                   hello_timeout_s=30)
    options.update(overrides)
    return FlashSettings(**options)
