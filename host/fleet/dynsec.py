"""Broker accounts through mosquitto's dynamic security plugin ($CONTROL API).

A device account is a dynsec client whose username and pinned client id are
the device id, so no other account can take that client id (and with it the
session). Accounts carry no roles: with all default ACL access denied the
plugin defers, and the broker's pattern ACL (broker_files.render_acl) decides.

Changes go over MQTT to $CONTROL/dynamic-security/v1 as the admin account,
many commands per message, and take effect at once: deleting a client also
drops its live connection. The plugin rewrites its JSON file after every
command, so batches keep the message count low, not the work.
"""
import asyncio
import concurrent.futures
import json
import secrets
from typing import NamedTuple

from device.control import topics
from device.mqtt import MqttClient, MqttError
from host.fleet import certs, passwords

CONTROL_ROOT = "$CONTROL/dynamic-security"
CONTROL_TOPIC = CONTROL_ROOT + "/v1"
RESPONSE_TOPIC = CONTROL_TOPIC + "/response"
# An underscore is not allowed in a device id, so no device can ever take this name.
ADMIN_USERNAME = "pipit_admin"
BATCH_COMMANDS = 100
REPLY_TIMEOUT_MS = 60000
_MAX_REPLY_BYTES = 1 << 20
_NOT_FOUND = "Client not found"


class Credentials(NamedTuple):
    """A username and password for the broker."""

    username: str
    password: str

    def __repr__(self):
        return "Credentials(username=%r, password=<hidden>)" % (self.username,)


class DynsecError(RuntimeError):
    """The broker refused some commands; failures lists (name, error) pairs."""

    def __init__(self, message, failures=()):
        RuntimeError.__init__(self, message)
        self.failures = list(failures)


def write_seed(path, admin, fleet):
    """The plugin's initial JSON: the admin and fleet accounts, every default access denied."""
    seed = {
        "defaultACLAccess": {
            "publishClientSend": False, "publishClientReceive": False,
            # Unsubscribing can only take away what a client receives.
            "subscribe": False, "unsubscribe": True,
        },
        "clients": [client_entry(admin.username, admin.password),
                    client_entry(fleet.username, fleet.password)],
        "groups": [],
        "roles": [],
    }
    certs.write_private(path, (json.dumps(seed, indent=1) + "\n").encode())


def client_entry(username, password, clientid=None):
    """A dynsec client record, its password hashed the way the plugin checks it."""
    return client_entry_from_hash(username, passwords.hash_password(password), clientid)


def client_entry_from_hash(username, stored_hash, clientid=None):
    """A dynsec client record from a mosquitto $7$ hash (PBKDF2-SHA512, as the plugin uses)."""
    parts = stored_hash.split("$") if isinstance(stored_hash, str) else ()
    if len(parts) != 5 or parts[:2] != ["", "7"] or not parts[2].isdigit():
        raise ValueError("dynsec: %r: not a $7$<iterations>$<salt>$<hash> password hash" % (username,))
    entry = {"username": username, "password": parts[4], "salt": parts[3],
             "iterations": int(parts[2]), "roles": []}
    if clientid is not None:
        entry["clientid"] = clientid
    return entry


def import_device_hashes(path, devices):
    """Write device accounts from [(device_id, $7$ hash)] into the plugin's file (broker stopped).

    The offline path: linear in the number of devices, where the $CONTROL API
    costs a rewrite of the whole file per device. Existing ids are replaced.
    """
    entries = [client_entry_from_hash(topics.check_device_id(device_id), stored, device_id)
               for device_id, stored in devices]
    _check_unique([entry["username"] for entry in entries])
    config = json.loads(path.read_text())
    replaced = {entry["username"] for entry in entries}
    config["clients"] = [client for client in config.get("clients", [])
                         if client.get("username") not in replaced] + entries
    certs.write_private(path, (json.dumps(config) + "\n").encode())


def create_device_command(device_id, password):
    """createClient for a device: username and client id are its id."""
    topics.check_device_id(device_id)
    if not isinstance(password, str) or not password:
        raise ValueError("dynsec: device %r needs a non-empty password" % (device_id,))
    return {"command": "createClient", "username": device_id, "clientid": device_id,
            "password": password}


def delete_device_command(device_id):
    """deleteClient for a device (the broker also drops its connection)."""
    return {"command": "deleteClient", "username": topics.check_device_id(device_id)}


