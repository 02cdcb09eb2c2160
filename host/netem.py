"""A flaky network on loopback: a UDP relay between a board and its gateway.

The board sends to the relay, the relay to the gateway, and back. Each way
has its LinkConditions: random loss, a fixed delay and random jitter on top,
from a seeded generator so a run can be repeated. Jitter keeps the order, as
a Wi-Fi queue does: a packet never leaves before the one ahead of it (so a
burst, like a voice gate's pre-roll, arrives as a burst, not shuffled). For
scripted cases the downlink can also drop or swap RTP packets by their
index, and it logs every RTP packet's arrival.

The relay reads only the clear RTP header (SRTP leaves it clear); it never
decrypts. `pipit talk --loss-pct ...`, bench/conversation.py and the tests
put it on the path.
"""
import asyncio
import random
import struct
import time


class LinkConditions:
    """One direction of the path: loss_pct of packets lost, delay_ms + 0..jitter_ms late."""

    def __init__(self, loss_pct=0.0, delay_ms=0.0, jitter_ms=0.0):
        for name, value, high in (("loss_pct", loss_pct, 100.0), ("delay_ms", delay_ms, 10000.0),
                                  ("jitter_ms", jitter_ms, 10000.0)):
            if not 0.0 <= value <= high:
                raise ValueError("netem: %s must be in 0..%g, got %r" % (name, high, value))
        self.loss_pct = loss_pct
        self.delay_ms = delay_ms
        self.jitter_ms = jitter_ms

    @property
    def perfect(self):
        """True when nothing is lost or delayed."""
        return not (self.loss_pct or self.delay_ms or self.jitter_ms)

    def __repr__(self):
        return "LinkConditions(loss %g %%, delay %g ms + 0..%g ms)" % (
            self.loss_pct, self.delay_ms, self.jitter_ms)


class _Side(asyncio.DatagramProtocol):
    def __init__(self, on_datagram):
        self.on_datagram = on_datagram
        self.transport = None

    def connection_made(self, transport):
        self.transport = transport

    def datagram_received(self, data, addr):
        self.on_datagram(data, addr)


def _is_rtcp(data):
    return len(data) > 1 and 192 <= data[1] <= 223  # RFC 5761 on a muxed port


class Relay:
    """Forwards board <-> gateway under uplink and downlink LinkConditions."""

    def __init__(self, gateway_address, uplink=None, downlink=None, seed=0, drop=(), swap=()):
        """drop, swap: indices of downlink RTP packets to drop, or to hold until the next is sent."""
        self.gateway_address = tuple(gateway_address)
        self.uplink = uplink or LinkConditions()
        self.downlink = downlink or LinkConditions()
        self.drop = set(drop)
        self.swap = set(swap)
        self.arrivals = []  # (monotonic s, seq, timestamp, marker) of every downlink RTP packet
        self.counters = {"up": 0, "up_lost": 0, "down": 0, "down_lost": 0}
        self._random = random.Random(seed)
        self._release_s = {"up": 0.0, "down": 0.0}  # loop time the last packet each way leaves
        self._board = None
        self._held = None
        self._index = 0
        self._front = self._back = None

    async def start(self):
        """Bind both sockets; return the address the board should send to."""
        loop = asyncio.get_running_loop()
        _, self._front = await loop.create_datagram_endpoint(
            lambda: _Side(self._from_board), local_addr=("127.0.0.1", 0))
        _, self._back = await loop.create_datagram_endpoint(
            lambda: _Side(self._from_gateway), remote_addr=self.gateway_address)
        return self._front.transport.get_extra_info("sockname")[:2]

    def _from_board(self, data, addr):
        self._board = addr
        self.counters["up"] += 1
        self._pass(data, self.uplink, "up", self._send_to_gateway)

    def _from_gateway(self, data, addr):
        if self._board is None:
            return
        self.counters["down"] += 1
        if _is_rtcp(data) or len(data) < 12:
            self._pass(data, self.downlink, "down", self._send_to_board)
            return
        seq, timestamp = struct.unpack_from("!HI", data, 2)
        index = self._index
        self._index += 1
        self.arrivals.append((time.monotonic(), seq, timestamp, bool(data[1] & 0x80)))
        if index in self.drop:
            self.counters["down_lost"] += 1
            return
        if index in self.swap:
            self._held = data
            return
        self._pass(data, self.downlink, "down", self._send_to_board)
        if self._held is not None:
            held, self._held = self._held, None
            self._pass(held, self.downlink, "down", self._send_to_board)

    def _pass(self, data, conditions, way, send):
        if conditions.perfect:
            send(data)
            return
        if self._random.random() * 100.0 < conditions.loss_pct:
            self.counters[way + "_lost"] += 1
            return
        loop = asyncio.get_running_loop()
        late_s = (conditions.delay_ms + self._random.random() * conditions.jitter_ms) / 1000.0
        # Strictly after the one ahead: the loop's timer heap does not keep
        # the order of equal deadlines.
        release_s = max(loop.time() + late_s, self._release_s[way] + 1e-6)
        self._release_s[way] = release_s
        loop.call_at(release_s, send, data)

    def _send_to_gateway(self, data):
        if self._back is not None:
            self._back.transport.sendto(data)

    def _send_to_board(self, data):
        if self._front is not None:
            self._front.transport.sendto(data, self._board)

    def close(self):
        """Close both sockets; what is still delayed is dropped."""
        for side in (self._front, self._back):
            if side is not None and side.transport is not None:
                side.transport.close()
        self._front = self._back = None
