"""Session lifecycle: addresses, refusals, removal, floods, serve()."""
import asyncio
import os
import tracemalloc
import wave

import pytest

from device import rtcp
from host.gateway.server import Gateway, serve
from host.gateway.wav_sink import wav_sink_factory
from tests.host.gateway.audio import sine_frames
from tests.host.gateway.harness import (
    DeviceDouble, gateway_settings, make_session, run, running_gateway)


def test_nat_rebinding_moves_the_address_and_reports_follow(tmp_path):
    session = make_session()

    async def scenario():
        async with running_gateway(tmp_path, [session]) as (gateway, sinks, _):
            sink = sinks[session.uplink_ssrc]
            first = await DeviceDouble(session).open(gateway.address)
            packets = first.packets(sine_frames(22, 320))
            first.send(*packets[:10])
            await sink.wait_frames(10)
            served = gateway.session(session.uplink_ssrc)
            assert served.address == first.address and served.counters.address_changes == 0
            # The NAT gives the device a new port: same keys, new socket.
            second = DeviceDouble(session)
            second.tx = first.tx
            await second.open(gateway.address)
            second.send(*packets[10:20], packets[21])
            await sink.wait_frames(20)
            assert served.address == second.address
            first.send(packets[20])  # older than 21, late on the old path: no move back
            await sink.wait_frames(22)
            second.send(first.sender_report()[0])
            [report, _] = await second.receive_report()
            assert report.reports[0].highest_sequence == 65520 + 21
            result = served.address, second.address, served.counters
            first.close()
            second.close()
            return result

    latched, expected, counters = run(scenario())
    assert latched == expected
    assert counters.address_changes == 1
    assert counters.reordered == 1 and counters.received == 22


def test_unknown_ssrc_flood_leaves_no_state_behind(tmp_path):
    session = make_session()
    chunks, per_chunk = 30, 100

    async def scenario():
        async with running_gateway(tmp_path, [session]) as (gateway, sinks, errors):
            sink = sinks[session.uplink_ssrc]
            device = await DeviceDouble(session).open(gateway.address)
            good = device.packets(sine_frames(chunks + 1, 320))
            device.send(good[0])
            await sink.wait_frames(1)
            tracemalloc.start()
            before = tracemalloc.take_snapshot()
            for chunk in range(chunks):
                for number in range(chunk * per_chunk, (chunk + 1) * per_chunk):
                    ssrc = (0x10000000 + number).to_bytes(4, "big")
                    device.send(b"\x80\x6f\x00\x01" + bytes(4) + ssrc + os.urandom(60))
                # One socket, in order: once this frame is out, the flood before it was read.
                device.send(good[chunk + 1])
                await sink.wait_frames(chunk + 2)
            after = tracemalloc.take_snapshot()
            tracemalloc.stop()
            device.close()
            gateway_files = [tracemalloc.Filter(True, "*/host/gateway/*")]
            grown = sum(stat.size_diff for stat in after.filter_traces(gateway_files).compare_to(
                before.filter_traces(gateway_files), "filename"))
            return grown, gateway.counters, gateway.sessions, errors

    grown, total, sessions, errors = run(scenario())
    assert total.unknown_ssrc == chunks * per_chunk
    assert total.malformed == 0 and total.received == chunks + 1
    assert sessions == [session.uplink_ssrc]
    assert grown < 4096  # bytes retained by gateway code: no per-SSRC state
    assert errors == []


def test_l16_other_than_16khz_mono_is_refused_with_the_reason(tmp_path):
    gateway = Gateway(gateway_settings(), wav_sink_factory(tmp_path))
    with pytest.raises(ValueError, match="L16 sessions must be 16000 Hz mono"):
        gateway.add_session(make_session(codec="l16", sample_rate_hz=8000))
    assert list(tmp_path.iterdir()) == []  # refused before any file was created
    with pytest.raises(ValueError, match="already exists"):
        gateway.add_session(make_session())
        gateway.add_session(make_session())
    assert gateway.sessions == [make_session().uplink_ssrc]


def test_remove_session_flushes_held_packets_and_closes_the_sink(tmp_path):
    session = make_session()

    async def scenario():
        async with running_gateway(tmp_path, [session]) as (gateway, sinks, _):
            device = await DeviceDouble(session).open(gateway.address)
            packets = device.packets(sine_frames(4, 320))
            device.send(packets[0], packets[2], packets[3])  # 1 lost, 2 and 3 held
            device.send(device.sender_report()[0])
            await device.receive_report()  # all three datagrams were processed
            assert sinks[session.uplink_ssrc].frames == 1
            final = gateway.remove_session(session.uplink_ssrc)
            device.close()
            return final, sinks[session.uplink_ssrc], gateway.sessions

    final, sink, sessions = run(scenario())
    assert sink.closed and sessions == []
    assert final["counters"]["frames_written"] == 4
    assert final["counters"]["lost"] == 1 and final["held_packets"] == 0
    with wave.open(sink.path, "rb") as wav:
        assert wav.getnframes() == 4 * 320


def test_held_gap_is_given_up_by_the_timer_when_the_stream_stops(tmp_path):
    session = make_session()

    async def scenario():
        gateway_running = running_gateway(tmp_path, [session], jitter_max_hold_ms=30)
        async with gateway_running as (gateway, sinks, _):
            device = await DeviceDouble(session).open(gateway.address)
            packets = device.packets(sine_frames(3, 320))
            device.send(packets[0], packets[2])  # then silence: no packet will push it out
            await sinks[session.uplink_ssrc].wait_frames(3)
            device.close()
            return gateway.session(session.uplink_ssrc).stats()

    stats = run(scenario())
    assert stats["counters"]["lost"] == 1 and stats["held_packets"] == 0
    assert stats["latency"]["count"] == 2
    assert stats["latency"]["max_ms"] >= 30  # packet 2 waited out the hold time


def test_serve_runs_until_stopped_and_returns_final_stats(tmp_path):
    session = make_session()

    async def scenario():
        ready = asyncio.get_running_loop().create_future()
        stop = asyncio.Event()
        task = asyncio.create_task(serve(
            gateway_settings(), [session], wav_sink_factory(tmp_path), stop,
            on_ready=lambda gateway, address: ready.set_result(address)))
        address = await asyncio.wait_for(ready, 10)
        device = await DeviceDouble(session).open(address)
        device.send(*device.packets(sine_frames(5, 320)), device.sender_report()[0])
        compound = await device.receive_report()
        device.close()
        stop.set()
        return await asyncio.wait_for(task, 10), compound

    final, compound = run(scenario())
    assert isinstance(compound[0], rtcp.ReceiverReport)
    assert final["total"]["received"] == 5
    assert final["sessions"][session.uplink_ssrc]["counters"]["frames_written"] == 5
    with wave.open(str(tmp_path / ("%08x.wav" % session.uplink_ssrc)), "rb") as wav:
        assert wav.getnframes() == 5 * 320
