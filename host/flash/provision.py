"""The device's identity for a flash: enrol it if it is new, reuse its bootstrap file if not."""
import time

from device import identity as identity_file
from device.control.topics import check_device_id
from host.fleet import broker as pipit_broker
from host.fleet.enrolment import enroll_device
from host.fleet.operations import broker_for
from host.flash.errors import FlashError

STEP = "enrol device"


def default_device_id(mac):
    """pipit-<last three MAC bytes>: stable for one board, unique enough on a desk."""
    return "pipit-" + mac.replace(":", "")[-6:].lower()


def _broker(paths):
    try:
        return broker_for(paths)
    except pipit_broker.BrokerError as error:
        raise FlashError(STEP, str(error), "start the broker first: pipit broker start")


def device_identity(paths, registry, board, settings, device_id):
    """(Identity, enrolled_now). The bootstrap file under paths.devices is kept in step."""
    try:
        check_device_id(device_id)
    except ValueError as error:
        raise FlashError(STEP, str(error), "pass --device-id with 3..32 of a-z, 0-9 and -")
    info = _broker(paths)
    bootstrap = paths.devices / (device_id + ".json")
    record = registry.get(device_id)
    if record is None:
        try:
            identity = enroll_device(registry, info, device_id, board.id, settings.tags,
                                     connect_host=settings.broker_host)
        except ValueError as error:
            raise FlashError(STEP, str(error), "pick another --device-id")
        created = True
    elif record.revoked:
        raise FlashError(STEP, "device %s was revoked" % device_id, "flash it under another --device-id")
    elif not bootstrap.exists():
        raise FlashError(STEP, "device %s is enrolled but its bootstrap file %s is gone (its password "
                         "was only there)" % (device_id, bootstrap),
                         "pipit fleet revoke %s, then flash under another --device-id" % device_id)
    else:
        identity = identity_file.load(bootstrap)
        created = False
    identity.board = board.id
    if settings.broker_host:
        identity.broker_host = settings.broker_host
    if settings.wifi_ssid is not None:
        identity.wifi_ssid, identity.wifi_password = settings.wifi_ssid, settings.wifi_password or ""
    # The board's clock floor for TLS when NTP fails (device/hal/wall_clock.py):
    # now is after the CA, and so after every broker certificate's start.
    identity.ntp_host = settings.ntp_host
    identity.provisioned_at_s = int(time.time())
    bootstrap.parent.mkdir(parents=True, exist_ok=True)
    identity_file.save(identity, bootstrap)
    bootstrap.chmod(0o600)
    return identity, created
