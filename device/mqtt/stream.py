"""Asyncio streams under the MQTT link: where CPython's and MicroPython's differ,
and reading one packet with exact reads.
"""
import asyncio
import errno

from device.mqtt.packets import decode
from device.mqtt.wire import decode_varint


def wait_for_ms(awaitable, timeout_ms):
    """asyncio.wait_for with the timeout in ms, on either runtime."""
    if hasattr(asyncio, "wait_for_ms"):
        return asyncio.wait_for_ms(awaitable, timeout_ms)
    return asyncio.wait_for(awaitable, timeout_ms / 1000)


def drain(writer, timeout_ms):
    """writer.drain(); on MicroPython bounded by timeout_ms."""
    if hasattr(writer, "transport"):
        # CPython: the abort in MqttLink._drop wakes a blocked drain() with an error.
        return writer.drain()
    # MicroPython: a drain blocked on a socket closed under it never wakes,
    # so it is bounded; on timeout the link is dropped.
    return asyncio.wait_for_ms(writer.drain(), timeout_ms)


def close_writer(writer, graceful=False):
    """Close the link's socket: aborted at once, or on CPython after a flush if graceful."""
    transport = getattr(writer, "transport", None)
    if transport is None:  # MicroPython: drain() already flushed; close the socket
        writer.s.close()
    elif graceful:  # CPython: close() flushes what is buffered first
        writer.close()
    else:
        transport.abort()


def describe_error(exc):
    """A short reason for a failed connect, read or write (for last_error)."""
    if isinstance(exc, OSError) and exc.args and exc.args[0] == errno.ECONNREFUSED:
        return "connection refused"
    if isinstance(exc, EOFError):
        return "connection closed by the broker"
    text = " ".join(str(exc).split())
    if isinstance(exc, ValueError) and text.startswith("mqtt:"):
        return "protocol error: " + text
    return "%s: %s" % (type(exc).__name__, text)


async def read_packet(reader, max_packet_bytes):
    """Read one packet with exact reads; a body over the limit is refused unread."""
    head = await reader.readexactly(2)
    length = head[1]
    if length & 0x80:
        header = bytearray(head)
        while header[-1] & 0x80:
            if len(header) == 5:
                raise ValueError("mqtt: remaining length longer than 4 bytes")
            header += await reader.readexactly(1)
        length = decode_varint(header, 1)[0]
    if length > max_packet_bytes:
        raise ValueError("mqtt: packet of %d bytes exceeds the %d-byte limit" % (length, max_packet_bytes))
    return decode(head[0], await reader.readexactly(length) if length else b"")
