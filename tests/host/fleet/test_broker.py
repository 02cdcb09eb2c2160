"""The pipit broker, checked against a real mosquitto by what is DELIVERED.

mosquitto may acknowledge a forbidden PUBLISH (3.1.1 has no way to say no), so
every "X is not delivered" below is followed by a positive-control marker sent
after X on the same path: once the marker arrives, X would have arrived first.
Some checks use mosquitto_sub / mosquitto_pub (tools nobody here wrote), others
our MqttClient.
"""
import asyncio
import json
import os
import ssl
import stat
import time

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from device.control.topics import device_topic
from device.mqtt import MqttClient, MqttError
from host.fleet import broker as pipit_broker
from host.fleet import broker_process
from host.fleet import certs, dynsec, passwords
from host.fleet.dynsec import DynsecAdmin, DynsecError

WAIT_S = 10.0
NOT_AUTHORISED = 5


def run(coroutine):
    """Run one test scenario on a fresh event loop, bounded in time."""
    return asyncio.run(asyncio.wait_for(coroutine, 60))


class Inbox:
    """on_message for our MqttClient: keeps what arrived, waits for one message."""

    def __init__(self):
        self.messages = []
        self._arrived = asyncio.Event()

    def __call__(self, topic, payload, retain):
        self.messages.append((topic, payload.decode()))
        self._arrived.set()

    async def wait_for(self, topic, payload):
        """Every message received up to and including (topic, payload)."""
        async def arrived():
            while (topic, payload) not in self.messages:
                self._arrived.clear()
                await self._arrived.wait()
        await asyncio.wait_for(arrived(), WAIT_S)
        return self.messages[:self.messages.index((topic, payload)) + 1]


class MosquittoSub:
    """mosquitto_sub in the background: waits for its SUBACK, then for messages."""

    def __init__(self, broker, username, password, client_id, filters):
        self._args = broker.cli_args(username, password, client_id) + ["-d", "-q", "1", "-F", "MSG %t %p"]
        for topic_filter in filters:
            self._args += ["-t", topic_filter]
        self.messages = []
        self.output = []
        self.granted = None

    async def __aenter__(self):
        self._process = await asyncio.create_subprocess_exec(
            "stdbuf", "-oL", "mosquitto_sub", *self._args, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT)
        try:
            line = await self._read_until(lambda text: text.startswith("Subscribed (mid"))
            self.granted = [int(code) for code in line.rsplit(":", 1)[1].split(",")]
        except BaseException:
            await self.__aexit__(None, None, None)
            raise
        return self

    async def __aexit__(self, *exc_info):
        if self._process.returncode is None:
            self._process.terminate()
            await self._process.wait()

    async def wait_for(self, topic, payload):
        """Every message received up to and including (topic, payload)."""
        wanted = (topic, payload)
        if wanted not in self.messages:
            await self._read_until(lambda text: wanted in self.messages)
        return self.messages[:self.messages.index(wanted) + 1]

    async def wait_exit(self):
        """(exit code, whole output) once mosquitto_sub has ended by itself."""
        rest = await asyncio.wait_for(self._process.stdout.read(), WAIT_S)
        self.output += rest.decode(errors="replace").splitlines()
        return await self._process.wait(), "\n".join(self.output)

    async def _read_until(self, done):
        async def read():
            while True:
                raw = await self._process.stdout.readline()
                if not raw:
                    raise AssertionError("mosquitto_sub ended:\n" + "\n".join(self.output))
                text = raw.decode(errors="replace").rstrip("\n")
                self.output.append(text)
                if text.startswith("MSG "):
                    self.messages.append(tuple(text[4:].split(" ", 1)))
                if done(text):
                    return text
        return await asyncio.wait_for(read(), WAIT_S)


