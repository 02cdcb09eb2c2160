"""The ESP32 / ESP32-S3 ROM serial loader's command protocol, as a pure state machine.

Packets in (already SLIP-decoded), packets out: `RomLoader.handle(packet)`
returns the responses to send. What it implements is what esptool 5 uses
against a ROM without its flasher stub (`--no-stub`): SYNC (answered eight
times), READ_REG / WRITE_REG over a register file (with the SPI controller's
user command, which esptool uses to read the flash JEDEC id), GET_SECURITY_INFO
(ESP32-S3 only; the ESP32 ROM does not know it), SPI_SET_PARAMS, SPI_ATTACH,
CHANGE_BAUDRATE, FLASH_BEGIN/DATA/END, FLASH_DEFL_BEGIN/DATA/END (zlib
stream, inflated as it arrives) and SPI_FLASH_MD5. Anything else, the flasher
stub upload (MEM_*) included, is answered as the ROM answers an unknown
command: status 1, error 0x05.

Response layout (ROM): 01 <op> <len:16> <value:32> <data> <status, error, 0, 0>.
"""
import struct
import zlib

from tools.esp_chips import flash_jedec_id

OP = {"FLASH_BEGIN": 0x02, "FLASH_DATA": 0x03, "FLASH_END": 0x04, "SYNC": 0x08,
      "WRITE_REG": 0x09, "READ_REG": 0x0A, "SPI_SET_PARAMS": 0x0B, "SPI_ATTACH": 0x0D,
      "CHANGE_BAUDRATE": 0x0F, "FLASH_DEFL_BEGIN": 0x10, "FLASH_DEFL_DATA": 0x11,
      "FLASH_DEFL_END": 0x12, "SPI_FLASH_MD5": 0x13, "GET_SECURITY_INFO": 0x14}
ERR_INVALID_MESSAGE = 0x05
ERR_FAILED = 0x06
ERR_CHECKSUM = 0x07
ERR_FLASH_WRITE = 0x08
ERR_DEFLATE = 0x0B
CHECKSUM_SEED = 0xEF
SYNC_PAYLOAD = b"\x07\x07\x12\x20" + b"\x55" * 32
SYNC_REPLIES = 8
# The value real ROMs put in a SYNC reply (esptool only checks it is not 0,
# which would mean its flasher stub answered).
SYNC_VALUE = 0x20120707
SPI_CMD_USR = 1 << 18
SPI_RDID = 0x9F


def checksum(data):
    """The ROM's data checksum: 0xEF XOR every byte."""
    state = CHECKSUM_SEED
    for byte in data:
        state ^= byte
    return state


def response(op, value=0, data=b"", error=0):
    """One ROM response packet."""
    status = bytes((1, error, 0, 0)) if error else b"\x00\x00\x00\x00"
    body = data + status
    return struct.pack("<BBHI", 1, op, len(body), value) + body


class _Download:
    """A FLASH_BEGIN or FLASH_DEFL_BEGIN in progress."""

    def __init__(self, offset, blocks, block_bytes, compressed):
        self.offset = offset
        self.blocks = blocks
        self.block_bytes = block_bytes
        self.next_seq = 0
        self.written = 0
        self.inflater = zlib.decompressobj() if compressed else None


