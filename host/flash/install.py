"""Step 2: install the app with mpremote (PyPI mpremote), check it, then reset the board.

Order matters for recovery: main.py is removed first and copied last, after
every other file has been checked by its SHA-256 on the board. A copy that
is interrupted (cable pulled, mpremote killed) leaves a board that boots to
the REPL, never into a half-installed app, and the next `pipit flash`
simply copies again.
"""
import json
import subprocess
import sys
import tempfile
import threading
from queue import Empty, Queue
from pathlib import Path, PurePosixPath

from host.flash.app_bundle import write_tree
from host.flash.errors import FlashError

STEP = "install app"
RESET_STEP = "reset board"
# No output from mpremote for this long means the board does not answer.
STALL_S = 20.0
# Runs on the board: forget the old main.py and make the folders the app needs.
_PREPARE = """import os
try:
    os.remove('main.py')
except OSError:
    pass
for d in %r:
    try:
        os.mkdir(d)
    except OSError:
        pass
"""
# Runs on the board: the SHA-256 of each file, as JSON (null for a missing file).
_VERIFY = """import hashlib, json, binascii
r = {}
for p in %r:
    try:
        h = hashlib.sha256()
        with open(p, 'rb') as f:
            while True:
                b = f.read(1024)
                if not b:
                    break
                h.update(b)
        r[p] = binascii.hexlify(h.digest()).decode()
    except OSError:
        r[p] = None
print('PIPIT-VERIFY ' + json.dumps(r))
"""


def mpremote_base(settings):
    """mpremote's argv up to the commands."""
    return [sys.executable, "-m", "mpremote", "connect", settings.serial_port]


def _folders(bundle):
    folders = set()
    for item in bundle.files:
        parent = PurePosixPath(item.path).parent
        while str(parent) not in (".", ""):
            folders.add(str(parent))
            parent = parent.parent
    return sorted(folders, key=lambda d: (d.count("/"), d))


def copy_commands(bundle, tree):
    """mpremote commands (joined with '+') that prepare, copy every file but main.py, and verify."""
    commands = [["exec", _PREPARE % (_folders(bundle),)]]
    for item in bundle.files:
        commands.append(["cp", str(Path(tree) / item.path), ":" + item.path])
    commands.append(["exec", _VERIFY % ([item.path for item in bundle.files],)])
    return commands


def main_commands(bundle, tree):
    """Copy main.py last and verify it."""
    return [["cp", str(Path(tree) / "main.py"), ":main.py"], ["exec", _VERIFY % (["main.py"],)]]


def chain(commands):
    argv = []
    for command in commands:
        argv += (["+"] if argv else []) + command
    return argv


def _diagnose(output):
    if "could not enter raw repl" in output or "failed to access" in output:
        return ("MicroPython on the board did not answer (no raw REPL)",
                "write the firmware first (pipit flash --firmware FILE), or press RESET (without BOOT) "
                "so the board leaves bootloader mode")
    if "no device found" in output or "No such file" in output or "could not open port" in output:
        return ("no board on that port", "check the cable and the port name")
    return ("the connection to the board was lost during the copy (%s)" % output.strip().splitlines()[-1]
            if output.strip() else "mpremote failed without output",
            "check the cable, then run pipit flash again (add --skip-firmware to keep the firmware); "
            "the copy starts over and main.py is written only once every file checks out")


def _lines(process, stall_s):
    """The process's output lines; None once it has said nothing for stall_s."""
    queue = Queue()
    threading.Thread(target=lambda: [queue.put(line) for line in process.stdout] + [queue.put("")],
                     daemon=True).start()
    while True:
        try:
            line = queue.get(timeout=stall_s)
        except Empty:
            yield None
            return
        if not line:
            return
        yield line


def run_mpremote(settings, commands, on_line=lambda line: None, stall_s=STALL_S):
    """Run one mpremote invocation; its output, or FlashError.

    mpremote waits without a deadline on a board that never shows a raw REPL
    prompt (on a pty it blocks in read), so silence for stall_s ends it.
    """
    argv = mpremote_base(settings) + chain(commands)
    try:
        process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1)
    except OSError as error:
        raise FlashError(STEP, "cannot start mpremote: %s" % error, "run ./run setup")
    lines = []
    for line in _lines(process, stall_s):
        if line is None:
            process.kill()
            process.wait()
            raise FlashError(STEP, *_diagnose("could not enter raw repl: no answer for %.0f s" % stall_s))
        lines.append(line)
        on_line(line)
    process.wait()
    output = "".join(lines)
    if process.returncode != 0:
        raise FlashError(STEP, *_diagnose(output))
    return output


def check_verify(output, files):
    """Compare the board's SHA-256 report with the bundle; FlashError naming damaged files."""
    report = [line for line in output.splitlines() if line.startswith("PIPIT-VERIFY ")]
    if not report:
        raise FlashError(STEP, "the board did not report its files' checksums", "run pipit flash again")
    found = json.loads(report[-1][len("PIPIT-VERIFY "):])
    bad = [item.path for item in files if found.get(item.path) != item.sha256]
    if bad:
        raise FlashError(STEP, "%d file(s) arrived missing or damaged: %s" % (len(bad), ", ".join(bad[:5])),
                         "run pipit flash again (the copy starts over)")


def install_app(settings, bundle, on_progress=lambda fraction: None):
    """Copy, verify, and finally install main.py."""
    total = len(bundle.files) + 1
    done = []

    def count(line):
        if line.startswith("cp "):
            done.append(line)
            on_progress(len(done) / total)

    with tempfile.TemporaryDirectory(prefix="pipit-app-") as tree:
        write_tree(bundle, tree)
        check_verify(run_mpremote(settings, copy_commands(bundle, tree), count), bundle.files)
        check_verify(run_mpremote(settings, main_commands(bundle, tree), count), [bundle.main])
    on_progress(1.0)


def reset_board(settings):
    """Hard-reset the board (machine.reset through mpremote): it boots main.py."""
    try:
        run_mpremote(settings, [["reset"]])
    except FlashError as error:
        raise FlashError(RESET_STEP, error.message, "press the board's RESET button")
