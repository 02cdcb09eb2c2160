"""Clocks for the device runtime: monotonic ticks, wall time, async sleep.

MicroPython has time.ticks_ms and asyncio.sleep_ms; CPython has neither, so
this module gives both runtimes the same small surface.
"""
import time

try:
    import asyncio
except ImportError:  # pragma: no cover - every supported runtime has asyncio
    asyncio = None

if hasattr(time, "ticks_ms"):
    ticks_ms = time.ticks_ms
    ticks_diff = time.ticks_diff
    ticks_add = time.ticks_add
else:
    _TICKS_PERIOD = 1 << 30

    def ticks_ms():
        """Monotonic milliseconds, wrapping like MicroPython's ticks."""
        return (time.monotonic_ns() // 1000000) & (_TICKS_PERIOD - 1)

    def ticks_diff(end, start):
        """Signed difference end - start on the ticks circle."""
        delta = (end - start) & (_TICKS_PERIOD - 1)
        return delta - _TICKS_PERIOD if delta >= _TICKS_PERIOD // 2 else delta

    def ticks_add(ticks, delta):
        """ticks + delta on the ticks circle."""
        return (ticks + delta) & (_TICKS_PERIOD - 1)


def wall_time_s():
    """Seconds since the Unix epoch as a float (for RTCP NTP timestamps)."""
    return time.time_ns() / 1e9


async def sleep_ms(duration_ms):
    """Sleep without blocking the event loop."""
    if duration_ms <= 0:
        await asyncio.sleep(0)
    elif hasattr(asyncio, "sleep_ms"):
        await asyncio.sleep_ms(duration_ms)
    else:
        await asyncio.sleep(duration_ms / 1000)


async def sleep_until(deadline_ticks_ms):
    """Sleep until a ticks_ms deadline (returns at once if it has passed)."""
    await sleep_ms(ticks_diff(deadline_ticks_ms, ticks_ms()))
