"""A UDP endpoint that hands datagrams to an asyncio.DatagramProtocol in batches.

asyncio's own datagram transport reads one datagram per event-loop iteration,
so every packet pays an epoll_wait and a trip through the loop. A media
gateway receives tens of thousands of small packets a second; draining the
socket until it is empty (bounded, to stay fair to other callbacks) removes
most of that cost. The protocol interface stays asyncio's: connection_made,
datagram_received, error_received, connection_lost. The socket gets a large
receive buffer so that a burst of packets is not dropped by the kernel.
"""
import socket

DEFAULT_RECEIVE_BUFFER_BYTES = 4 * 1024 * 1024
MAX_BATCH = 256  # datagrams per wake-up before other callbacks get a turn
MAX_DATAGRAM_BYTES = 65535


class BatchedUdpEndpoint:
    """Non-blocking UDP socket on the loop, read in batches; sendto never blocks."""

    def __init__(self, loop, sock, protocol):
        self._loop = loop
        self._sock = sock
        self._protocol = protocol
        self._closed = False
        self.receive_buffer_bytes = sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)
        loop.add_reader(sock.fileno(), self._drain)
        protocol.connection_made(self)

    @classmethod
    async def open(cls, loop, protocol_factory, host, port,
                   receive_buffer_bytes=DEFAULT_RECEIVE_BUFFER_BYTES):
        """Bind host:port (port 0: any free port); return (endpoint, protocol)."""
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_DGRAM,
                                       flags=socket.AI_PASSIVE)
        if not infos:
            raise OSError("gateway: cannot resolve %r" % (host,))
        family, kind, proto, _, address = infos[0]
        sock = socket.socket(family, kind, proto)
        try:
            sock.setblocking(False)
            if receive_buffer_bytes:
                # The kernel caps this at net.core.rmem_max; the effective size is reported.
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer_bytes)
            sock.bind(address)
        except OSError:
            sock.close()
            raise
        protocol = protocol_factory()
        return cls(loop, sock, protocol), protocol

    def get_extra_info(self, name, default=None):
        """Like asyncio transports: 'sockname' and 'socket'."""
        if name == "sockname":
            return self._sock.getsockname()
        if name == "socket":
            return self._sock
        return default

    def _drain(self):
        receive = self._sock.recvfrom
        deliver = self._protocol.datagram_received
        for _ in range(MAX_BATCH):
            try:
                data, addr = receive(MAX_DATAGRAM_BYTES)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as error:
                self._protocol.error_received(error)
                return
            deliver(data, addr)

    def sendto(self, data, addr):
        """Send one datagram now; a full socket buffer drops it (RTCP can afford that)."""
        if self._closed:
            return
        try:
            self._sock.sendto(data, addr)
        except OSError as error:
            self._protocol.error_received(error)

    def close(self):
        """Stop reading and close the socket. Idempotent."""
        if self._closed:
            return
        self._closed = True
        self._loop.remove_reader(self._sock.fileno())
        self._sock.close()
        self._protocol.connection_lost(None)
