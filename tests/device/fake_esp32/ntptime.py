"""Test double for MicroPython's `ntptime` on an ESP32 (tests only, never on a board).

No network: settime() fails `plan["failures"]` times with ETIMEDOUT (-1: always),
then succeeds. Every call is recorded in `log` as ("settime", host, timeout).
"""
host = "pool.ntp.org"
timeout = 1
plan = {"failures": 0}
log = []


def settime():
    log.append(("settime", host, timeout))
    if plan["failures"]:
        if plan["failures"] > 0:
            plan["failures"] -= 1
        raise OSError(110)  # ETIMEDOUT, what a lost UDP reply gives
