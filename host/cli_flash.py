"""`pipit flash`, `pipit boards`, `pipit device run --board`, `pipit device install-service`."""
import asyncio
import json
import os
import sys
from pathlib import Path

from device.identity import DEFAULT_NTP_HOST
from host.boards import catalog
from host.flash.errors import FlashError
from host.flash.settings import DEFAULT_BAUD, FlashSettings


def _board(name):
    try:
        return catalog.load(name)
    except ValueError as error:
        raise SystemExit("pipit: %s" % error)


def cmd_boards(args):
    if args.boards_verb == "check":
        board = _board(args.file)
        print("%s: ok (%s, chip %s, %s)" % (args.file, board.name, board.chip, ", ".join(board.capabilities)))
        return 0
    boards = []
    for board_id in catalog.board_ids():
        try:
            boards.append(catalog.load(board_id))
        except ValueError as error:
            print("%s: INVALID: %s" % (board_id, error))
    if args.json:
        print(json.dumps([b.data for b in boards], indent=1))
        return 0
    width = max(len(b.id) for b in boards)
    for board in boards:
        runs = "flash" if board.runtime == "micropython" else "device run"
        print("%s  %-8s %-10s %s" % (board.id.ljust(width), board.chip, runs, board.name))
    print("%d board(s) in %s" % (len(boards), catalog.BOARDS_DIR))
    return 0


def settings_from_args(args):
    """FlashSettings from the parsed flags."""
    return FlashSettings(args.board, args.port, args.firmware, args.erase, args.baud, args.no_stub, args.reset,
                         args.device_id, args.wifi_ssid, args.wifi_password, args.broker_host, args.state_dir,
                         args.hello_timeout_s, args.dry_run, args.tag or (), args.ntp_host)


def cmd_flash(args):
    from host.flash import pipeline
    settings = settings_from_args(args)
    try:
        if args.dry_run:
            print("\n".join(pipeline.plan(settings)))
            return 0
        result = asyncio.run(pipeline.flash(settings))
    except FlashError as error:
        print("pipit flash: %s" % error, file=sys.stderr)
        return 1
    hello = result.hello
    print("%s is online: board %s, firmware %s, %s (bootstrap file %s)"
          % (result.device_id, hello.board, hello.firmware, hello.runtime, result.bootstrap_path))
    return 0


def cmd_device_run(args):
    if not args.board:
        from host.cli import cmd_device_run as run_from_identity
        return run_from_identity(args)
    from host.runtimes import device_command, device_env
    board = _board(args.board)
    if board.hal in ("pyaudio", "alsa") and not args.mic:
        import importlib.util
        from device.hal.pyaudio_hal import INSTALL_HINT
        if importlib.util.find_spec("pyaudio") is None:
            raise SystemExit("pipit: board %s plays and records through the sound card, but %s; or pass "
                             "--mic WAV to run it with the virtual microphone" % (board.id, INSTALL_HINT))
    elif board.hal == "esp32":
        raise SystemExit("pipit: board %s runs MicroPython on an ESP32: flash it with `pipit flash`" % board.id)
    board_path = Path(args.board) if args.board.endswith(".json") else catalog.BOARDS_DIR / (board.id + ".json")
    argv = device_command(args.runtime, "device.boot", [args.identity, board_path] + ([args.mic] if args.mic else []))
    os.execve(argv[0], argv, device_env(args.runtime))


def cmd_install_service(args):
    from host.flash.service_unit import DEFAULT_UNIT_PATH, render_unit
    board = _board(args.board)
    if board.runtime != "cpython":
        raise SystemExit("pipit: board %s runs MicroPython: flash it with `pipit flash`" % board.id)
    if not Path(args.identity).is_file():
        raise SystemExit("pipit: --identity %s does not exist (make one with `pipit fleet enroll`)" % args.identity)
    board_path = catalog.BOARDS_DIR / (board.id + ".json") if not args.board.endswith(".json") else Path(args.board)
    out = Path(args.out) if args.out else DEFAULT_UNIT_PATH
    out.write_text(render_unit(board, board_path, args.identity, args.user, args.mic))
    print("wrote %s; start it with: systemctl daemon-reload && systemctl enable --now %s" % (out, out.stem))
    return 0


def register(verbs, device_verbs, device_run):
    """Add this module's verbs to pipit's parser (called from host/cli.py)."""
    boards = verbs.add_parser("boards", help="list the board files; `boards check FILE` validates one")
    boards.add_argument("--json", action="store_true")
    boards.set_defaults(func=cmd_boards, boards_verb=None)
    boards_verbs = boards.add_subparsers(dest="boards_verb")
    check = boards_verbs.add_parser("check", help="validate a board file (schema and pin rules)")
    check.add_argument("file")

    flash = verbs.add_parser("flash", help="flash MicroPython and the app to a board, provision it, wait for its hello")
    flash.add_argument("--board", required=True, help="board id (`pipit boards`) or a board file")
    flash.add_argument("--port", required=True, help="serial port, e.g. /dev/ttyACM0")
    flash.add_argument("--firmware", help="MicroPython .bin for the board's chip (omit to keep the firmware)")
    flash.add_argument("--erase", action="store_true", help="erase the whole flash first")
    flash.add_argument("--baud", type=int, default=DEFAULT_BAUD)
    flash.add_argument("--no-stub", action="store_true", help="talk to the ROM loader only (no flasher stub)")
    flash.add_argument("--reset", choices=("auto", "manual"), default="auto",
                       help="auto: esptool resets the board into the bootloader by DTR/RTS; manual: it is "
                            "already in bootloader mode (BOOT held at reset)")
    flash.add_argument("--device-id", help="default: pipit-<last 6 hex digits of the MAC>")
    flash.add_argument("--wifi-ssid")
    flash.add_argument("--wifi-password")
    flash.add_argument("--broker-host", help="broker address as the board reaches it (default: the broker's)")
    flash.add_argument("--ntp-host", default=DEFAULT_NTP_HOST,
                       help="NTP server the board sets its clock from before TLS (default: %(default)s; "
                            "'' for none: the clock starts at the time of flashing)")
    flash.add_argument("--tag", action="append")
    flash.add_argument("--hello-timeout-s", type=float, default=60.0)
    flash.add_argument("--dry-run", action="store_true", help="show every step and command, do nothing")
    flash.add_argument("--state-dir", help="where broker, registry and device files live (default: var/)")
    flash.set_defaults(func=cmd_flash)

    device_run.add_argument("--board", help="board id or file: build the HAL from it (device.boot)")
    device_run.set_defaults(func=cmd_device_run)
    service = device_verbs.add_parser("install-service", help="write a systemd unit that runs the device runtime")
    service.add_argument("--board", required=True)
    service.add_argument("--identity", required=True, help="bootstrap file from `pipit fleet enroll`")
    service.add_argument("--mic", help="virtual microphone WAV instead of the sound card")
    service.add_argument("--user", help="run as this user (added to the audio group)")
    service.add_argument("--out", help="unit file to write (default: %s)" % "/etc/systemd/system/pipit-device.service")
    service.set_defaults(func=cmd_install_service)
