"""What `pipit flash` is asked to do, checked before anything touches the board."""
import os
from pathlib import Path

from device.identity import DEFAULT_NTP_HOST

RESET_MODES = ("auto", "manual")
DEFAULT_BAUD = 460800


class FlashSettings:
    """Flags of `pipit flash`, as a plain object the library and the tests use."""

    def __init__(self, board, port, firmware=None, erase=False, baud=DEFAULT_BAUD, no_stub=False,
                 reset="auto", device_id=None, wifi_ssid=None, wifi_password=None, broker_host=None,
                 state_dir=None, hello_timeout_s=60.0, dry_run=False, tags=(), ntp_host=DEFAULT_NTP_HOST):
        self.board = board
        self.port = port
        self.firmware = Path(firmware) if firmware else None
        self.erase = erase
        self.baud = baud
        self.no_stub = no_stub
        self.reset = reset
        self.device_id = device_id
        self.wifi_ssid = wifi_ssid
        self.wifi_password = wifi_password
        self.broker_host = broker_host
        self.state_dir = state_dir
        self.hello_timeout_s = hello_timeout_s
        self.dry_run = dry_run
        self.tags = tuple(tags)
        self.ntp_host = ntp_host

    @property
    def serial_port(self):
        """The port with symlinks resolved (/dev/serial/by-id/... -> /dev/ttyACM0).

        mpremote reads a /dev/pts/N port without polling, so a pty behind a
        link is much faster when named by its real path.
        """
        return os.path.realpath(self.port)

    def check(self):
        """Raise ValueError naming the flag and the reason for a bad combination."""
        if self.reset not in RESET_MODES:
            raise ValueError("flash: --reset must be one of %s, got %r" % (RESET_MODES, self.reset))
        if self.erase and self.no_stub:
            raise ValueError("flash: --erase needs esptool's flasher stub (the ROM loader cannot erase "
                             "the whole chip); drop --erase or --no-stub")
        if self.erase and self.firmware is None:
            raise ValueError("flash: --erase without --firmware would leave the board without MicroPython")
        if self.firmware is not None and not self.firmware.is_file():
            raise ValueError("flash: --firmware %s does not exist (download a MicroPython .bin for the "
                             "board's chip from micropython.org/download)" % self.firmware)
        if not 9600 <= self.baud <= 5000000:
            raise ValueError("flash: --baud must be in 9600..5000000, got %d" % self.baud)
        if (self.wifi_password is not None) and self.wifi_ssid is None:
            raise ValueError("flash: --wifi-password without --wifi-ssid")
        if len(self.ntp_host) > 253:
            raise ValueError("flash: --ntp-host must be a host name of at most 253 characters")
        if self.hello_timeout_s <= 0:
            raise ValueError("flash: --hello-timeout-s must be > 0, got %s" % self.hello_timeout_s)