class DynsecAdmin:
    """One MQTT session as the dynsec admin; `async with DynsecAdmin(info) as admin:`."""

    def __init__(self, info, reply_timeout_ms=REPLY_TIMEOUT_MS):
        self._reply_timeout_ms = reply_timeout_ms
        self._waiting = {}  # batch token -> future of its responses
        self._client = MqttClient(
            "%s-%s" % (ADMIN_USERNAME, secrets.token_hex(4)), info.connect_host, info.port,
            username=info.admin.username, password=info.admin.password,
            ssl_context=info.ssl_context(), server_hostname=info.server_hostname,
            on_message=self._on_message, max_packet_bytes=_MAX_REPLY_BYTES)

    async def __aenter__(self):
        try:
            await self._client.connect()
            self._client.start()
            await self._client.subscribe(RESPONSE_TOPIC, qos=1)
        except MqttError as exc:
            await self._client.stop()
            raise DynsecError("dynsec: admin session failed: %s" % exc) from exc
        return self

    async def __aexit__(self, *exc_info):
        await self._client.stop()

    async def execute(self, commands):
        """Send commands as one message; their responses, in order (a dict each)."""
        token = secrets.token_hex(6)
        tagged = [dict(command, correlationData="%s:%d" % (token, index))
                  for index, command in enumerate(commands)]
        reply = asyncio.get_running_loop().create_future()
        self._waiting[token] = reply

        async def send_and_wait():
            await self._client.publish(CONTROL_TOPIC, json.dumps({"commands": tagged}), qos=1)
            return await reply
        try:
            responses = await asyncio.wait_for(send_and_wait(), self._reply_timeout_ms / 1000)
        except asyncio.TimeoutError:
            raise DynsecError("dynsec: no reply within %d ms" % self._reply_timeout_ms) from None
        finally:
            self._waiting.pop(token, None)
        if len(responses) != len(commands):
            raise DynsecError("dynsec: %d responses to %d commands" % (len(responses), len(commands)))
        return responses

    async def add_devices(self, devices):
        """Create accounts for [(device_id, password)]; DynsecError lists any refused."""
        commands = [create_device_command(device_id, password) for device_id, password in devices]
        _check_unique([command["username"] for command in commands])
        failures = await self._run_batches(commands, ignore=())
        if failures:
            raise DynsecError("dynsec: %d of %d devices not added: %s"
                              % (len(failures), len(commands), _summary(failures)), failures)

    async def revoke_devices(self, device_ids):
        """Delete accounts and drop their connections; unknown ids are already revoked."""
        commands = [delete_device_command(device_id) for device_id in device_ids]
        failures = await self._run_batches(commands, ignore=(_NOT_FOUND,))
        if failures:
            raise DynsecError("dynsec: %d devices not revoked: %s"
                              % (len(failures), _summary(failures)), failures)

    async def _run_batches(self, commands, ignore):
        failures = []
        for start in range(0, len(commands), BATCH_COMMANDS):
            batch = commands[start:start + BATCH_COMMANDS]
            for command, response in zip(batch, await self.execute(batch)):
                error = response.get("error")
                if error and error not in ignore:
                    failures.append((command["username"], error))
        return failures

    def _on_message(self, topic, payload, retain):
        try:
            responses = json.loads(payload)["responses"]
            token = next(r["correlationData"] for r in responses if "correlationData" in r)
        except (ValueError, KeyError, TypeError, StopIteration):
            return  # not a reply to any of our batches (another admin's, or malformed)
        reply = self._waiting.get(token.split(":", 1)[0])
        if reply is not None and not reply.done():
            reply.set_result(responses)


def add_device(info, device_id, password):
    """Create one device account on the running broker (no restart needed)."""
    add_devices(info, [(device_id, password)])


def add_devices(info, devices):
    """Create accounts for [(device_id, password)], many per message."""
    run_sync(lambda: _with_admin(info, lambda admin: admin.add_devices(devices)))


def revoke_device(info, device_id):
    """Delete one device account; the broker drops its live connection."""
    revoke_devices(info, [device_id])


def revoke_devices(info, device_ids):
    """Delete device accounts and drop their connections."""
    run_sync(lambda: _with_admin(info, lambda admin: admin.revoke_devices(device_ids)))


async def _with_admin(info, action):
    async with DynsecAdmin(info) as admin:
        return await action(admin)


def run_sync(make_coroutine):
    """Run a coroutine to completion, also from code already inside an event loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(make_coroutine())
    # A blocking call from a coroutine: its own loop in a worker thread.
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(lambda: asyncio.run(make_coroutine())).result()


def _check_unique(names):
    seen = set()
    for name in names:
        if name in seen:
            raise ValueError("dynsec: device %r listed twice" % (name,))
        seen.add(name)


def _summary(failures, limit=5):
    shown = ", ".join("%s (%s)" % pair for pair in failures[:limit])
    return shown + (", ..." if len(failures) > limit else "")
