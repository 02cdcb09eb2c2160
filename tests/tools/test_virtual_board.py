"""The real esptool and the real mpremote against the virtual board on a pty."""
import os
import select
import subprocess
import sys

import pytest

from tools.board_process import BoardProcess
from tools.test_firmware import make_firmware

ESPTOOL = [sys.executable, "-m", "esptool"]
MPREMOTE = [sys.executable, "-m", "mpremote"]


def read_fifo(path, timeout_s, what):
    """Wait for a writer to put a line in the FIFO at path: an event, not a poll."""
    fd = os.open(str(path), os.O_RDONLY | os.O_NONBLOCK)
    try:
        readable, _, _ = select.select([fd], [], [], timeout_s)
        if not readable:
            raise AssertionError("timed out waiting for " + what)
        return os.read(fd, 256).decode()
    finally:
        os.close(fd)


def esptool(chip, port, *args):
    return subprocess.run(ESPTOOL + ["--chip", chip, "--port", port, "--before", "no-reset", "--after",
                                     "soft-reset", "--no-stub", *args], capture_output=True, text=True, timeout=120)


def mpremote(port, *args):
    return subprocess.run(MPREMOTE + ["connect", os.path.realpath(port), *args],
                          capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("chip, offset", [("esp32", 0x1000), ("esp32s3", 0x0)])
def test_esptool_writes_and_verifies_an_image_byte_for_byte(tmp_path, chip, offset):
    image = make_firmware(tmp_path / "fw.bin", chip, size_bytes=96 * 1024)
    with BoardProcess(tmp_path / "board", chip=chip, firmware_offset=offset, download=True) as board:
        result = esptool(chip, board.port, "write-flash", hex(offset), str(tmp_path / "fw.bin"))
        assert result.returncode == 0, result.stdout + result.stderr
        assert "Hash of data verified" in result.stdout
        assert "MAC:                02:70:69:70:69:74" in result.stdout
        assert board.read_flash(offset, len(image)) == image
        # Leaving the loader boots the image: MicroPython answers.
        assert board.command("status") == "mode micropython"


def test_esptool_detects_the_chip_without_being_told(tmp_path):
    with BoardProcess(tmp_path / "board", chip="esp32", download=True) as board:
        result = subprocess.run(ESPTOOL + ["--port", board.port, "--before", "no-reset", "--after", "no-reset",
                                           "--no-stub", "flash-id"], capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, result.stdout + result.stderr
        assert "Chip type:          ESP32-D0WDQ6" in result.stdout
        assert "Detected flash size: 8MB" in result.stdout


def test_a_board_without_firmware_does_not_boot(tmp_path):
    import serial
    with BoardProcess(tmp_path / "board", download=False) as board:
        assert board.command("status") == "mode halted"
        with serial.Serial(board.port, timeout=1.5) as port:
            port.write(b"\r\x03\r\x01")
            heard = port.read(4096)
        assert b"invalid header: 0xffffffff" in heard and b"raw REPL" not in heard


@pytest.fixture
def micropython_board(tmp_path):
    make_firmware(tmp_path / "fw.bin", "esp32s3", size_bytes=32 * 1024)
    with BoardProcess(tmp_path / "board", download=True) as board:
        assert esptool("esp32s3", board.port, "write-flash", "0x0", str(tmp_path / "fw.bin")).returncode == 0
        yield board


def test_mpremote_copies_lists_executes_and_resets(micropython_board, tmp_path):
    board = micropython_board
    payload = bytes(range(256)) * 40
    (tmp_path / "blob.bin").write_bytes(payload)
    (tmp_path / "main.py").write_text("open('booted.txt', 'w').write('main ran')\n"
                                      "open('booted.fifo', 'w').write('booted\\n')\n")
    result = mpremote(board.port, "cp", str(tmp_path / "blob.bin"), ":blob.bin", "+", "ls", "+",
                      "exec", "import os; print('size', os.stat('blob.bin')[6])")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "blob.bin" in result.stdout and "size 10240" in result.stdout
    assert (board.fs_root / "blob.bin").read_bytes() == payload
    error = mpremote(board.port, "exec", "raise ValueError('boom')")
    assert error.returncode != 0 and "ValueError: boom" in error.stdout + error.stderr
    # A soft reset (mpremote does one on connect) forgets variables.
    assert mpremote(board.port, "exec", "x = 5").returncode == 0
    assert "NameError" in mpremote(board.port, "exec", "print(x)").stdout
    # A hard reset boots main.py from the board's filesystem (watched from the host:
    # connecting at once would interrupt main.py with mpremote's Ctrl-C, as on a real board).
    os.mkfifo(str(board.fs_root / "booted.fifo"))  # main.py's open() waits for our reader
    assert mpremote(board.port, "cp", str(tmp_path / "main.py"), ":main.py", "+", "reset").returncode == 0
    assert read_fifo(board.fs_root / "booted.fifo", 20, "main.py to run after reset") == "booted\n"
    assert (board.fs_root / "booted.txt").read_text() == "main ran"
    result = mpremote(board.port, "exec", "print(open('booted.txt').read())")
    assert "main ran" in result.stdout, result.stdout + result.stderr


def test_pulling_the_cable_makes_the_port_vanish_and_plugging_it_back_boots(micropython_board):
    board = micropython_board
    assert board.command("unplug") == "mode off"
    result = mpremote(board.port, "exec", "print(1)")
    assert result.returncode != 0
    assert board.command("plug") == "mode micropython"
    assert mpremote(board.port, "exec", "print(6 * 7)").stdout.strip().endswith("42")
