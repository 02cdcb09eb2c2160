"""Step 1: write the MicroPython firmware with esptool (PyPI esptool 5), and verify it.

esptool runs as its own process (`python -m esptool`), so what pipit does is
exactly what the same command line does by hand; its progress lines feed a
progress bar and its error lines are turned into a diagnosis naming what to do.
"""
import re
import subprocess
import sys

from host.flash.errors import FlashError, diagnose_esptool

STEP = "write firmware"
_PERCENT = re.compile(r"(\d+(?:\.\d+)?)\s*%")
_MAC = re.compile(r"MAC:\s+([0-9a-f]{2}(?::[0-9a-f]{2}){5})")


def esptool_argv(settings, board):
    """The esptool command line for this flash."""
    before, after = ("default-reset", "hard-reset") if settings.reset == "auto" else ("no-reset", "soft-reset")
    argv = [sys.executable, "-m", "esptool", "--chip", board.chip, "--port", settings.serial_port,
            "--baud", str(settings.baud), "--before", before, "--after", after]
    if settings.no_stub:
        argv.append("--no-stub")
    argv.append("write-flash")
    if settings.erase:
        argv.append("--erase-all")
    return argv + ["0x%x" % board.flash["firmware_offset"], str(settings.firmware)]


def check_fits(settings, board):
    """Refuse an image that cannot fit the board's flash before talking to the board."""
    size = settings.firmware.stat().st_size
    offset = board.flash["firmware_offset"]
    flash_bytes = board.flash["size_mb"] << 20
    if offset + size > flash_bytes:
        raise FlashError(STEP, "the firmware image is larger than the flash: %d bytes at 0x%x, the %s has "
                         "%d MB" % (size, offset, board.id, board.flash["size_mb"]),
                         "use a firmware build for this flash size, or check the board file's flash.size_mb")


class FirmwareResult:
    """What esptool reported: the chip's MAC and whether the hash was verified."""

    def __init__(self, output):
        self.output = output
        match = _MAC.search(output)
        self.mac = match.group(1) if match else None
        self.verified = "Hash of data verified" in output


def write_firmware(settings, board, on_progress=lambda fraction: None):
    """Run esptool; FirmwareResult on success, FlashError (diagnosed) on failure."""
    check_fits(settings, board)
    process = subprocess.Popen(esptool_argv(settings, board), stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True, bufsize=1)
    lines = []
    for line in process.stdout:
        lines.append(line)
        if line.startswith("Writing at"):
            match = _PERCENT.search(line)
            if match:
                on_progress(float(match.group(1)) / 100)
    process.wait()
    output = "".join(lines)
    if process.returncode != 0:
        raise FlashError(STEP, *diagnose_esptool(output))
    result = FirmwareResult(output)
    if not result.verified:
        raise FlashError(STEP, "esptool did not report the written data as verified",
                         "run pipit flash again; if it repeats, try a lower --baud")
    return result
