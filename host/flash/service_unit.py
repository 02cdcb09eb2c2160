"""A systemd unit that runs the device runtime on a Raspberry Pi or a laptop (no flashing)."""
import sys
from pathlib import Path

from host.runtimes import REPO_ROOT

DEFAULT_UNIT_PATH = Path("/etc/systemd/system/pipit-device.service")


def exec_argv(board_path, identity_path, mic_wav=None, python=None):
    """The command the unit runs: the same entry a flashed board's main.py calls."""
    argv = [python or sys.executable, "-m", "device.boot", str(Path(identity_path).resolve()),
            str(Path(board_path).resolve())]
    return argv + ([str(Path(mic_wav).resolve())] if mic_wav else [])


def render_unit(board, board_path, identity_path, user=None, mic_wav=None, python=None):
    """The unit file's text."""
    def quote(word):
        return '"%s"' % word if " " in word else word
    lines = ["[Unit]",
             "Description=pipit voice companion device runtime (%s)" % board.name,
             "Wants=network-online.target",
             "After=network-online.target sound.target",
             "",
             "[Service]",
             "Type=simple",
             "WorkingDirectory=%s" % REPO_ROOT,
             "Environment=PYTHONPATH=%s" % REPO_ROOT,
             "Environment=PYTHONUNBUFFERED=1",
             "ExecStart=%s" % " ".join(quote(w) for w in exec_argv(board_path, identity_path, mic_wav, python)),
             # A reboot command ends the runtime with status 0: start it again, as a board restarts.
             "Restart=always",
             "RestartSec=3"]
    if user:
        lines += ["User=%s" % user, "SupplementaryGroups=audio"]
    lines += ["", "[Install]", "WantedBy=multi-user.target", ""]
    return "\n".join(lines)
