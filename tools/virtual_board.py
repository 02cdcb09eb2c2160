"""The virtual board: an ESP32 / ESP32-S3 on a pty that the real esptool and mpremote talk to.

    python -m tools.virtual_board --dir DIR [--chip esp32s3] [--flash-size 8MB]
                                  [--firmware-offset 0x0] [--download]

It prints `virtual board ready: PORT` (PORT is DIR/tty, a link to the pty,
kept across unplugging) and then behaves like a board on a USB cable:

- in download mode (power on with --download, or the `download` control
  command: BOOT held while RESET is pressed) it is the ROM serial loader
  (tools/esp_rom.py) over SLIP, writing DIR/flash.bin;
- leaving the loader (FLASH_END) or a reset boots what the flash holds: an
  ESP app image (magic 0xE9, this chip's id) at the firmware offset starts
  MicroPython (tools/mpy_board.py) with DIR/fs as its filesystem, running
  main.py; anything else prints the ROM's "invalid header" and stays silent.

Control commands, one per line on stdin (the hands of the person at the desk):
`download`, `reset`, `unplug` (cable out: the port disappears and the board
loses power), `plug`, `unplug-after N` (pull the cable once N more bytes
have come from the host), `status` (prints the mode), `quit`.
"""
import argparse
import os
import select
import sys
import time
import tty
from pathlib import Path

from tools import slip
from tools.esp_chips import chip_profile
from tools.esp_rom import RomLoader
from tools.mpy_board import RAW_BANNER, READY_MARK, SOFT_REBOOT, MicroPythonProcess, ReplModeTracker
from tools.virtual_flash import VirtualFlash, boot_image_header

SIZE_SUFFIXES = {"KB": 1 << 10, "MB": 1 << 20}
POLL_S = 0.05
HALT_REPEAT_S = 0.5


def parse_size(text):
    """'8MB' -> 8388608."""
    for suffix, factor in SIZE_SUFFIXES.items():
        if text.upper().endswith(suffix) and text[:-2].isdigit():
            return int(text[:-2]) * factor
    raise ValueError("size must look like 4MB or 512KB, got %r" % text)


