"""The gateway's conversation hooks: PPIT APP messages in and out, sinks that attach.

The device side is DeviceDouble (harness.py): real libsrtp, real UDP on
127.0.0.1, compounds built by device/rtcp.py and device/rtcp_app.py.
"""
import asyncio
import struct

from device import rtcp, rtcp_app
from tests.host.gateway.downlink_harness import wait_until
from tests.host.gateway.harness import DeviceDouble, make_session, run, running_gateway
from host.gateway.server import Gateway
from tests.host.gateway.harness import gateway_settings


def _compound(session, *packets):
    return rtcp.build_compound([rtcp.ReceiverReport(session.uplink_ssrc, [])] + list(packets))


def _broken_state(ssrc):
    """A PPIT STATE packet whose body is 4 bytes short."""
    return rtcp.RtcpUnknown(rtcp.PT_APP, rtcp_app.SUBTYPE_STATE,
                            struct.pack("!I", ssrc) + rtcp_app.NAME + bytes([1, 0, 0, 0]))


def test_device_state_reaches_on_app_and_broken_app_is_counted(tmp_path):
    session = make_session()

    async def scenario():
        async with running_gateway(tmp_path, [session]) as (gateway, _sinks, errors):
            served = gateway.session(session.uplink_ssrc)
            seen = []
            served.on_app = seen.append
            device = await DeviceDouble(session).open(gateway.address)
            state = rtcp_app.DeviceState(session.uplink_ssrc, "listening", "push_to_talk", turn=7)
            foreign = rtcp_app.DeviceState(0x99, "idle", "always_listening")
            device.send(device.tx.protect_rtcp(_compound(
                session, _broken_state(session.uplink_ssrc), foreign.to_packet(), state.to_packet())))
            await wait_until(lambda: seen, "the DeviceState")
            assert seen == [state]
            assert served.counters.malformed == 1  # the broken one; the good one still came
            assert served.counters.rtcp_received == 1

            def explode(message):
                raise RuntimeError("conversation bug")

            served.on_app = explode
            device.send(device.tx.protect_rtcp(_compound(session, state.to_packet())))
            await wait_until(lambda: served.counters.rtcp_received == 2, "the second compound")
            device.close()
            assert not errors

    run(scenario())


def test_send_app_sends_three_protected_copies_to_the_device(tmp_path):
    session = make_session()

    async def scenario():
        async with running_gateway(tmp_path, [session]) as (gateway, _sinks, _errors):
            served = gateway.session(session.uplink_ssrc)
            abort = rtcp_app.Abort(session.downlink_ssrc, abort_id=5, resume_seq=1234)
            assert served.send_app(abort) is False  # no address latched yet
            device = await DeviceDouble(session).open(gateway.address)
            device.send(device.tx.protect_rtcp(_compound(session)))
            await wait_until(lambda: served.address is not None, "the latched address")
            event = rtcp_app.TurnEvent(session.downlink_ssrc, "heard", 3)
            assert served.send_app(abort, event) is True
            copies = [await device.receive_report() for _ in range(3)]
            for packets in copies:
                assert rtcp_app.messages(packets) == [abort, event]
                assert packets[0].ssrc == session.downlink_ssrc
            assert served.app_packets_sent == 3
            assert served.stats()["app_packets_sent"] == 3
            device.close()

    run(scenario())


class _AttachingSink:
    def __init__(self):
        self.served = None
        self.closed = False

    def attach(self, served):
        self.served = served

    def write(self, pcm):
        pass

    def close(self):
        self.closed = True


def test_a_sink_with_attach_gets_the_served_session(tmp_path):
    session = make_session()
    sinks = []

    def factory(session_):
        sinks.append(_AttachingSink())
        return sinks[-1]

    async def scenario():
        gateway = Gateway(gateway_settings(), factory)
        await gateway.start()
        served = gateway.add_session(session)
        assert sinks[0].served is served
        await gateway.stop()
        assert sinks[0].closed

    asyncio.run(asyncio.wait_for(scenario(), 30))


def test_on_sent_reports_each_packet_and_its_marker(tmp_path):
    session = make_session()

    async def scenario():
        async with running_gateway(tmp_path, [session]) as (gateway, _sinks, _errors):
            served = gateway.session(session.uplink_ssrc)
            device = await DeviceDouble(session).open(gateway.address)
            device.send(device.tx.protect_rtcp(_compound(session)))
            await wait_until(lambda: served.address is not None, "the latched address")
            sent = []
            served.downlink.on_sent = lambda sent_s, marker: sent.append((sent_s, marker))
            served.downlink.say(bytes(3200))  # 100 ms
            await wait_until(lambda: served.downlink.counters.frames_sent == 5, "5 frames")
            assert [marker for _, marker in sent] == [True, False, False, False, False]
            served.downlink.flush()
            served.downlink.say(bytes(640))
            await wait_until(lambda: len(sent) == 6, "the second spurt")
            assert sent[5][1] and sent[5][0] >= sent[4][0]
            device.close()

    run(scenario())
