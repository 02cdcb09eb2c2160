"""SDP (RFC 8866) describing a pipit uplink, so any RTP receiver can take it.

ffmpeg, GStreamer or VLC given this file receive the device's stream on the
gateway's address: codec per RFC 7587 / RFC 3551, RTCP multiplexed on the
media port (RFC 5761) and SDES keys (RFC 4568) for SRTP.
"""
import base64

from device import codec


def _rtpmap(session):
    if session.codec == codec.OPUS:
        # RFC 7587: always opus/48000/2, whatever the real rate and channels.
        return "opus/48000/2"
    return "L16/%d/%d" % (session.sample_rate_hz, session.channels)


def _fmtp(session):
    if session.codec == codec.OPUS:
        stereo = "1" if session.channels == 2 else "0"
        return "minptime=10;useinbandfec=1;stereo=%s;sprop-stereo=%s;maxplaybackrate=%d" % (
            stereo, stereo, session.sample_rate_hz)
    return None


def uplink_sdp(session, session_id=None):
    """SDP text for receiving the device's uplink at the gateway address."""
    pt = session.payload_type
    key_salt = base64.b64encode(session.srtp_key_and_salt).decode()
    origin = session_id if session_id is not None else session.uplink_ssrc
    lines = [
        "v=0",
        "o=- %d 1 IN IP4 %s" % (origin, session.gateway_host),
        "s=pipit uplink %08x" % session.uplink_ssrc,
        "c=IN IP4 %s" % session.gateway_host,
        "t=0 0",
        "m=audio %d RTP/SAVP %d" % (session.gateway_port, pt),
        "a=rtpmap:%d %s" % (pt, _rtpmap(session)),
    ]
    fmtp = _fmtp(session)
    if fmtp:
        lines.append("a=fmtp:%d %s" % (pt, fmtp))
    lines += [
        "a=ptime:%d" % session.frame_ms,
        "a=rtcp-mux",
        "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:%s" % key_salt,
        "a=ssrc:%d cname:pipit-device" % session.uplink_ssrc,
        "a=recvonly",
    ]
    return "\r\n".join(lines) + "\r\n"
