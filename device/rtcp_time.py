"""RTCP timing (RFC 3550 section 6.4.1): NTP timestamps for sender reports,
the compact middle 32 bits a report block echoes (LSR), and the round-trip
time computed from LSR and DLSR. Runs unchanged on MicroPython and CPython.
"""

# Seconds from the NTP epoch (1900-01-01) to the Unix epoch (1970-01-01).
NTP_UNIX_OFFSET_S = 2208988800
_U32 = 0xFFFFFFFF
_U64 = 0xFFFFFFFFFFFFFFFF


def ntp_from_unix(seconds, microseconds=0):
    """64-bit NTP timestamp (32.32 fixed point) for a Unix time.

    Boards whose floats are single precision pass whole seconds and
    microseconds separately. The result wraps at the NTP era boundary (2036).
    """
    whole = int(seconds)
    fraction = ((seconds - whole) * 4294967296.0) if isinstance(seconds, float) else 0
    fraction = int(fraction) + (microseconds << 32) // 1000000
    return (((whole + NTP_UNIX_OFFSET_S) << 32) + fraction) & _U64


def compact_ntp(ntp_timestamp):
    """Middle 32 bits of an NTP timestamp (16.16 seconds): the LSR field."""
    return (ntp_timestamp >> 16) & _U32


def round_trip_s(arrival_compact_ntp, lsr, dlsr):
    """Round-trip time in seconds from a report block (RFC 3550 6.4.1).

    None when the peer has not received an SR yet (LSR is 0). Rounding of the
    16.16 units can make a loopback RTT come out just below zero: that is 0.0.
    """
    if lsr == 0:
        return None
    units = (arrival_compact_ntp - lsr - dlsr) & _U32
    if units >= 0x80000000:
        return 0.0
    return units / 65536
