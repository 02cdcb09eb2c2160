"""The MQTT client over TLS on CPython: a throwaway CA, a wrong CA, a wrong port."""
import ssl

import pytest

from device.mqtt import MqttClient, MqttError, tls_context
from device.mqtt.tls import pem_to_der
from tests.device.mqtt.support import Clients, Inbox, run, unique


def test_tls_with_the_generated_ca(broker):
    async def main():
        inbox = Inbox()
        async with Clients(broker) as clients:
            # Both ways of trusting the CA: a stdlib context and tls_context(PEM).
            stdlib = clients.make(tls=True, on_message=inbox)
            ours = clients.make(tls=True, ssl_context=tls_context(broker.ca_path.read_bytes()))
            await stdlib.connect()
            await ours.connect()
            cipher = stdlib._writer.get_extra_info("ssl_object").version()
            assert cipher.startswith("TLSv1.")
            topic = unique("tls") + "/t"
            await stdlib.subscribe(topic)
            await ours.publish(topic, b"over tls", qos=1)
            assert await inbox.wait_count(1) == [(topic, b"over tls", False)]
    run(main())


def test_tls_context_accepts_der_and_checks_the_host_name(broker):
    async def main():
        der = pem_to_der(broker.ca_path.read_bytes())
        assert der[0] == 0x30  # an ASN.1 SEQUENCE
        by_ip = MqttClient(unique("ip"), broker.host, broker.tls_port, ssl_context=tls_context(der))
        await by_ip.connect()  # server_hostname defaults to host: the cert has the IP too
        await by_ip.stop()
        wrong_name = MqttClient(unique("name"), broker.host, broker.tls_port,
                                ssl_context=tls_context(der), server_hostname="elsewhere.example")
        with pytest.raises(MqttError, match="CERTIFICATE_VERIFY_FAILED|match"):
            await wrong_name.connect()
    run(main())


def test_tls_with_a_wrong_ca_fails_certificate_verification(broker):
    async def main():
        async with Clients(broker) as clients:
            client = clients.make(tls=True, ssl_context=broker.client_tls_context(broker.wrong_ca_path))
            with pytest.raises(MqttError) as failed:
                await client.connect()
            assert "CERTIFICATE_VERIFY_FAILED" in str(failed.value)
            assert failed.value.code is None
            assert not client.connected
            assert client.stats["connect_failures"] == 1
    run(main())


def test_plain_mqtt_to_the_tls_port_fails(broker):
    async def main():
        client = MqttClient(unique("plain"), broker.host, broker.tls_port, connect_timeout_ms=5000)
        with pytest.raises(MqttError) as failed:
            await client.connect()
        assert failed.value.code is None
        assert not client.connected
        await client.stop()
    run(main())


def test_tls_to_the_plain_port_fails(broker):
    async def main():
        context = ssl.create_default_context(cafile=str(broker.ca_path))
        client = MqttClient(unique("tls-plain"), broker.host, broker.port, ssl_context=context,
                            server_hostname="localhost", connect_timeout_ms=5000)
        with pytest.raises(MqttError):
            await client.connect()
        await client.stop()
    run(main())
