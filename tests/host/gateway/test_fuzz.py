"""Random and mutated packets thrown at one running gateway (hypothesis).

The gateway runs on its own event loop in a thread for the whole module, so
state carries over from example to example as it would in production. After
each example's attack packets, the next packet of a good stream is sent from
the device's socket; once its frame is written, everything before it has been
processed (one socket, loopback, in order).
"""
import asyncio
import socket
import threading

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from host.gateway.counters import COUNTER_NAMES
from host.gateway.server import Gateway
from host.gateway.wav_sink import WavSink
from tests.host.gateway.audio import sine_frames
from tests.host.gateway.harness import DeviceDouble, gateway_settings, make_session

GOOD_PACKETS = 1500
WAIT_S = 10.0
# What an attack may move. The good packet of each example adds exactly one
# `received` and one `frames_written`; every other counter must stay put.
ATTACK_COUNTERS = {"auth_failed", "replayed", "duplicate", "malformed", "unknown_ssrc"}


class ThreadSink(WavSink):
    """WavSink whose frame count a test thread can wait on."""

    def __init__(self, path):
        super().__init__(path)
        self.frames = 0
        self._changed = threading.Condition()

    def write(self, pcm):
        super().write(pcm)
        with self._changed:
            self.frames += 1
            self._changed.notify_all()

    def wait_frames(self, count):
        with self._changed:
            if not self._changed.wait_for(lambda: self.frames >= count, WAIT_S):
                raise TimeoutError("sink has %d frames, expected %d" % (self.frames, count))


class ThreadedGateway:
    """A Gateway on an event loop in a background thread."""

    def __init__(self, directory, session):
        self.errors = []
        self.sink = None
        self.loop = asyncio.new_event_loop()
        self.loop.set_exception_handler(lambda _loop, context: self.errors.append(context))
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._thread.start()
        self.gateway = Gateway(gateway_settings(), self._make_sink(directory))
        self.address = self.on_loop(self._start, session)

    def _make_sink(self, directory):
        def factory(session):
            self.sink = ThreadSink(directory / "fuzz.wav")
            return self.sink
        return factory

    async def _start(self, session):
        address = await self.gateway.start()
        self.gateway.add_session(session)
        return address

    def on_loop(self, function, *args):
        """Run function (sync or async) on the gateway's loop; return its result."""
        async def call():
            result = function(*args)
            return await result if asyncio.iscoroutine(result) else result
        return asyncio.run_coroutine_threadsafe(call(), self.loop).result(WAIT_S)

    def close(self):
        self.on_loop(self.gateway.stop)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(WAIT_S)
        self.loop.close()


@pytest.fixture(scope="module")
def rig(tmp_path_factory):
    session = make_session()
    served = ThreadedGateway(tmp_path_factory.mktemp("fuzz"), session)
    device = DeviceDouble(session)
    good = device.packets(sine_frames(GOOD_PACKETS, 320))
    reports = [device.sender_report(packet_count=n)[0] for n in range(40)]
    sockets = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(2)]
    for sock in sockets:
        sock.connect(served.address)
    state = {"sent": 0, "session": session, "good": good, "reports": reports,
             "device": sockets[0], "attacker": sockets[1], "served": served}
    send_good(state)
    yield state
    for sock in sockets:
        sock.close()
    served.close()


def send_good(state):
    if state["sent"] >= GOOD_PACKETS:
        pytest.skip("ran out of pre-built good packets")
    state["device"].send(state["good"][state["sent"]])
    state["sent"] += 1
    state["served"].sink.wait_frames(state["sent"])


def snapshot(state):
    served = state["served"]
    return served.on_loop(lambda: (
        served.gateway.counters.as_dict(),
        served.gateway.session(state["session"].uplink_ssrc).address))


MUTATIONS = st.one_of(
    st.tuples(st.just("flip"), st.integers(0, 10**6), st.integers(1, 255)),
    st.tuples(st.just("truncate"), st.integers(0, 10**6)),
    st.tuples(st.just("append"), st.binary(min_size=1, max_size=40)),
    # overwrite 4 bytes at a header field: v/pt (0), seq (2), timestamp (4), SSRC (8)
    st.tuples(st.just("field"), st.sampled_from([0, 1, 2, 4, 8]),
              st.binary(min_size=4, max_size=4)),
)
INDEX = st.integers(0, 10**6)

# Recipes, not bytes: which packet to start from is an index resolved against
# what has been sent so far, so generation never depends on external state.
ATTACKS = st.one_of(
    st.tuples(st.just("random"), st.binary(max_size=1600)),
    st.tuples(st.just("replay"), INDEX),
    st.tuples(st.just("mutated_rtp"), INDEX, st.lists(MUTATIONS, min_size=1, max_size=4)),
    st.tuples(st.just("mutated_rtcp"), INDEX, st.lists(MUTATIONS, min_size=1, max_size=4)),
)


def _mutate(base, mutations):
    packet = bytearray(base)
    for mutation in mutations:
        kind = mutation[0]
        if kind == "flip" and packet:
            packet[mutation[1] % len(packet)] ^= mutation[2]
        elif kind == "truncate":
            del packet[mutation[1] % (len(packet) + 1):]
        elif kind == "append":
            packet += mutation[1]
        elif kind == "field" and len(packet) >= 12:
            packet[mutation[1]:mutation[1] + 4] = mutation[2]
    return bytes(packet)


def build_attack(state, recipe):
    """Bytes of one hostile datagram, or None if the mutation changed nothing."""
    kind, sent, good = recipe[0], state["sent"], state["good"]
    if kind == "random":
        return recipe[1]
    if kind == "replay":
        return good[recipe[1] % sent]  # verbatim copy of a packet already received
    if kind == "mutated_rtp":
        base = good[recipe[1] % min(sent + 5, GOOD_PACKETS)]  # sent ones and a few future ones
    else:
        base = state["reports"][recipe[1] % len(state["reports"])]
    mutated = _mutate(base, recipe[2])
    return None if mutated == base else mutated


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(recipes=st.lists(ATTACKS, min_size=1, max_size=8))
def test_hostile_datagrams_never_raise_and_only_bump_attack_counters(rig, recipes):
    before, address = snapshot(rig)
    for recipe in recipes:
        packet = build_attack(rig, recipe)
        if packet is None:
            continue
        try:
            rig["attacker"].send(packet)
        except OSError:  # an empty or oversized datagram the kernel refuses to send
            pass
    send_good(rig)
    after, latched = snapshot(rig)
    assert rig["served"].errors == []
    assert latched == address
    for name in COUNTER_NAMES:
        assert after[name] >= before[name], name
        if name in ATTACK_COUNTERS:
            continue
        expected = before[name] + (1 if name in ("received", "frames_written") else 0)
        assert after[name] == expected, name
