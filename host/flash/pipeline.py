"""`pipit flash`, step by step: check, firmware, enrol, build, install, reset, hello.

Each step either finishes or raises FlashError naming itself and what to
do. `plan()` describes every step and command without touching anything
(`--dry-run`). The fleet registry and broker are those of the state dir,
as for `pipit fleet`.
"""
import asyncio
import shlex
import tempfile

from host.boards import catalog
from host.fleet.operations import FleetPaths
from host.fleet.registry import open_registry
from host.flash import app_bundle, firmware, install, online, provision
from host.flash.errors import FlashError
from host.flash.progress import Reporter


class FlashResult:
    """What a flash produced: the device, its Hello, and how long each step took."""

    def __init__(self, device_id, enrolled_now, hello, durations_s, bootstrap_path):
        self.device_id = device_id
        self.enrolled_now = enrolled_now
        self.hello = hello
        self.durations_s = durations_s
        self.bootstrap_path = bootstrap_path


def load_board(settings):
    """The board file named by --board, checked; FlashError otherwise."""
    try:
        board = catalog.load(settings.board)
    except ValueError as error:
        raise FlashError("check", str(error), "list boards with `pipit boards`; check a file with "
                         "`pipit boards check FILE`")
    if board.runtime != "micropython":
        raise FlashError("check", "board %s runs CPython: there is nothing to flash" % board.id,
                         "run it with `pipit device run --board %s --identity FILE`" % board.id)
    if board.hal == "esp32":
        # The same rule the board applies at boot: refuse now, not after a minute of flashing.
        from device.hal.esp32_rules import unsupported
        reasons = unsupported(board.data)
        if reasons:
            raise FlashError("check", "the ESP32 HAL cannot drive board %s's audio: %s" % (board.id, reasons),
                             "see docs/boards.md for the boards that run today")
    return board


def check(settings):
    """Validate flags and the board before anything runs; returns the board."""
    try:
        settings.check()
    except ValueError as error:
        raise FlashError("check", str(error).split(": ", 1)[1])
    board = load_board(settings)
    if settings.firmware is None and settings.device_id is None:
        raise FlashError("check", "without --firmware there is no MAC address to name the device by",
                         "pass --device-id")
    if settings.firmware is not None:
        firmware.check_fits(settings, board)
    return board


def plan(settings):
    """Every step and command of this flash, as text lines (for --dry-run)."""
    board = check(settings)
    paths = FleetPaths(settings.state_dir)
    device = settings.device_id or "pipit-<last 6 hex digits of the MAC esptool reads>"
    lines = ["board %s (%s), chip %s, port %s" % (board.id, board.name, board.chip, settings.serial_port)]
    if settings.firmware is not None:
        lines.append("1. write firmware: " + shlex.join(firmware.esptool_argv(settings, board)))
    else:
        lines.append("1. write firmware: skipped (no --firmware)")
    lines += ["2. enrol device %s in %s unless enrolled; bootstrap file %s"
              % (device, paths.registry, paths.devices / (device + ".json")),
              "3. build app: mpy-cross -march=%s on %d device/ modules, board.json, pipit.json (Wi-Fi: %s)"
              % (board.mpy_arch, len(app_bundle.device_sources()), settings.wifi_ssid or "none"),
              "4. install app: " + shlex.join(install.mpremote_base(settings) + ["exec", "<remove main.py, make folders>", "+",
                                                                              "cp", "<each file>", "...", "+", "exec", "<check SHA-256>"]),
              "   then: " + shlex.join(install.mpremote_base(settings) + ["cp", "main.py", ":main.py"]),
              "5. reset board: " + shlex.join(install.mpremote_base(settings) + ["reset"]),
              "6. wait up to %.0f s for %s's hello on the broker of %s, record it online in the registry"
              % (settings.hello_timeout_s, device, paths.broker)]
    return lines


async def _step(reporter, name, function, *args, detail="", note=None):
    reporter.start(name, detail)
    result = await asyncio.to_thread(function, *args)
    reporter.done(name, note(result) if note else "")
    return result


async def flash(settings, reporter=None):
    """Run every step; FlashResult, or FlashError naming the failed step."""
    reporter = reporter or Reporter()
    board = check(settings)
    device_id = settings.device_id
    if settings.firmware is not None:
        written = await _step(reporter, firmware.STEP, firmware.write_firmware, settings, board,
                              lambda f: reporter.progress(firmware.STEP, f),
                              detail="%s at 0x%x" % (settings.firmware.name, board.flash["firmware_offset"]),
                              note=lambda r: "verified, MAC %s" % r.mac)
        if device_id is None:
            device_id = provision.default_device_id(written.mac)
    paths = FleetPaths(settings.state_dir)
    paths.registry.parent.mkdir(parents=True, exist_ok=True)
    with open_registry(paths.registry) as registry:
        identity, created = await _step(reporter, provision.STEP, provision.device_identity, paths, registry,
                                        board, settings, device_id, detail=device_id,
                                        note=lambda r: "new" if r[1] else "already enrolled")
        with tempfile.TemporaryDirectory(prefix="pipit-build-") as build_dir:
            bundle = await _step(reporter, "build app", app_bundle.build, board, identity, build_dir,
                                 note=lambda b: "%d files, %d bytes" % (len(b.files) + 1, b.total_bytes))
        await _step(reporter, install.STEP, install.install_app, settings, bundle,
                    lambda f: reporter.progress(install.STEP, f))
        hello = await _reset_and_wait(settings, reporter, paths, device_id)
        online.record(registry, device_id, hello)
    return FlashResult(device_id, created, hello, dict(reporter.durations_s),
                       paths.devices / (device_id + ".json"))


async def _reset_and_wait(settings, reporter, paths, device_id):
    watch = online.HelloWatch(provision._broker(paths), device_id)
    await watch.start()
    try:
        await _step(reporter, install.RESET_STEP, install.reset_board, settings)
        reporter.start(online.STEP, device_id)
        hello = await watch.wait(settings.hello_timeout_s)
        if hello is None:
            raise FlashError(online.STEP, "no hello from %s within %.0f s" % (device_id, settings.hello_timeout_s),
                             "watch the board's console (`mpremote connect %s`) for its error; check the "
                             "Wi-Fi credentials and that the broker address is reachable from the board"
                             % settings.port)
        reporter.done(online.STEP, "%s says hello: board %s, firmware %s" % (device_id, hello.board, hello.firmware))
        return hello
    finally:
        await watch.stop()
