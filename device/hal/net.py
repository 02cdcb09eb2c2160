"""Network HAL: a connected UDP endpoint the media tasks send and receive on.

On an ESP32 the Wi-Fi link is brought up by the board's network module before
this is used; here it is a plain socket, the same on every runtime.
"""
import socket
import sys

if sys.implementation.name == "micropython":
    from device.hal._udp_micropython import recv as _recv
else:
    from device.hal._udp_cpython import recv as _recv

MAX_DATAGRAM_BYTES = 1500


class UdpEndpoint:
    """A UDP socket bound to an ephemeral port, talking to one remote address."""

    def __init__(self, remote_host, remote_port):
        self.retarget(remote_host, remote_port)
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        # Bound now, not at the first send, so a receive loop started before
        # any audio goes out already has a port to wait on.
        self._sock.bind(socket.getaddrinfo("0.0.0.0", 0)[0][-1])
        self._sock.setblocking(False)
        self.send_errors = 0

    def retarget(self, remote_host, remote_port):
        """Send to another address from now on (a new session's gateway)."""
        self.remote = socket.getaddrinfo(remote_host, remote_port, 0, socket.SOCK_DGRAM)[0][-1]

    def send(self, data):
        """Send one datagram; a full socket buffer drops it and counts it."""
        try:
            self._sock.sendto(data, self.remote)
        except OSError:
            self.send_errors += 1

    async def recv(self, max_bytes=MAX_DATAGRAM_BYTES):
        """Wait for one datagram."""
        return await _recv(self._sock, max_bytes)

    def close(self):
        self._sock.close()
