"""Connect-time probe for the fleet benchmark: one device asking for session after session.

Per request, as device/app.py and device/uplink.py do it: publish a
SessionRequest (QoS 1), wait for the SessionGrant, set the session up (new
SrtpContext and encoder, as Uplink._apply_session does), encode a 20 ms
frame, packetize, protect and send it to the granted gateway at once. The
device runtime would send at its next microphone frame instead, up to one
frame (20 ms) later; that wait is the board's, not the system's, and is left
out. Talks to the benchmark over a multiprocessing Pipe:

    <- ("ready",)
    <- ("sent", {request_id, ssrc, request_s, puback_s, grant_s, sent_s})
    -> ("next",)  or  ("stop",)
    <- ("done", stats)

Times are time.monotonic() (CLOCK_MONOTONIC, shared by every process here).
"""
import asyncio
import socket
import time

from device import codec, rtp
from device.control import topics
from device.control.exchanges import SessionGrant, SessionRequest
from device.mqtt import MqttClient, tls_context
from device.srtp import SrtpContext

GRANT_TIMEOUT_S = 10.0


class Probe:
    """A device's session exchange and first packet, timed."""

    def __init__(self, device_id, password, broker):
        self.device_id = device_id
        self._grants = {}
        self._grant_topic = topics.device_topic(device_id, "session/grant")
        self.client = MqttClient(
            device_id, broker["host"], broker["port"], username=device_id, password=password,
            ssl_context=tls_context(broker["ca_pem"]), server_hostname=broker["server_hostname"],
            on_message=self._on_message)
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._packet = bytearray(rtp.FIXED_HEADER_SIZE + 1500)
        self._count = 0

    def _on_message(self, topic, payload, retain):
        received_s = time.monotonic()
        if topic != self._grant_topic:
            return
        grant = SessionGrant.decode(payload)
        waiter = self._grants.get(grant.request_id)
        if waiter is not None and not waiter.done():
            waiter.set_result((received_s, grant))

    async def start(self):
        """Connect and subscribe to the device's grants."""
        self.client.start()
        await self.client.subscribe(self._grant_topic, 1)

    async def once(self):
        """One request -> grant -> first packet; the timestamps."""
        self._count += 1
        request_id = "%s-%d" % (self.device_id, self._count)
        waiter = asyncio.get_running_loop().create_future()
        self._grants[request_id] = waiter
        request_s = time.monotonic()
        await self.client.publish(topics.device_topic(self.device_id, "session/request"),
                                  SessionRequest(request_id, ["opus"], "renew").encode(), qos=1)
        puback_s = time.monotonic()
        grant_s, grant = await asyncio.wait_for(waiter, GRANT_TIMEOUT_S)
        del self._grants[request_id]
        if not grant.granted:
            raise RuntimeError("probe: session refused: %s" % grant.error)
        session = grant.session
        srtp = SrtpContext(session.srtp_master_key, session.srtp_master_salt)
        encoder = codec.make_encoder(session.codec, session.sample_rate_hz, session.channels, session.frame_ms)
        payload = encoder.encode(bytearray(session.samples_per_frame * 2 * session.channels))
        header = rtp.write_header(self._packet, session.payload_type, True, self._count, 0, session.uplink_ssrc)
        end = header + len(payload)
        self._packet[header:end] = payload
        self._socket.sendto(srtp.protect(memoryview(self._packet)[:end]),
                            (session.gateway_host, session.gateway_port))
        sent_s = time.monotonic()
        return {"request_id": request_id, "ssrc": session.uplink_ssrc, "request_s": request_s,
                "puback_s": puback_s, "grant_s": grant_s, "sent_s": sent_s}


def run_probe(conn, device_id, password, broker):
    """Process entry: send requests while the benchmark answers ("next",)."""
    async def main():
        probe = Probe(device_id, password, broker)
        await probe.start()
        conn.send(("ready",))
        loop = asyncio.get_running_loop()
        commands = asyncio.Queue()
        loop.add_reader(conn.fileno(), lambda: commands.put_nowait(conn.recv()))
        try:
            while True:
                conn.send(("sent", await probe.once()))
                if (await commands.get())[0] != "next":
                    break
        finally:
            loop.remove_reader(conn.fileno())
            stats = dict(probe.client.stats)
            await probe.client.stop()
        conn.send(("done", stats))
    asyncio.run(main())
