"""The ROM loader protocol, packet by packet (esptool itself drives it in test_virtual_board)."""
import hashlib
import struct
import zlib

import pytest

from tools import slip
from tools.esp_chips import chip_profile, flash_jedec_id
from tools.esp_rom import OP, SYNC_PAYLOAD, RomLoader, checksum
from tools.virtual_flash import VirtualFlash


def request(op, data=b"", chk=0):
    return struct.pack("<BBHI", 0, op, len(data), chk) + data


def parse(reply):
    direction, op, size, value = struct.unpack("<BBHI", reply[:8])
    assert direction == 1 and size == len(reply) - 8
    return op, value, reply[8:-4], reply[-4:]


@pytest.fixture
def flash(tmp_path):
    flash = VirtualFlash(tmp_path / "flash.bin", 1 << 20)
    yield flash
    flash.close()


def test_slip_round_trip_escapes_end_and_escape_bytes():
    packet = bytes([0x00, 0xC0, 0xDB, 0x01, 0xC0])
    framed = slip.encode(packet)
    assert framed == b"\xc0\x00\xdb\xdc\xdb\xdd\x01\xdb\xdc\xc0"
    decoder = slip.Decoder()
    assert decoder.feed(b"noise" + framed[:4]) == []
    assert decoder.feed(framed[4:] + framed) == [packet, packet]
    assert decoder.noise_bytes == 5


def test_sync_is_answered_eight_times_with_a_nonzero_value(flash):
    replies = RomLoader(chip_profile("esp32s3"), flash).handle(request(OP["SYNC"], SYNC_PAYLOAD))
    assert len(replies) == 8
    assert all(parse(reply)[1] != 0 and parse(reply)[3] == b"\0\0\0\0" for reply in replies)


def test_esp32_refuses_security_info_and_shows_its_magic(flash):
    rom = RomLoader(chip_profile("esp32"), flash)
    op, _, _, status = parse(rom.handle(request(OP["GET_SECURITY_INFO"]))[0])
    assert (op, status[:2]) == (OP["GET_SECURITY_INFO"], b"\x01\x05")
    _, value, _, status = parse(rom.handle(request(OP["READ_REG"], struct.pack("<I", 0x40001000)))[0])
    assert value == 0x00F01D83 and status == b"\0\0\0\0"


def test_esp32s3_reports_chip_id_9_in_20_bytes_of_security_info(flash):
    _, _, data, status = parse(RomLoader(chip_profile("esp32s3"), flash).handle(request(OP["GET_SECURITY_INFO"]))[0])
    assert len(data) == 20 and struct.unpack("<IBBBBBBBBII", data)[9] == 9 and status == b"\0\0\0\0"


def test_spi_user_command_reads_the_jedec_id_of_the_flash_size(flash):
    rom = RomLoader(chip_profile("esp32s3"), flash)
    base = 0x60002000
    rom.handle(request(OP["WRITE_REG"], struct.pack("<IIII", base + 0x20, (7 << 28) | 0x9F, 0xFFFFFFFF, 0)))
    rom.handle(request(OP["WRITE_REG"], struct.pack("<IIII", base, 1 << 18, 0xFFFFFFFF, 0)))
    assert parse(rom.handle(request(OP["READ_REG"], struct.pack("<I", base)))[0])[1] & (1 << 18) == 0
    w0 = parse(rom.handle(request(OP["READ_REG"], struct.pack("<I", base + 0x58)))[0])[1]
    assert w0 == flash_jedec_id(1 << 20) == 0x1440EF


def _deflated_write(rom, offset, image, blocks_of=0x400):
    packed = zlib.compress(image, 9)
    blocks = [packed[i:i + blocks_of] for i in range(0, len(packed), blocks_of)]
    begin = struct.pack("<IIII", len(image), len(blocks), blocks_of, offset)
    replies = rom.handle(request(OP["FLASH_DEFL_BEGIN"], begin))
    for seq, block in enumerate(blocks):
        data = struct.pack("<IIII", len(block), seq, 0, 0) + block
        replies += rom.handle(request(OP["FLASH_DEFL_DATA"], data, checksum(block)))
    return replies


def test_deflated_write_lands_byte_for_byte_and_md5_matches(flash):
    rom = RomLoader(chip_profile("esp32s3"), flash)
    image = bytes(range(256)) * 300
    replies = _deflated_write(rom, 0x1000, image)
    assert all(parse(reply)[3] == b"\0\0\0\0" for reply in replies)
    assert flash.read(0x1000, len(image)) == image
    _, _, digest, _ = parse(rom.handle(request(OP["SPI_FLASH_MD5"], struct.pack("<IIII", 0x1000, len(image), 0, 0)))[0])
    assert digest.decode() == hashlib.md5(image).hexdigest()


def test_a_block_with_a_bad_checksum_is_refused_and_not_written(flash):
    rom = RomLoader(chip_profile("esp32s3"), flash)
    rom.handle(request(OP["FLASH_BEGIN"], struct.pack("<IIII", 0x400, 1, 0x400, 0)))
    block = b"\x11" * 0x400
    reply = rom.handle(request(OP["FLASH_DATA"], struct.pack("<IIII", len(block), 0, 0, 0) + block, 0x00))[0]
    assert parse(reply)[3][:2] == b"\x01\x07"
    assert flash.read(0, 4) == b"\xff" * 4


def test_a_write_past_the_end_of_flash_is_refused(flash):
    rom = RomLoader(chip_profile("esp32s3"), flash)
    reply = rom.handle(request(OP["FLASH_DEFL_BEGIN"], struct.pack("<IIII", 0x2000, 1, 0x400, (1 << 20) - 0x1000)))[0]
    assert parse(reply)[3][0] == 1 and rom.download is None


def test_flash_end_leaves_the_loader_and_unknown_commands_are_refused(flash):
    rom = RomLoader(chip_profile("esp32"), flash)
    assert parse(rom.handle(request(0x05, struct.pack("<IIII", 0, 0, 0, 0)))[0])[3][:2] == b"\x01\x05"  # MEM_BEGIN
    rom.handle(request(OP["FLASH_END"], struct.pack("<I", 1)))
    assert rom.leave == "run"
