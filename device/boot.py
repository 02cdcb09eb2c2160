"""Boot a board from its files: `python3 -m device.boot IDENTITY.json BOARD.json [MIC.wav]`.

A flashed board's main.py runs `device.boot.main(["pipit.json", "board.json"])`:
its bootstrap file (written by `pipit flash`), its board file, then the
device runtime. An ESP32 board joins Wi-Fi first, with the bootstrap file's
wifi_ssid and wifi_password (device/hal/wifi.py); if the link does not come
up in time the board restarts and tries again. Then it sets its clock, which
TLS needs for the certificate dates: NTP, or the time it was flashed
(device/hal/wall_clock.py). When the runtime returns (a
`reboot` command) the board restarts. The same entry runs a Raspberry Pi or
a laptop under CPython (`pipit device run --board ...`, or the systemd unit
of `pipit device install-service`).
"""
import asyncio
import sys

from device import identity as identity_file
from device.app import DeviceApp
from device.hal import boards, wall_clock, wifi


def start_board(identity, board, mic_wav=None):
    """The board's HAL with its network up (Wi-Fi on an ESP32); WifiError if that fails."""
    hal = boards.make(board, mic_wav)
    if getattr(hal, "needs_wifi", False):
        hal.wifi = wifi.connect(identity.wifi_ssid, identity.wifi_password)
        print("pipit: wifi %r up, %s dBm" % (identity.wifi_ssid, hal.wifi_rssi_dbm()))
        how = wall_clock.set_wall_clock(identity.ntp_host, identity.provisioned_at_s)
        print("pipit: clock %s (%d Unix s)" % (how, wall_clock.now_unix_s()))
    return hal


def main(argv):
    """IDENTITY.json BOARD.json [MIC.wav]; runs until a reboot command, then restarts."""
    if not 2 <= len(argv) <= 3:
        print("usage: device.boot IDENTITY.json BOARD.json [MIC.wav]")
        return 2
    identity = identity_file.load(argv[0])
    board = boards.load(argv[1])
    try:
        hal = start_board(identity, board, argv[2] if len(argv) > 2 else None)
    except wifi.WifiError as error:
        print("pipit: %s; restarting" % error)
        boards.reset()
        return 1
    print("pipit: %s on %s, broker %s:%d" % (identity.device_id, board.get("id"),
                                             identity.broker_host, identity.broker_port))
    asyncio.run(DeviceApp(identity, hal).run())
    boards.reset()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
