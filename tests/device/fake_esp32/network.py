"""Test double for MicroPython's `network` module on an ESP32 (tests only, never on a board).

No radio: a station joins a network listed in `plan["networks"]` (ssid ->
password) at the `plan["polls_to_connect"]`-th call of isconnected(); any other
network never connects, and status() says why with the esp32 port's codes.
status("rssi") gives `plan["rssi"]`. Calls are recorded in `log`.
"""
STA_IF = 0
AP_IF = 1
STAT_IDLE = 1000
STAT_CONNECTING = 1001
STAT_GOT_IP = 1010
STAT_BEACON_TIMEOUT = 200
STAT_NO_AP_FOUND = 201
STAT_WRONG_PASSWORD = 202
STAT_ASSOC_FAIL = 203
STAT_HANDSHAKE_TIMEOUT = 204

plan = {"networks": {}, "polls_to_connect": 0, "rssi": -60, "connected_at_start": False}
log = []


class WLAN:
    def __init__(self, interface):
        self.interface = interface
        self._active = False
        self._ssid = self._key = None
        self._polls_left = 0 if plan["connected_at_start"] else None
        log.append(("WLAN", interface))

    def active(self, on=None):
        if on is None:
            return self._active
        self._active = bool(on)
        log.append(("active", self._active))

    def connect(self, ssid, key):
        if not self._active:
            raise OSError("Wifi Not Started")
        log.append(("connect", ssid, key))
        self._ssid, self._key = ssid, key
        known = plan["networks"].get(ssid)
        self._polls_left = plan["polls_to_connect"] if known is not None and known == key else None

    def isconnected(self):
        if self._polls_left is None:
            return False
        if self._polls_left > 0:
            self._polls_left -= 1
        return self._polls_left == 0

    def status(self, param=None):
        connected = self._polls_left == 0
        if param == "rssi":
            if not connected:
                raise OSError("not connected")
            return plan["rssi"]
        if param is not None:
            raise ValueError("unknown status param")
        if connected:
            return STAT_GOT_IP
        if self._ssid is None:
            return STAT_IDLE
        if self._ssid not in plan["networks"]:
            return STAT_NO_AP_FOUND
        if plan["networks"][self._ssid] != self._key:
            return STAT_WRONG_PASSWORD
        return STAT_CONNECTING

    def disconnect(self):
        log.append(("disconnect",))
        self._polls_left = None
