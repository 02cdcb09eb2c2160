"""Pin rules per chip, as functions of data (the way ESPHome keeps them).

Sources: ESP32 Technical Reference Manual and datasheet (GPIO 6-11 are the
SPI flash, 16/17 the PSRAM of WROVER modules, 34-39 are input only, strapping
pins 0, 2, 5, 12, 15; PDM RX on I2S0 only); ESP32-S3 datasheet (GPIO 22-25 do
not exist, 26-32 are the SPI flash/PSRAM, 33-37 are taken by octal flash or
PSRAM, strapping pins 0, 3, 45, 46; I2S signals go through the GPIO matrix to
any pin; PDM RX on I2S0 only); Raspberry Pi GPIO documentation (the PCM/I2S
block is on GPIO 18-21 only; GPIO 0/1 are the HAT ID EEPROM bus).
"""


class Chip:
    """What a board file may do with this chip's pins."""

    def __init__(self, name, gpios, flash_pins=(), psram_pins=(), octal_psram_pins=(), strapping=(),
                 input_only=(), i2s_buses=(0,), pdm_rx_buses=(0,), fixed_i2s_pins=None, reserved=None,
                 mpy_archs=(), runtime="micropython", esptool_chip=None, firmware_offset=None):
        self.name = name
        self.gpios = frozenset(gpios)
        self.flash_pins = frozenset(flash_pins)
        self.psram_pins = frozenset(psram_pins)
        self.octal_psram_pins = frozenset(octal_psram_pins)
        self.strapping = frozenset(strapping)
        self.input_only = frozenset(input_only)
        self.i2s_buses = tuple(i2s_buses)
        self.pdm_rx_buses = tuple(pdm_rx_buses)
        self.fixed_i2s_pins = fixed_i2s_pins  # role -> the only pin that can carry it
        self.reserved = dict(reserved or {})
        self.mpy_archs = tuple(mpy_archs)
        self.runtime = runtime
        self.esptool_chip = esptool_chip
        # Where MicroPython's firmware .bin (bootloader included) goes.
        self.firmware_offset = firmware_offset

    def unusable_reason(self, pin, psram):
        """Why this pin cannot be used at all on a board with this PSRAM, or None."""
        if pin not in self.gpios:
            return "GPIO%d does not exist on the %s" % (pin, self.name)
        if pin in self.flash_pins:
            return "GPIO%d is wired to the SPI flash on the %s" % (pin, self.name)
        if psram and pin in self.psram_pins:
            return "GPIO%d is wired to the PSRAM on the %s" % (pin, self.name)
        if psram == "octal" and pin in self.octal_psram_pins:
            return "GPIO%d is taken by the octal PSRAM on the %s" % (pin, self.name)
        if pin in self.reserved:
            return "GPIO%d is reserved on the %s (%s)" % (pin, self.name, self.reserved[pin])
        return None


CHIPS = {
    "esp32": Chip(
        "ESP32", gpios=[*range(0, 20), 21, 22, 23, 25, 26, 27, *range(32, 40)],
        flash_pins=range(6, 12), psram_pins=(16, 17), strapping=(0, 2, 5, 12, 15),
        input_only=range(34, 40), i2s_buses=(0, 1), pdm_rx_buses=(0,), mpy_archs=("xtensawin",),
        esptool_chip="esp32", firmware_offset=0x1000),
    "esp32s3": Chip(
        "ESP32-S3", gpios=[*range(0, 22), *range(26, 49)], flash_pins=range(26, 33),
        octal_psram_pins=range(33, 38), strapping=(0, 3, 45, 46), i2s_buses=(0, 1),
        pdm_rx_buses=(0,), mpy_archs=("xtensawin",), esptool_chip="esp32s3", firmware_offset=0x0),
    "rpi": Chip(
        "Raspberry Pi (40-pin header)", gpios=range(0, 28), i2s_buses=(0,), pdm_rx_buses=(0,),
        fixed_i2s_pins={"sck": 18, "ws": 19, "sd_in": 20, "sd_out": 21},
        reserved={0: "HAT ID EEPROM (ID_SD)", 1: "HAT ID EEPROM (ID_SC)"}, runtime="cpython"),
    "host": Chip("a computer (no GPIO)", gpios=(), i2s_buses=(), pdm_rx_buses=(), runtime="cpython"),
}


def chip(name):
    """The Chip for a board file's `chip` value (KeyError if unknown)."""
    return CHIPS[name]
