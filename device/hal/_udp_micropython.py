"""Awaiting a readable socket on MicroPython's asyncio.

MicroPython's asyncio.StreamReader joins datagrams into one read, so UDP
waits on the I/O queue directly (the way micropython-lib's own drivers do).
"""
from asyncio import core

_EAGAIN = 11


def recv(sock, max_bytes):
    """Receive one datagram without blocking the loop (await it).

    A plain generator, not `async def`: MicroPython awaits generators alike,
    and CPython (which never imports this module) can still compile it for
    `./run lint`, where a `return` with a value in an async generator is a
    SyntaxError.
    """
    while True:
        try:
            return sock.recv(max_bytes)
        except OSError as error:
            if error.args[0] != _EAGAIN:
                raise
        yield core._io_queue.queue_read(sock)
