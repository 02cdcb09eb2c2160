"""Start the virtual board as a process and drive it (tests, bench, a person at a shell)."""
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
READY = "virtual board ready: "


class BoardProcess:
    """A running `python -m tools.virtual_board`; its port and its control commands."""

    def __init__(self, directory, chip="esp32s3", flash_size="8MB", firmware_offset=0, download=True,
                 start_timeout_s=20):
        self.directory = Path(directory)
        argv = [sys.executable, "-m", "tools.virtual_board", "--dir", str(self.directory),
                "--chip", chip, "--flash-size", flash_size, "--firmware-offset", hex(firmware_offset)]
        if download:
            argv.append("--download")
        self.process = subprocess.Popen(argv, cwd=str(REPO_ROOT), stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, text=True, bufsize=1)
        line = self.process.stdout.readline()
        if not line.startswith(READY):
            self.process.kill()
            raise RuntimeError("virtual board did not start: %r" % line)
        self.port = line[len(READY):].strip()

    @property
    def flash_path(self):
        return self.directory / "flash.bin"

    @property
    def fs_root(self):
        """The board's filesystem, as a host folder."""
        return self.directory / "fs"

    def command(self, text):
        """Send one control command; returns the board's answer (`mode ...`)."""
        self.process.stdin.write(text + "\n")
        self.process.stdin.flush()
        return self.process.stdout.readline().strip()

    def read_flash(self, offset, length):
        with open(self.flash_path, "rb") as handle:
            handle.seek(offset)
            return handle.read(length)

    def stop(self):
        """Quit the board (its MicroPython goes with it)."""
        if self.process.poll() is None:
            try:
                self.process.stdin.write("quit\n")
                self.process.stdin.flush()
            except BrokenPipeError:
                pass
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process.stdin.close()
        self.process.stdout.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.stop()