class VirtualBoard:
    """One simulated board: its pty, flash, filesystem and whatever runs on it."""

    def __init__(self, directory, chip="esp32s3", flash_size_bytes=8 << 20, firmware_offset=0,
                 micropython=None, out=sys.stdout):
        self.directory = Path(directory)
        (self.directory / "fs").mkdir(parents=True, exist_ok=True)
        self.profile = chip_profile(chip)
        self.flash = VirtualFlash(self.directory / "flash.bin", flash_size_bytes)
        self.firmware_offset = firmware_offset
        self.micropython = micropython or _micropython_binary()
        self.port_path = self.directory / "tty"
        self.out = out
        self.mode = "off"
        self.master = self._slave = None
        self.rom = self.decoder = self.child = None
        self.repl = ReplModeTracker()
        self._gate = None  # while restarting into the raw REPL: output held until the banner
        self._unplug_after = None
        self.dropped_output_bytes = 0
        self._halt_message = b""
        self._halt_next_s = 0.0
        self._booting = None
        self._held = b""

    # --- the cable ------------------------------------------------------------

    def plug(self, download=False):
        """Connect the cable (a new pty behind the same port path) and power on."""
        self.master, self._slave = os.openpty()
        tty.setraw(self._slave)
        os.set_blocking(self.master, False)
        tmp = self.port_path.with_suffix(".new")
        if tmp.is_symlink():
            tmp.unlink()
        tmp.symlink_to(os.ttyname(self._slave))
        tmp.replace(self.port_path)
        self.power_on(download)

    def unplug(self):
        """Pull the cable: the port goes away and the board loses power."""
        self._stop_child()
        for fd in (self.master, self._slave):
            if fd is not None:
                os.close(fd)
        self.master = self._slave = None
        if self.port_path.is_symlink():
            self.port_path.unlink()
        self._unplug_after = None
        self.mode = "off"

    def send(self, data):
        """Bytes from the board to the host; dropped when nobody reads (as over USB)."""
        if self.master is None:
            return
        try:
            os.write(self.master, data)
        except BlockingIOError:
            self.dropped_output_bytes += len(data)

    # --- power and boot -------------------------------------------------------

    def power_on(self, download=False):
        """Reset the chip: into the ROM loader with BOOT held, else boot the flash."""
        self._stop_child()
        if download:
            self.mode = "download"
            self.rom = RomLoader(self.profile, self.flash)
            self.decoder = slip.Decoder()
            self.send(b"ESP-ROM:virtual\r\nrst:0x1 (POWERON),boot:0x0 (DOWNLOAD(USB/UART0))\r\n"
                      b"waiting for download\r\n")
            return
        self.rom = self.decoder = None
        self.send(b"ESP-ROM:virtual\r\nrst:0x1 (POWERON),boot:0x8 (SPI_FAST_FLASH_BOOT)\r\n")
        problem = self._firmware_problem()
        if problem:
            # As a real chip: the watchdog resets it and the ROM says so again, and again.
            self.mode = "halted"
            self._halt_message = problem.encode() + b"\r\n"
            self._halt_next_s = 0.0
            return
        self._start_child(run_main=True)

    def _firmware_problem(self):
        header = boot_image_header(self.flash, self.firmware_offset)
        if header is None:
            word = int.from_bytes(self.flash.read(self.firmware_offset, 4), "little")
            return "invalid header: 0x%08x" % word
        chip_id = int.from_bytes(self.flash.read(self.firmware_offset + 12, 2), "little")
        if chip_id != self.profile.image_chip_id:
            return "image is for chip id %d, this chip is %s (id %d)" % (
                chip_id, self.profile.name, self.profile.image_chip_id)
        return None

    def _start_child(self, run_main):
        self.mode = "micropython"
        self.repl = ReplModeTracker()
        self.child = MicroPythonProcess(self.micropython, self.directory / "fs", run_main)
        # Until the child is ready, what the host sends waits here (a UART's receive buffer).
        self._held = b""
        self._booting = b""

    def _stop_child(self):
        if self.child is not None:
            self.child.kill()
            self.child = None
        self._gate = None
        self._booting = None
        self._held = b""

    def _soft_reboot(self):
        raw = self.repl.raw
        self.child.reap()
        self.child = None
        self.send(SOFT_REBOOT)
        self._start_child(run_main=not raw)
        if raw:
            self.repl.raw = True
            self._gate = b""
            self._held = b"\r\x01" + self._held

    # --- traffic ----------------------------------------------------------------

    def from_host(self, data):
        """Bytes the host wrote to the port."""
        if self._unplug_after is not None:
            self._unplug_after -= len(data)
            if self._unplug_after <= 0:
                self.unplug()
                return
        if self.mode == "download":
            for packet in self.decoder.feed(data):
                for reply in self.rom.handle(packet):
                    self.send(slip.encode(reply))
            if self.rom.leave:
                self.power_on(download=False)
        elif self.mode == "micropython":
            if self._booting is not None:
                self._held += data
            else:
                self.child.write(data)

    def from_child(self, data):
        """Bytes MicroPython printed."""
        if self._booting is not None:
            self._booting += data
            at = self._booting.find(READY_MARK)
            if at < 0:
                return
            data, self._booting = self._booting[:at] + self._booting[at + len(READY_MARK):], None
            held, self._held = self._held, b""
            if held:
                self.child.write(held)
        if self._gate is not None:
            self._gate += data
            at = self._gate.find(RAW_BANNER)
            if at < 0:
                return
            data, self._gate = self._gate[at:], None
        self.repl.feed(data)
        self.send(data)

    def control(self, line):
        """One control command; returns False to stop serving."""
        words = line.split()
        if not words:
            return True
        command = words[0]
        if command == "quit":
            return False
        if command == "download":
            self.power_on(download=True)
        elif command == "reset":
            self.power_on(download=False)
        elif command == "unplug":
            self.unplug()
        elif command == "plug":
            self.plug()
        elif command == "unplug-after" and len(words) == 2 and words[1].isdigit():
            self._unplug_after = int(words[1])
        elif command != "status":
            self._say("error: unknown command %r" % line.strip())
            return True
        self._say("mode %s" % self.mode)
        return True

    def _say(self, text):
        self.out.write(text + "\n")
        self.out.flush()

    def serve(self, control_fd):
        """Run until `quit` or the end of the control input."""
        self._say("virtual board ready: %s" % self.port_path)
        try:
            while self._serve_once(control_fd):
                pass
        finally:
            self.unplug()
            self.flash.close()

    def _serve_once(self, control_fd):
        fds = [control_fd] + [fd for fd in (self.master,) if fd is not None]
        if self.child is not None:
            fds += [self.child.fd] + ([self.child.reset_read] if self.child.reset_open else [])
        ready = select.select(fds, [], [], POLL_S)[0]
        if self.mode == "halted" and time.monotonic() >= self._halt_next_s:
            self._halt_next_s = time.monotonic() + HALT_REPEAT_S
            self.send(self._halt_message)
        if control_fd in ready:
            line = os.read(control_fd, 4096).decode(errors="replace")
            if not line:
                return False
            for command in line.splitlines():
                if not self.control(command):
                    return False
        if self.master is not None and self.master in ready:
            try:
                self.from_host(os.read(self.master, 65536))
            except BlockingIOError:
                pass
        if self.child is not None and self.child.reset_read in ready and self.child.reset_requested():
            self.send(b"\r\n")
            self.power_on(download=False)  # machine.reset()
        elif self.child is not None and self.child.fd in ready:
            data = self.child.read()
            if data:
                self.from_child(data)
            else:
                self._soft_reboot()
        return True


def _micropython_binary():
    from host.runtimes import micropython_binary
    return micropython_binary()


def main(argv=None):
    """Command-line entry point."""
    parser = argparse.ArgumentParser(prog="python -m tools.virtual_board", description=__doc__.split("\n")[0])
    parser.add_argument("--dir", required=True, help="where the flash, filesystem and port link live")
    parser.add_argument("--chip", default="esp32s3", choices=("esp32", "esp32s3"))
    parser.add_argument("--flash-size", default="8MB")
    parser.add_argument("--firmware-offset", default="0x0", help="where the ROM looks for the app image")
    parser.add_argument("--download", action="store_true", help="power on in download mode (BOOT held)")
    args = parser.parse_args(argv)
    board = VirtualBoard(args.dir, args.chip, parse_size(args.flash_size), int(args.firmware_offset, 0))
    board.plug(download=args.download)
    board.serve(sys.stdin.fileno())
    return 0


if __name__ == "__main__":
    sys.exit(main())
