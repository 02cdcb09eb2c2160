"""Enrolling and revoking devices: registry, broker account and bootstrap file together.

Each step's failure leaves no half-enrolled device behind: the broker account
is created only after the registry accepted the id, and a broker failure
revokes the registry entry again.
"""
from pathlib import Path

from device.control.messages import Status
from device.identity import Identity
from host.fleet import broker as pipit_broker
from host.fleet.dynsec import run_sync
from host.fleet.operations import publish_status


def enroll_device(registry, broker_info, device_id, board="virtual", tags=(), connect_host=None):
    """Enroll one device; return its Identity (the only place its password appears)."""
    password = registry.enroll(device_id, board, tags)
    try:
        pipit_broker.add_device(broker_info, device_id, password)
    except Exception:
        registry.revoke(device_id)
        raise
    # Every device starts with a desired config (the defaults), so its first
    # boot ends with a config acknowledged, as every later change will.
    registry.set_config(device_id, {})
    return Identity(device_id, password, connect_host or broker_info.connect_host, broker_info.port,
                    Path(broker_info.ca_path).read_text(), board or "virtual")


def enroll_devices(registry, broker_info, device_ids, board="virtual", tags=()):
    """Enroll many devices in batches; {device_id: Identity}."""
    passwords = registry.enroll_many(device_ids, board, tags)
    try:
        pipit_broker.add_devices(broker_info, list(passwords.items()))
    except Exception:
        for device_id in passwords:
            registry.revoke(device_id)
        raise
    for device_id in device_ids:
        registry.set_config(device_id, {})
    ca_pem = Path(broker_info.ca_path).read_text()
    return {device_id: Identity(device_id, password, broker_info.connect_host, broker_info.port,
                                ca_pem, board or "virtual")
            for device_id, password in passwords.items()}


def revoke_device(registry, broker_info, device_id):
    """Revoke in the registry and at the broker (which drops a live connection); mark it offline."""
    registry.revoke(device_id)
    pipit_broker.revoke_device(broker_info, device_id)
    # The broker drops the link without publishing the device's will, so its
    # retained status would say "online" for good. The host says "offline"
    # instead, and a fleet service retires the device's media sessions on it.
    status = Status("offline", registry.get(device_id).firmware or "unknown")
    run_sync(lambda: publish_status(broker_info, device_id, status))
