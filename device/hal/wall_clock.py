"""The wall clock an ESP32 needs before TLS: from NTP, or at least when it was flashed.

MicroPython's ESP32 port checks certificate dates in the TLS handshake
(mbedtls, with the RTC as its clock). After power-on the RTC reads
2000-01-01, before any certificate's notBefore, so the broker's handshake
fails ("certificate validity starts in the future") until the clock is set.
device/boot.py calls set_wall_clock() once Wi-Fi is up:

1. NTP (`ntptime`, frozen into the ESP32 firmware) from the bootstrap file's
   ntp_host, a few tries;
2. if that fails (a LAN without Internet), the RTC is moved forward to the
   bootstrap file's provisioned_at_s, the moment `pipit flash` wrote it. That
   is after the pipit CA was made, and the broker's certificate starts when
   the CA does (host/fleet/certs.py), so the handshake passes. A clock that
   is behind cannot make a certificate look expired.

`machine` and `ntptime` are imported only when called, so boot.py can import
this module on CPython, where the system keeps the time and nothing is done.

Not run on real hardware: tested under the MicroPython unix port with test
doubles of `machine.RTC` and `ntptime` (tests/device/fake_esp32/).
"""
import time

NTP_TRIES = 3
NTP_TIMEOUT_S = 2
UNIX_TO_2000_S = 946684800  # 1970-01-01 to 2000-01-01


def _epoch_offset_s():
    """Seconds from 1970 to this port's time.time() epoch (2000 on the ESP32, 0 on unix)."""
    return UNIX_TO_2000_S if time.gmtime(0)[0] == 2000 else 0


def now_unix_s():
    """The wall clock as Unix seconds, whatever the port's epoch."""
    return int(time.time()) + _epoch_offset_s()


def set_floor(floor_unix_s, rtc):
    """Move the RTC forward to floor_unix_s if it is behind; True if it was moved."""
    if floor_unix_s is None or now_unix_s() >= floor_unix_s:
        return False
    year, month, day, hour, minute, second, weekday = time.gmtime(floor_unix_s - _epoch_offset_s())[:7]
    rtc.datetime((year, month, day, weekday, hour, minute, second, 0))
    return True


def set_from_ntp(ntp_host, ntptime, tries=NTP_TRIES):
    """Set the RTC from NTP; the last error text, or None when it was set."""
    ntptime.host = ntp_host
    ntptime.timeout = NTP_TIMEOUT_S
    error = "no try"
    for _ in range(tries):
        try:
            ntptime.settime()
            return None
        except (OSError, IndexError, ValueError) as failure:  # timeout, bad reply, DNS
            error = "%s: %r" % (type(failure).__name__, failure.args)
    return error


def set_wall_clock(ntp_host, floor_unix_s):
    """Set an ESP32's clock for TLS; how: "ntp", "floor", "kept" (already right), or "system"."""
    try:
        import machine
        import ntptime
    except ImportError:
        return "system"  # CPython (and the unix port): the operating system keeps the time
    if ntp_host:
        error = set_from_ntp(ntp_host, ntptime)
        if error is None:
            return "ntp"
        print("pipit: NTP from %s failed (%s)" % (ntp_host, error))
    return "floor" if set_floor(floor_unix_s, machine.RTC()) else "kept"
