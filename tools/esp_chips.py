"""What the virtual ROM loader tells esptool about the chip it pretends to be.

Only the facts esptool reads are modelled: how it tells chips apart (the
ESP32 answers GET_SECURITY_INFO with "invalid command" and is recognised by
the magic word at 0x40001000; the ESP32-S3 reports chip id 9 in its security
info), the UART clock divider it turns into a crystal frequency, the eFuse
words holding the MAC, and where the SPI flash controller's registers are
(esptool reads the flash JEDEC id through them). Every other register reads 0,
which esptool takes as "revision 0, no security features".
"""
import struct

CHIP_DETECT_MAGIC_REG = 0x40001000
# 40 MHz crystal / 115200 baud: what the ROM programs before it syncs.
UART_CLKDIV_115200 = 347
DEFAULT_MAC = bytes.fromhex("027069706974")  # locally administered; "pipit" in the low bytes
# JEDEC RDID: manufacturer (Winbond 0xEF), memory type 0x40, capacity byte = log2(size).
FLASH_MANUFACTURER = 0xEF
FLASH_MEMORY_TYPE = 0x40


class ChipProfile:
    """Registers and identity of one chip family, as the ROM exposes them."""

    def __init__(self, name, image_chip_id, magic, security_info, uart_clkdiv_reg,
                 spi_reg_base, spi_offsets, mac_words):
        self.name = name
        self.image_chip_id = image_chip_id
        self.magic = magic
        self.security_info = security_info
        self.uart_clkdiv_reg = uart_clkdiv_reg
        self.spi_reg_base = spi_reg_base
        self.spi_offsets = spi_offsets
        self.mac_words = mac_words

    def initial_registers(self, mac=DEFAULT_MAC):
        """Register values at reset: {address: value}."""
        registers = {self.uart_clkdiv_reg: UART_CLKDIV_115200}
        if self.magic is not None:
            registers[CHIP_DETECT_MAGIC_REG] = self.magic
        registers.update(self.mac_words(mac))
        return registers


def _esp32_mac_words(mac):
    # esptool: pack(">II", efuse word 2, efuse word 1)[2:8] is the MAC.
    base = 0x3FF5A000
    return {base + 8: struct.unpack(">H", mac[0:2])[0], base + 4: struct.unpack(">I", mac[2:6])[0]}


def _esp32s3_mac_words(mac):
    # esptool: pack(">II", MAC_EFUSE_REG + 4, MAC_EFUSE_REG)[2:] is the MAC.
    base = 0x60007044
    return {base + 4: struct.unpack(">H", mac[0:2])[0], base: struct.unpack(">I", mac[2:6])[0]}


# Offsets of the user-command registers from the SPI controller's base.
_ESP32_SPI = {"cmd": 0x00, "addr": 0x04, "usr": 0x1C, "usr1": 0x20, "usr2": 0x24,
              "mosi_dlen": 0x28, "miso_dlen": 0x2C, "w0": 0x80}
_ESP32S3_SPI = {"cmd": 0x00, "addr": 0x04, "usr": 0x18, "usr1": 0x1C, "usr2": 0x20,
                "mosi_dlen": 0x24, "miso_dlen": 0x28, "w0": 0x58}

# flags, flash_crypt_cnt, 7 key purposes, chip id, API version.
_ESP32S3_SECURITY_INFO = struct.pack("<IBBBBBBBBII", 0, 0, 0, 0, 0, 0, 0, 0, 0, 9, 0)

CHIPS = {
    "esp32": ChipProfile("ESP32", 0, 0x00F01D83, None, 0x3FF40014, 0x3FF42000, _ESP32_SPI,
                         _esp32_mac_words),
    "esp32s3": ChipProfile("ESP32-S3", 9, None, _ESP32S3_SECURITY_INFO, 0x60000014, 0x60002000,
                           _ESP32S3_SPI, _esp32s3_mac_words),
}


def chip_profile(name):
    """The profile for 'esp32' or 'esp32s3'."""
    try:
        return CHIPS[name]
    except KeyError:
        raise ValueError("virtual board: chip must be one of %s, got %r" % (sorted(CHIPS), name))


def flash_jedec_id(flash_size_bytes):
    """The 24-bit RDID answer for a flash of this size (capacity byte = log2 of the size)."""
    capacity = flash_size_bytes.bit_length() - 1
    if 1 << capacity != flash_size_bytes:
        raise ValueError("virtual board: flash size must be a power of two, got %d" % flash_size_bytes)
    return FLASH_MANUFACTURER | (FLASH_MEMORY_TYPE << 8) | (capacity << 16)
