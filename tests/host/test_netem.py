"""host/netem.py: the flaky-network relay, on real UDP sockets on loopback."""
import asyncio

import pytest

from host.netem import LinkConditions, Relay


class _Inbox(asyncio.DatagramProtocol):
    def __init__(self):
        self.datagrams = []
        self.arrived = asyncio.Event()
        self.transport = None

    def connection_made(self, transport):
        self.transport = transport

    def datagram_received(self, data, addr):
        self.datagrams.append(data)
        self.arrived.set()


def _rtp(index):
    return bytes([0x80, 96]) + index.to_bytes(2, "big") + bytes(8) + index.to_bytes(4, "big")


async def _through(conditions, count, seed=0):
    """Send count numbered packets board -> gateway through the relay; what the gateway got."""
    loop = asyncio.get_running_loop()
    gateway, gateway_inbox = await loop.create_datagram_endpoint(_Inbox, local_addr=("127.0.0.1", 0))
    relay = Relay(gateway.get_extra_info("sockname")[:2], uplink=conditions, seed=seed)
    board, _ = await loop.create_datagram_endpoint(_Inbox, remote_addr=await relay.start())
    try:
        for index in range(count):
            board.sendto(_rtp(index))  # a burst: all at once, like a voice gate's pre-roll
        # Every packet either arrives or was counted lost by the relay when it took it.
        while len(gateway_inbox.datagrams) + relay.counters["up_lost"] < count:
            gateway_inbox.arrived.clear()
            await asyncio.wait_for(gateway_inbox.arrived.wait(), 5.0)
        return [int.from_bytes(d[12:16], "big") for d in gateway_inbox.datagrams], dict(relay.counters)
    finally:
        relay.close()
        board.close()
        gateway.close()


def test_a_perfect_link_forwards_everything_in_order():
    got, counters = asyncio.run(_through(LinkConditions(), 50))
    assert got == list(range(50)) and counters["up"] == 50 and counters["up_lost"] == 0


def test_loss_is_counted_and_jitter_keeps_the_order_of_a_burst():
    got, counters = asyncio.run(_through(LinkConditions(loss_pct=20, delay_ms=5, jitter_ms=30), 200))
    assert got == sorted(got)  # a queue, not a shuffle
    assert len(got) + counters["up_lost"] == 200
    assert 20 <= counters["up_lost"] <= 60  # 20 % of 200, seeded


def test_the_same_seed_loses_the_same_packets():
    conditions = LinkConditions(loss_pct=30)
    first, _ = asyncio.run(_through(conditions, 100, seed=7))
    again, _ = asyncio.run(_through(conditions, 100, seed=7))
    other, _ = asyncio.run(_through(conditions, 100, seed=8))
    assert first == again and first != other


@pytest.mark.parametrize("field, value", [("loss_pct", 101), ("loss_pct", -1), ("delay_ms", -5),
                                          ("jitter_ms", 20000)])
def test_impossible_conditions_are_refused_with_the_field(field, value):
    with pytest.raises(ValueError, match="netem: %s must be in" % field):
        LinkConditions(**{field: value})