class RomLoader:
    """One chip's ROM loader: registers, flash, and the download in progress."""

    def __init__(self, profile, flash):
        self.profile = profile
        self.flash = flash
        self.registers = profile.initial_registers()
        self.download = None
        self.leave = None  # "run" or "reboot" once FLASH_END / FLASH_DEFL_END asks to
        self.counters = {"commands": 0, "refused": 0, "bytes_written": 0}
        spi = profile.spi_offsets
        self._spi_cmd = profile.spi_reg_base + spi["cmd"]
        self._spi_usr2 = profile.spi_reg_base + spi["usr2"]
        self._spi_w0 = profile.spi_reg_base + spi["w0"]

    def handle(self, packet):
        """Responses (a list of packets) to one request packet."""
        if len(packet) < 8 or packet[0] != 0:
            return []  # not a request: the ROM stays silent
        op, size, chk = struct.unpack("<xBHI", packet[:8])
        data = packet[8:]
        self.counters["commands"] += 1
        if len(data) != size:
            return [self._refuse(op, ERR_INVALID_MESSAGE)]
        handler = self._handlers().get(op)
        if handler is None:
            return [self._refuse(op, ERR_INVALID_MESSAGE)]
        try:
            return handler(op, data, chk)
        except (struct.error, ValueError):
            return [self._refuse(op, ERR_FAILED)]

    def _handlers(self):
        handlers = {OP["SYNC"]: self._sync, OP["READ_REG"]: self._read_reg,
                    OP["WRITE_REG"]: self._write_reg, OP["SPI_SET_PARAMS"]: self._ok,
                    OP["SPI_ATTACH"]: self._ok, OP["CHANGE_BAUDRATE"]: self._ok,
                    OP["FLASH_BEGIN"]: self._flash_begin, OP["FLASH_DATA"]: self._flash_data,
                    OP["FLASH_END"]: self._flash_end, OP["FLASH_DEFL_BEGIN"]: self._flash_begin,
                    OP["FLASH_DEFL_DATA"]: self._flash_data, OP["FLASH_DEFL_END"]: self._flash_end,
                    OP["SPI_FLASH_MD5"]: self._md5}
        if self.profile.security_info is not None:
            handlers[OP["GET_SECURITY_INFO"]] = self._security_info
        return handlers

    def _refuse(self, op, error):
        self.counters["refused"] += 1
        return response(op, error=error)

    def _ok(self, op, data, chk):
        return [response(op)]

    def _sync(self, op, data, chk):
        if data != SYNC_PAYLOAD:
            return [self._refuse(op, ERR_INVALID_MESSAGE)]
        return [response(op, SYNC_VALUE)] * SYNC_REPLIES

    def _security_info(self, op, data, chk):
        return [response(op, data=self.profile.security_info)]

    def _read_reg(self, op, data, chk):
        (address,) = struct.unpack("<I", data)
        return [response(op, self.registers.get(address, 0))]

    def _write_reg(self, op, data, chk):
        # One or more (address, value, mask, delay_us) words; delays are not modelled.
        for start in range(0, len(data) - 15, 16):
            address, value, mask, _ = struct.unpack("<IIII", data[start:start + 16])
            old = self.registers.get(address, 0)
            self.registers[address] = (old & ~mask) | (value & mask)
            if address == self._spi_cmd and value & SPI_CMD_USR:
                self._run_spi_command()
        return [response(op)]

    def _run_spi_command(self):
        command = self.registers.get(self._spi_usr2, 0) & 0xFF
        answer = flash_jedec_id(self.flash.size_bytes) if command == SPI_RDID else 0
        self.registers[self._spi_w0] = answer
        self.registers[self._spi_cmd] &= ~SPI_CMD_USR  # done at once

    def _flash_begin(self, op, data, chk):
        erase_bytes, blocks, block_bytes, offset = struct.unpack("<IIII", data[:16])
        if offset + erase_bytes > self.flash.size_bytes:
            self.download = None
            return [self._refuse(op, ERR_FAILED)]
        self.flash.erase(offset, erase_bytes)
        self.download = _Download(offset, blocks, block_bytes, op == OP["FLASH_DEFL_BEGIN"])
        return [response(op)]

    def _flash_data(self, op, data, chk):
        length, seq = struct.unpack("<II", data[:8])
        payload = data[16:]
        download = self.download
        compressed = op == OP["FLASH_DEFL_DATA"]
        if download is None or (download.inflater is not None) != compressed:
            return [self._refuse(op, ERR_FAILED)]
        if len(payload) != length or checksum(payload) != chk:
            return [self._refuse(op, ERR_CHECKSUM)]
        if seq != download.next_seq:
            return [self._refuse(op, ERR_INVALID_MESSAGE)]
        if compressed:
            try:
                payload = download.inflater.decompress(payload)
            except zlib.error:
                return [self._refuse(op, ERR_DEFLATE)]
        else:
            payload = payload.ljust(download.block_bytes, b"\xff")
        try:
            self.flash.write(download.offset + download.written, payload)
        except ValueError:
            return [self._refuse(op, ERR_FLASH_WRITE)]
        download.written += len(payload)
        download.next_seq += 1
        self.counters["bytes_written"] += len(payload)
        return [response(op)]

    def _flash_end(self, op, data, chk):
        (stay,) = struct.unpack("<I", data[:4])
        self.flash.flush()
        self.download = None
        # 0 reboots, 1 jumps to the user code: either way the loader is left.
        self.leave = "run" if stay else "reboot"
        return [response(op)]

    def _md5(self, op, data, chk):
        offset, length = struct.unpack("<II", data[:8])
        try:
            digest = self.flash.md5_hex(offset, length)
        except ValueError:
            return [self._refuse(op, ERR_FAILED)]
        return [response(op, data=digest.encode("ascii"))]
