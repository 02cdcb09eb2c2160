"""Awaiting a readable socket on CPython's asyncio."""
import asyncio


async def recv(sock, max_bytes):
    """Receive one datagram without blocking the loop."""
    return await asyncio.get_running_loop().sock_recv(sock, max_bytes)
