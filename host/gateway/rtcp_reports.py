"""The gateway's side of RTCP for one session: what it learns, what it reports.

Pure: times come from the caller. It remembers the device's last sender
report (LSR, and when it arrived, for DLSR), builds the receiver report about
the uplink, and computes the round-trip time when the device's reports about
our downlink carry an LSR of ours (once the gateway sends SRs on a downlink).
"""
from device import rtcp, rtcp_time

DEFAULT_CNAME = "pipit-gateway"


class ReportState:
    """RTCP bookkeeping of one session (uplink SSRC in, downlink SSRC out)."""

    def __init__(self, uplink_ssrc, downlink_ssrc, reception, cname=DEFAULT_CNAME):
        self.uplink_ssrc = uplink_ssrc
        self.downlink_ssrc = downlink_ssrc
        self._reception = reception
        self._sdes = rtcp.sdes_cname(downlink_ssrc, cname)
        self.last_sr_compact_ntp = 0
        self.last_sr_arrival_s = None
        self.sender_reports = 0
        self.rtt_s = None
        self.device_report = None  # latest ReportBlock the device sent about our downlink

    def on_compound(self, packets, arrival_s, arrival_ntp):
        """Take a parsed compound from the device; True if it held an SR from it.

        arrival_s is on the caller's monotonic clock (for DLSR); arrival_ntp is
        the 64-bit NTP wall-clock time of arrival (for the round trip).
        """
        got_sr = False
        for packet in packets:
            if isinstance(packet, rtcp.SenderReport) and packet.ssrc == self.uplink_ssrc:
                self.last_sr_compact_ntp = rtcp_time.compact_ntp(packet.ntp_timestamp)
                self.last_sr_arrival_s = arrival_s
                self.sender_reports += 1
                got_sr = True
            if isinstance(packet, (rtcp.SenderReport, rtcp.ReceiverReport)):
                self._take_blocks(packet.reports, arrival_ntp)
        return got_sr

    def _take_blocks(self, blocks, arrival_ntp):
        for block in blocks:
            if block.ssrc != self.downlink_ssrc:
                continue
            self.device_report = block
            rtt = rtcp_time.round_trip_s(rtcp_time.compact_ntp(arrival_ntp), block.lsr, block.dlsr)
            if rtt is not None:
                self.rtt_s = rtt

    def receiver_report(self, now_s):
        """Clear (unprotected) compound RR + SDES about the uplink, as bytes."""
        reports = []
        if self._reception.packets_received:
            dlsr = 0
            if self.last_sr_arrival_s is not None:
                # DLSR: 1/65536 s since the SR arrived (RFC 3550 6.4.1).
                dlsr = min(int((now_s - self.last_sr_arrival_s) * 65536), 0xFFFFFFFF)
            reports.append(self._reception.report_block(
                self.uplink_ssrc, self.last_sr_compact_ntp, max(dlsr, 0)))
        report = rtcp.ReceiverReport(self.downlink_ssrc, reports)
        return rtcp.build_compound([report, self._sdes])
