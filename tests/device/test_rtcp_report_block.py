"""RTCP report blocks (RFC 3550 6.4.1): the signed 24-bit loss count and field bounds."""
import pytest

from device.rtcp_report_block import ReportBlock


def test_packets_lost_is_signed_24_bit():
    for lost, wire in ((0, "000000"), (1, "000001"), (-1, "ffffff"),
                       (0x7FFFFF, "7fffff"), (-0x800000, "800000")):
        data = ReportBlock(1, packets_lost=lost).to_bytes()
        assert data[5:8] == bytes.fromhex(wire)
        assert ReportBlock.parse(data).packets_lost == lost


@pytest.mark.parametrize("field, value", [
    ("fraction_lost", 256), ("fraction_lost", -1), ("packets_lost", 0x800000),
    ("packets_lost", -0x800001), ("ssrc", -1), ("ssrc", 1 << 32), ("jitter", 1 << 32),
    ("lsr", -5), ("dlsr", 1 << 32), ("highest_sequence", -1),
])
def test_report_block_refuses_values_that_do_not_fit(field, value):
    block = ReportBlock(1)
    setattr(block, field, value)
    with pytest.raises(ValueError, match="rtcp: "):
        block.to_bytes()