async def mosquitto_pub(args, topic, payload, retain=False):
    """Publish once with mosquitto_pub at QoS 1; (exit code, output)."""
    process = await asyncio.create_subprocess_exec(
        "mosquitto_pub", *args, "-q", "1", "-t", topic, "-m", payload, *(["-r"] if retain else []),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    try:
        output, _ = await asyncio.wait_for(process.communicate(), WAIT_S)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    return process.returncode, output.decode(errors="replace")


async def connected(client, inbox=None, subscribe=()):
    """connect() a client, start its loop and subscribe; returns it."""
    if inbox is not None:
        client.on_message = inbox
    await client.connect()
    client.start()
    for topic_filter in subscribe:
        await client.subscribe(topic_filter, qos=1)
    return client


def broker_pid(broker):
    return int((broker.info.state_dir / "mosquitto.pid").read_text())


# ---- who may connect -----------------------------------------------------------------


def test_wrong_password_is_refused(broker):
    password = broker.add_device("dev-a")

    async def scenario():
        for username, secret in (("dev-a", password + "x"), ("dev-zz", password),
                                 (broker.fleet_username, "guess")):
            with pytest.raises(MqttError) as refused:
                await broker.client(username, username, secret).connect()
            assert refused.value.code == NOT_AUTHORISED
        with pytest.raises(MqttError):  # anonymous
            await broker.client("anon", None, None).connect()
        right = await connected(broker.client("dev-a", "dev-a", password))  # positive control
        await right.stop()
        code, output = await mosquitto_pub(broker.cli_args("dev-a", "nope", "dev-a"),
                                           device_topic("dev-a", "status"), "x")
        assert code != 0 and "not authorised" in output
    run(scenario())


def test_device_added_at_runtime_connects_without_restart(broker):
    pid = broker_pid(broker)

    async def scenario():
        with pytest.raises(MqttError):
            await broker.client("dev-new", "dev-new", "pw-new").connect()
        broker.add_device("dev-new", "pw-new")
        async with MosquittoSub(broker, broker.fleet_username, broker.fleet_password, "watcher",
                                ["pipit/v1/#"]) as fleet:
            device = await connected(broker.client("dev-new", "dev-new", "pw-new"))
            await device.publish(device_topic("dev-new", "hello"), b"hi", qos=1)
            await fleet.wait_for(device_topic("dev-new", "hello"), "hi")
            await device.stop()
    run(scenario())
    assert broker_pid(broker) == pid and broker_process.is_running(broker.info.state_dir)


def test_revoked_device_is_refused_and_its_live_connection_dropped(broker):
    password = broker.add_device("dev-a")
    command = device_topic("dev-a", "command")

    async def scenario():
        fleet = await connected(broker.fleet_client())
        async with MosquittoSub(broker, "dev-a", password, "dev-a", [command]) as device:
            await fleet.publish(command, b"before", qos=1)
            await device.wait_for(command, "before")  # the link is live
            broker.revoke_device("dev-a")
            code, output = await device.wait_exit()
        assert code != 0 and "not authorised" in output, output
        with pytest.raises(MqttError) as refused:
            await broker.client("dev-a", "dev-a", password).connect()
        assert refused.value.code == NOT_AUTHORISED
        await fleet.stop()
    run(scenario())
    broker.revoke_device("dev-a")  # revoking twice is not an error


def test_client_id_is_pinned_to_its_device(broker):
    pw_a, pw_b = broker.add_device("dev-a"), broker.add_device("dev-b")
    command = device_topic("dev-a", "command")

    async def scenario():
        inbox = Inbox()
        device_a = await connected(broker.client("dev-a", "dev-a", pw_a), inbox, [command])
        with pytest.raises(MqttError) as refused:  # B would take over A's session
            await broker.client("dev-a", "dev-b", pw_b).connect()
        assert refused.value.code == NOT_AUTHORISED
        with pytest.raises(MqttError):
            await broker.client("not-dev-a", "dev-a", pw_a).connect()
        fleet = await connected(broker.fleet_client())
        await fleet.publish(command, b"still-here", qos=1)
        await inbox.wait_for(command, "still-here")  # A was not kicked
        assert device_a.stats["connects"] == 1
        await device_a.stop()
        await fleet.stop()
    run(scenario())


# ---- what a device may touch -------------------------------------------------------------


def test_device_cannot_publish_to_another_devices_topics(broker):
    pw_a = broker.add_device("dev-a")
    broker.add_device("dev-b")

    async def scenario():
        async with MosquittoSub(broker, broker.fleet_username, broker.fleet_password, "watcher",
                                ["pipit/v1/#"]) as fleet:
            device_a = await connected(broker.client("dev-a", "dev-a", pw_a))
            for kind in ("status", "hello", "telemetry", "config/ack", "command/ack"):
                await device_a.publish(device_topic("dev-b", kind), b"forged", qos=1, retain=kind == "status")
            await device_a.publish(device_topic("dev-a", "config"), b"own-config", qos=1, retain=True)
            await device_a.publish(device_topic("dev-a", "status"), b"marker-a", qos=1, retain=True)
            seen = await fleet.wait_for(device_topic("dev-a", "status"), "marker-a")
            assert seen == [(device_topic("dev-a", "status"), "marker-a")]
            await device_a.stop()  # one connection per client id: the CLI would take over
            code, _ = await mosquitto_pub(broker.cli_args("dev-a", pw_a, "dev-a"),
                                          device_topic("dev-b", "hello"), "forged-by-cli")
            assert code == 0  # mosquitto acknowledges, and drops it
            await mosquitto_pub(broker.cli_args("dev-a", pw_a, "dev-a"),
                                device_topic("dev-a", "hello"), "marker-2")
            seen = await fleet.wait_for(device_topic("dev-a", "hello"), "marker-2")
            assert [m for m in seen if "forged" in m[1]] == []
        # Nothing forged was retained either: a new subscriber gets only A's own status.
        async with MosquittoSub(broker, broker.fleet_username, broker.fleet_password, "late",
                                ["pipit/v1/devices/+/status", "pipit/v1/devices/+/config"]) as late:
            await late.wait_for(device_topic("dev-a", "status"), "marker-a")
            fleet = await connected(broker.fleet_client())
            await fleet.publish(device_topic("dev-a", "config"), b"marker-3", qos=1)
            seen = await late.wait_for(device_topic("dev-a", "config"), "marker-3")
            assert sorted(seen) == sorted([(device_topic("dev-a", "status"), "marker-a"),
                                           (device_topic("dev-a", "config"), "marker-3")])
            await fleet.stop()
    run(scenario())


def test_device_cannot_read_another_devices_command(broker):
    pw_a, pw_b = broker.add_device("dev-a"), broker.add_device("dev-b")
    command_a, command_b = device_topic("dev-a", "command"), device_topic("dev-b", "command")

    async def scenario():
        inbox_a, inbox_b = Inbox(), Inbox()
        device_a = await connected(broker.client("dev-a", "dev-a", pw_a), inbox_a, [command_a])
        device_b = await connected(broker.client("dev-b", "dev-b", pw_b), inbox_b, [command_b])
        for forbidden in (command_b, device_topic("dev-b", "config"), "pipit/v1/#"):
            try:  # mosquitto grants it (ACLs apply on delivery); only delivery matters
                await device_a.subscribe(forbidden)
            except MqttError:
                pass
        fleet = await connected(broker.fleet_client())
        await fleet.publish(command_b, b"secret-for-b", qos=1)
        await fleet.publish(command_a, b"marker-a", qos=1)
        await inbox_b.wait_for(command_b, "secret-for-b")  # positive control
        assert await inbox_a.wait_for(command_a, "marker-a") == [(command_a, "marker-a")]
        for client in (device_a, device_b, fleet):
            await client.stop()
    run(scenario())


def test_device_cannot_see_others_through_wildcards(broker):
    pw_a, pw_b = broker.add_device("dev-a"), broker.add_device("dev-b")
    command_a = device_topic("dev-a", "command")

    async def scenario():
        fleet = await connected(broker.fleet_client(), Inbox(), ["pipit/v1/#"])
        async with MosquittoSub(broker, "dev-a", pw_a, "dev-a",
                                ["pipit/v1/#", "#", "pipit/v1/devices/+/command", command_a]) as device_a:
            device_b = await connected(broker.client("dev-b", "dev-b", pw_b))
            await device_b.publish(device_topic("dev-b", "telemetry"), b"b-telemetry", qos=1)
            await fleet.on_message.wait_for(device_topic("dev-b", "telemetry"), "b-telemetry")
            await fleet.publish(device_topic("dev-b", "command"), b"b-command", qos=1)
            await fleet.publish(command_a, b"marker-a", qos=1)
            assert await device_a.wait_for(command_a, "marker-a") == [(command_a, "marker-a")]
            await device_b.stop()
        await fleet.stop()
    run(scenario())


def test_device_cannot_use_the_admin_api(broker):
    pw_a, pw_b = broker.add_device("dev-a"), broker.add_device("dev-b")
    command_a = device_topic("dev-a", "command")

    async def scenario():
        inbox = Inbox()
        device_a = await connected(broker.client("dev-a", "dev-a", pw_a), inbox, [command_a])
        try:  # granted or not, no reply may reach it (checked below)
            await device_a.subscribe(dynsec.RESPONSE_TOPIC)
        except MqttError:
            pass
        commands = [{"command": "createClient", "username": "dev-evil", "password": "evil"},
                    {"command": "deleteClient", "username": "dev-b"}]
        # PUBACK comes after the broker handled the message: had it been obeyed, it is done.
        await device_a.publish(dynsec.CONTROL_TOPIC, json.dumps({"commands": commands}), qos=1)
        broker.add_device("dev-c")  # the admin's request and its reply on the response topic
        fleet = await connected(broker.fleet_client())
        await fleet.publish(command_a, b"marker-a", qos=1)
        assert await inbox.wait_for(command_a, "marker-a") == [(command_a, "marker-a")]
        with pytest.raises(MqttError):
            await broker.client("dev-evil", "dev-evil", "evil").connect()
        device_b = await connected(broker.client("dev-b", "dev-b", pw_b))  # not deleted
        for client in (device_a, device_b, fleet):
            await client.stop()
    run(scenario())


def test_fleet_reads_and_writes_everything(broker):
    passwords = {device_id: broker.add_device(device_id) for device_id in ("dev-a", "dev-b")}

    async def scenario():
        fleet_inbox = Inbox()
        fleet = await connected(broker.fleet_client(), fleet_inbox, ["pipit/v1/#"])
        for device_id, password in passwords.items():
            device = await connected(broker.client(device_id, device_id, password))
            for kind in ("status", "hello", "config/ack", "session/request", "command/ack", "telemetry"):
                await device.publish(device_topic(device_id, kind), kind.encode(), qos=1)
                await fleet_inbox.wait_for(device_topic(device_id, kind), kind)
            await device.stop()
        code, _ = await mosquitto_pub(broker.cli_args(broker.fleet_username, broker.fleet_password),
                                      device_topic("dev-a", "config"), "cfg-1", retain=True)
        assert code == 0
        inbox = Inbox()
        device = await connected(broker.client("dev-a", "dev-a", passwords["dev-a"]), inbox,
                                 [device_topic("dev-a", k) for k in ("config", "session/grant", "command")])
        await inbox.wait_for(device_topic("dev-a", "config"), "cfg-1")  # retained
        for kind in ("session/grant", "command"):
            await fleet.publish(device_topic("dev-a", kind), kind.encode(), qos=1)
            await inbox.wait_for(device_topic("dev-a", kind), kind)
        await fleet.publish("pipit/v1/gateways/gw-one/sessions", b"add", qos=1)
        await fleet_inbox.wait_for("pipit/v1/gateways/gw-one/sessions", "add")
        for client in (device, fleet):
            await client.stop()
    run(scenario())


# ---- TLS --------------------------------------------------------------------------------


def test_no_connection_without_tls_or_with_an_untrusted_ca(broker, tmp_path):
    password = broker.add_device("dev-a")
    other_ca = certs.ensure_tls(tmp_path / "other").ca_cert

    async def scenario():
        plain = MqttClient("dev-a", broker.host, broker.tls_port, username="dev-a", password=password,
                           connect_timeout_ms=3000)
        with pytest.raises(MqttError):
            await plain.connect()
        untrusted = MqttClient("dev-a", broker.host, broker.tls_port, username="dev-a", password=password,
                               ssl_context=ssl.create_default_context(cafile=str(other_ca)),
                               server_hostname=broker.server_hostname)
        with pytest.raises(MqttError) as refused:
            await untrusted.connect()
        assert "CERTIFICATE_VERIFY_FAILED" in str(refused.value)
        trusted = await connected(broker.client("dev-a", "dev-a", password))  # positive control
        await trusted.stop()
        args = broker.cli_args("dev-a", password, "dev-a")
        cafile = args.index("--cafile")
        no_tls = args[:cafile] + args[cafile + 2:]
        other = args[:cafile + 1] + [str(other_ca)] + args[cafile + 2:]
        for cli in (no_tls, other):
            code, output = await mosquitto_pub(cli, device_topic("dev-a", "hello"), "x")
            assert code != 0, output
        code, output = await mosquitto_pub(args, device_topic("dev-a", "hello"), "x")
        assert code == 0, output
    run(scenario())


# ---- persistence, restart, bulk -------------------------------------------------------------


def test_restart_keeps_accounts_retained_messages_and_queued_commands(broker):
    password = broker.add_device("dev-a")
    config, command = device_topic("dev-a", "config"), device_topic("dev-a", "command")

    async def scenario():
        device = await connected(broker.client("dev-a", "dev-a", password, clean_session=False),
                                 Inbox(), [command])
        await device.stop()
        fleet = await connected(broker.fleet_client())
        await fleet.publish(config, b"cfg-7", qos=1, retain=True)
        await fleet.publish(command, b"queued-while-offline", qos=1)
        await fleet.stop()
        pid = broker_pid(broker)
        broker.restart()
        assert broker_pid(broker) != pid
        inbox = Inbox()
        device = broker.client("dev-a", "dev-a", password, clean_session=False, on_message=inbox)
        assert await device.connect() is True  # session present
        device.start()
        await inbox.wait_for(command, "queued-while-offline")
        await device.subscribe(config)
        await inbox.wait_for(config, "cfg-7")
        await device.stop()
    run(scenario())


def test_enrol_1000_devices_in_one_batch(broker):
    devices = [("dev-%04d" % index, "pw-%04d-secret" % index) for index in range(1000)]
    started = time.perf_counter()
    broker.add_devices(devices)
    elapsed_s = time.perf_counter() - started
    print("\nenrolled %d devices in %.2f s" % (len(devices), elapsed_s))

    async def scenario():
        fleet = await connected(broker.fleet_client(), Inbox(), ["pipit/v1/devices/+/hello"])
        for device_id, password in (devices[0], devices[499], devices[-1]):
            device = await connected(broker.client(device_id, device_id, password))
            await device.publish(device_topic(device_id, "hello"), b"hi", qos=1)
            await fleet.on_message.wait_for(device_topic(device_id, "hello"), "hi")
            await device.stop()
        await fleet.stop()
    run(scenario())
    with pytest.raises(DynsecError) as refused:
        broker.add_devices([("dev-0007", "again"), ("dev-new", "fresh")])
    assert refused.value.failures == [("dev-0007", "Client already exists")]


def test_import_10000_device_hashes_offline(broker):
    runtime_password = broker.add_device("dev-runtime")
    hashes = [("bulk-%05d" % index, passwords.hash_password("pw-%05d" % index, iterations=101))
              for index in range(10000)]
    started = time.perf_counter()
    pipit_broker.import_device_hashes(broker.info, hashes)
    print("\nimported %d device hashes (restart included) in %.2f s"
          % (len(hashes), time.perf_counter() - started))

    async def scenario():
        fleet = await connected(broker.fleet_client(), Inbox(), ["pipit/v1/devices/+/hello"])
        for device_id, password in (("bulk-00000", "pw-00000"), ("bulk-09999", "pw-09999"),
                                    ("dev-runtime", runtime_password)):
            device = await connected(broker.client(device_id, device_id, password))
            await device.publish(device_topic(device_id, "hello"), b"hi", qos=1)
            await fleet.on_message.wait_for(device_topic(device_id, "hello"), "hi")
            await device.stop()
        with pytest.raises(MqttError):
            await broker.client("bulk-00001", "bulk-00001", "pw-00000").connect()
        await fleet.stop()
    run(scenario())
    broker.revoke_device("bulk-00002")  # the API still works on imported accounts
    with pytest.raises(ValueError):
        pipit_broker.import_device_hashes(broker.info, [("dev-x", "plaintext")])
    assert broker_process.is_running(broker.info.state_dir)  # refused input, broker back up


def test_add_devices_checks_its_input_before_sending(broker):
    with pytest.raises(ValueError):
        broker.add_devices([("Bad_Id", "pw")])
    with pytest.raises(ValueError):
        broker.add_devices([("dev-a", "pw"), ("dev-a", "pw")])
    with pytest.raises(ValueError):
        broker.add_device(broker.fleet_username, "pw")
    with pytest.raises(ValueError):
        broker.add_device("dev-a", "")


def test_dynsec_roles_take_percent_c_literally(broker):
    """Why device ACLs are ACL-file patterns: mosquitto 2.0.11's dynsec has no %c/%u."""
    password = broker.add_device("dev-c")
    extra = "pipit/v1/devices/dev-c/extra"
    literal = "pipit/v1/devices/%c/extra"

    async def scenario():
        async with DynsecAdmin(broker.info) as admin:
            responses = await admin.execute([
                {"command": "createRole", "rolename": "pattern-probe",
                 "acls": [{"acltype": "publishClientSend", "topic": literal, "allow": True}]},
                {"command": "addClientRole", "username": "dev-c", "rolename": "pattern-probe"}])
        assert [r.get("error") for r in responses] == [None, None]
        fleet = await connected(broker.fleet_client(), Inbox(), ["pipit/v1/#"])
        device = await connected(broker.client("dev-c", "dev-c", password))
        await device.publish(extra, b"substituted", qos=1)
        await device.publish(literal, b"literal", qos=1)
        seen = await fleet.on_message.wait_for(literal, "literal")
        assert seen == [(literal, "literal")]
        for client in (device, fleet):
            await client.stop()
    run(scenario())


# ---- files and process -------------------------------------------------------------------------


def test_ensure_broker_is_idempotent_and_restarts_only_on_change(broker):
    state_dir, port = broker.info.state_dir, broker.tls_port
    pid = broker_pid(broker)
    ca = broker.ca_path.read_bytes()
    assert pipit_broker.ensure_broker(state_dir, port=port) == broker.info
    assert broker_pid(broker) == pid
    info = pipit_broker.ensure_broker(state_dir, port=port, server_names=("pipit.local",),
                                      server_ips=("192.0.2.7",))
    assert broker_pid(broker) != pid and info.ca_path.read_bytes() == ca
    cert = x509.load_pem_x509_certificate((state_dir / "tls" / "server.crt").read_bytes())
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert {"localhost", "pipit.local"} <= set(san.get_values_for_type(x509.DNSName))
    assert {"127.0.0.1", "192.0.2.7"} <= {str(ip) for ip in san.get_values_for_type(x509.IPAddress)}
    assert broker_process.stop_broker(state_dir) is True
    assert not broker_process.is_running(state_dir) and broker_process.stop_broker(state_dir) is False
    assert pipit_broker.broker_info(state_dir) == info  # another process can find it
    pipit_broker.ensure_broker(state_dir, port=port, server_names=("pipit.local",),
                               server_ips=("192.0.2.7",))
    assert broker_process.is_running(state_dir)


def test_generated_files(broker):
    state_dir = broker.info.state_dir
    conf = (state_dir / "mosquitto.conf").read_text().splitlines()
    listeners = [line for line in conf if line.startswith("listener")]
    assert listeners == ["listener %d 127.0.0.1" % broker.tls_port]  # TLS only: no plain one
    for expected in ("per_listener_settings false", "allow_anonymous false", "persistence true",
                     "tls_version tlsv1.2", "certfile %s" % (state_dir / "tls" / "server.crt")):
        assert expected in conf
    for secret in ("tls/ca.key", "tls/server.key", "credentials.json", "dynsec.json"):
        assert stat.S_IMODE(os.stat(state_dir / secret).st_mode) == 0o600, secret
    assert stat.S_IMODE(os.stat(state_dir).st_mode) == 0o700
    acl = (state_dir / "acl").read_text()
    assert "pattern write pipit/v1/devices/%u/status" in acl and "topic readwrite pipit/v1/#" in acl
    assert "pattern read pipit/v1/devices/%u/command" in acl and "%u/#" not in acl
    seed = json.loads((state_dir / "dynsec.json").read_text())
    assert seed["defaultACLAccess"]["publishClientSend"] is False
    assert seed["defaultACLAccess"]["publishClientReceive"] is False


def test_ca_is_p256_for_ten_years_and_reused(tmp_path):
    first = certs.ensure_tls(tmp_path / "tls", names=("pipit.lan",), ips=("10.0.0.2",))
    ca_bytes = first.ca_cert.read_bytes()
    ca = x509.load_pem_x509_certificate(ca_bytes)
    assert isinstance(ca.public_key(), ec.EllipticCurvePublicKey)
    assert ca.public_key().curve.name == "secp256r1"
    assert (ca.not_valid_after_utc - ca.not_valid_before_utc).days >= 3650
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    server = x509.load_pem_x509_certificate(first.server_cert.read_bytes())
    server.verify_directly_issued_by(ca)
    again = certs.ensure_tls(tmp_path / "tls", names=("pipit.lan",))
    assert again.ca_cert.read_bytes() == ca_bytes
    assert again.server_cert.read_bytes() == first.server_cert.read_bytes()  # nothing new needed
    for key in (first.ca_key, first.server_key):
        assert stat.S_IMODE(os.stat(key).st_mode) == 0o600


def test_a_reissued_server_certificate_starts_when_the_ca_does(tmp_path):
    # A board without NTP sets its clock to when it was flashed (device/hal/wall_clock.py):
    # a broker certificate issued after that must not start after it.
    first = certs.ensure_tls(tmp_path / "tls")
    first_server = first.server_cert.read_bytes()
    again = certs.ensure_tls(tmp_path / "tls", names=("speaker-hub.lan",))  # a new name: reissued
    ca = x509.load_pem_x509_certificate(again.ca_cert.read_bytes())
    server = x509.load_pem_x509_certificate(again.server_cert.read_bytes())
    assert again.server_cert.read_bytes() != first_server
    assert server.not_valid_before_utc == ca.not_valid_before_utc
