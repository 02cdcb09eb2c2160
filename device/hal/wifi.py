"""Wi-Fi station bring-up on an ESP32 (MicroPython `network`), and its signal for telemetry.

device/boot.py calls connect() with the bootstrap file's wifi_ssid and
wifi_password (device/identity.py) before the runtime starts, when the
board's HAL is the ESP32 one. It waits for the link up to a deadline and
raises WifiError naming the network and the driver's last status; boot then
restarts the board to try again from a clean radio. `network` is imported
only when connecting, so boot.py can import this module on CPython too.

Not run on real hardware: tested under the MicroPython unix port with a
test-double `network` module (tests/device/fake_esp32/network.py).
"""
import time

from device.hal import clock

CONNECT_TIMEOUT_MS = 20000
POLL_MS = 100
RSSI_MIN_DBM = -127
# The driver's status codes, by the names `network` gives them (ESP32 port).
STATUS_NAMES = ("STAT_IDLE", "STAT_CONNECTING", "STAT_GOT_IP", "STAT_NO_AP_FOUND", "STAT_WRONG_PASSWORD",
                "STAT_BEACON_TIMEOUT", "STAT_ASSOC_FAIL", "STAT_HANDSHAKE_TIMEOUT", "STAT_CONNECT_FAIL")


class WifiError(OSError):
    """The Wi-Fi link did not come up in time."""


def describe_status(network, status):
    """The driver status as a readable word ("wrong password"), or its number."""
    for name in STATUS_NAMES:
        if getattr(network, name, None) == status:
            return name[len("STAT_"):].lower().replace("_", " ")
    return "status %r" % (status,)


class WifiLink:
    """A connected station interface."""

    def __init__(self, wlan, ssid):
        self.wlan = wlan
        self.ssid = ssid

    @property
    def connected(self):
        return self.wlan.isconnected()

    def rssi_dbm(self):
        """Signal strength of the access point in dBm (-127..0), None while disconnected."""
        if not self.wlan.isconnected():
            return None
        try:
            rssi = int(self.wlan.status("rssi"))
        except (OSError, ValueError, TypeError):
            return None
        return max(RSSI_MIN_DBM, min(0, rssi))


def connect(ssid, password, timeout_ms=None, poll_ms=POLL_MS):
    """Join the network as a station; the WifiLink, or WifiError after timeout_ms (CONNECT_TIMEOUT_MS)."""
    if not ssid:
        raise ValueError("wifi: the bootstrap file has no wifi_ssid; flash the board with "
                         "--wifi-ssid NAME --wifi-password PASSWORD")
    import network
    if timeout_ms is None:
        timeout_ms = CONNECT_TIMEOUT_MS
    wlan = network.WLAN(network.STA_IF)
    wlan.active(True)
    if wlan.isconnected():  # a soft reset keeps the link
        return WifiLink(wlan, ssid)
    wlan.connect(ssid, password or "")
    deadline = clock.ticks_add(clock.ticks_ms(), timeout_ms)
    while not wlan.isconnected():
        if clock.ticks_diff(deadline, clock.ticks_ms()) <= 0:
            status = describe_status(network, wlan.status())
            wlan.disconnect()
            raise WifiError("wifi: not connected to %r after %d ms (last status: %s)"
                            % (ssid, timeout_ms, status))
        time.sleep_ms(poll_ms)
    return WifiLink(wlan, ssid)
