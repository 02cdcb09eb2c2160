"""Creating media sessions: fresh SSRCs and SRTP keys for one device.

The format itself lives in device/session.py; this only fills it in with
randomness from the host's CSPRNG.
"""
import secrets

from device import codec
from device.session import SRTP_MASTER_KEY_SIZE, SRTP_MASTER_SALT_SIZE, MediaSession


def new_session(gateway_host, gateway_port, codec_name=codec.OPUS,
                sample_rate_hz=16000, frame_ms=20, channels=1):
    """A session with random SSRCs (distinct) and a fresh master key and salt."""
    uplink = secrets.randbits(32)
    downlink = secrets.randbits(32)
    while downlink == uplink:
        downlink = secrets.randbits(32)
    session = MediaSession(
        gateway_host=gateway_host,
        gateway_port=gateway_port,
        uplink_ssrc=uplink,
        downlink_ssrc=downlink,
        codec=codec_name,
        payload_type=codec.DEFAULT_PAYLOAD_TYPES[codec_name],
        sample_rate_hz=sample_rate_hz,
        frame_ms=frame_ms,
        srtp_master_key=secrets.token_bytes(SRTP_MASTER_KEY_SIZE),
        srtp_master_salt=secrets.token_bytes(SRTP_MASTER_SALT_SIZE),
        channels=channels,
    )
    # Round-trip through the validator so a bad argument fails here, not later.
    return MediaSession.from_dict(session.to_dict())
