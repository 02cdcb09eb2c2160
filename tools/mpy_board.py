"""The MicroPython side of the virtual board: the real unix port behind a supervisor.

The unix port already serves the raw REPL (Ctrl-A, Ctrl-D execution with
OK / output / 0x04 / error / 0x04 / '>', raw-paste mode) on a terminal. What
a board has and the unix port lacks is added around it:

- a filesystem: a host folder mounted at '/' (vfs.VfsPosix), so what mpremote
  copies lands there and '/lib' is on the module path, as on an ESP32;
- soft reset: the unix port exits on Ctrl-D at an empty prompt; the
  supervisor prints "MPY: soft reboot" and starts it again (in the raw REPL
  if that is where it was);
- hard reset (machine.reset(), power on): starts it again and runs main.py,
  as a board does at boot; Ctrl-C interrupts main.py (SIGINT through the
  terminal, as on a console) and leaves the REPL;
- machine.reset(): a `machine` wrapping the built-in one; reset() tells the
  supervisor over a pipe, which kills and restarts the process.

The child runs on its own pty (its controlling terminal: ISIG on, no echo,
no output translation), so the bytes mpremote sees are the unix port's own.
"""
import os
import signal
import termios

RAW_BANNER = b"raw REPL; CTRL-B to exit\r\n>"
FRIENDLY_PROMPT = b">>> "
SOFT_REBOOT = b"MPY: soft reboot\r\n"
# Printed by the prelude once the board is set up (filesystem mounted): from then
# on SIGINT is a KeyboardInterrupt, not the end of the process, and a Ctrl-C can
# no longer leave a REPL without the board's filesystem, so input held back
# until now is delivered.
READY_MARK = b"\x1bPIPIT-READY\x1b"

_PRELUDE = """
import sys, vfs, os, time
_reset_pipe = open('/proc/self/fd/%(reset_fd)d', 'wb')
vfs.umount('/')
vfs.mount(vfs.VfsPosix(%(root)r), '/')
os.chdir('/')
sys.path[:] = ['', '.frozen', '/lib']
import machine as _builtin_machine
class _Machine:
    def __getattr__(self, name):
        return getattr(_builtin_machine, name)
    def reset(self):
        _reset_pipe.write(b'r')
        _reset_pipe.flush()
        while True:
            time.sleep(1)
    def unique_id(self):
        return %(unique_id)r
sys.modules['machine'] = _Machine()
del _Machine
sys.stdout.write('\\x1bPIPIT-READY\\x1b')
"""
_RUN_MAIN = """
for _script in ('boot.py', 'main.py'):
    try:
        os.stat(_script)
    except OSError:
        continue
    exec(open(_script).read(), {'__name__': '__main__'})
"""


def prelude(root, reset_fd, run_main, unique_id=b"pipit1"):
    """The code the unix port runs at start (then its REPL takes over)."""
    text = _PRELUDE % {"root": str(root), "reset_fd": reset_fd, "unique_id": unique_id}
    return text + (_RUN_MAIN if run_main else "")


class MicroPythonProcess:
    """One run of the unix port, from (re)start to exit."""

    def __init__(self, binary, root, run_main):
        self.reset_read, reset_write = os.pipe()
        os.set_inheritable(reset_write, True)
        code = prelude(root, reset_write, run_main)
        pid, fd = os.forkpty()
        if pid == 0:  # the child: make its terminal a console, then become MicroPython
            try:
                attrs = termios.tcgetattr(0)
                attrs[0], attrs[1], attrs[3] = 0, 0, termios.ISIG
                termios.tcsetattr(0, termios.TCSANOW, attrs)
                os.execv(binary, [binary, "-i", "-c", code])
            finally:
                os._exit(127)
        os.close(reset_write)
        self.pid = pid
        self.fd = fd
        self.exit_code = None
        self.reset_open = True

    def reset_requested(self):
        """True when machine.reset() was called (the pipe also turns readable at exit)."""
        try:
            data = os.read(self.reset_read, 16)
        except OSError:
            data = b""
        if not data:
            self.reset_open = False
        return bool(data)

    def write(self, data):
        os.write(self.fd, data)

    def read(self):
        """Output bytes, or b'' once the process has gone."""
        try:
            return os.read(self.fd, 4096)
        except OSError:
            return b""

    def kill(self):
        """Stop it now (a reset does not ask the program's permission)."""
        if self.exit_code is None:
            try:
                os.kill(self.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        return self.reap()

    def reap(self):
        """Wait for the exit; returns the exit code."""
        if self.exit_code is None:
            _, status = os.waitpid(self.pid, 0)
            self.exit_code = os.waitstatus_to_exitcode(status)
            for fd in (self.fd, self.reset_read):
                try:
                    os.close(fd)
                except OSError:
                    pass
        return self.exit_code


class ReplModeTracker:
    """Which REPL the board shows, read from what it printed (raw or friendly)."""

    def __init__(self):
        self.raw = False
        self._tail = b""

    def feed(self, data):
        text = self._tail + data
        raw_at = text.rfind(b"raw REPL; CTRL-B to exit")
        friendly_at = text.rfind(FRIENDLY_PROMPT)
        if raw_at >= 0 or friendly_at >= 0:
            self.raw = raw_at > friendly_at
        self._tail = text[-32:]
