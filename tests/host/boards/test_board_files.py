"""Every board file validates; broken ones are refused with the field and the reason."""
import copy
import json

import pytest

from host.boards import catalog, pins, schema
from host.cli import main

BOX3 = json.loads((catalog.BOARDS_DIR / "esp32-s3-box-3.json").read_text())
ESP32_BOARD = {
    "schema": 1, "id": "esp32-test", "name": "an ESP32 test board", "chip": "esp32", "hal": "esp32",
    "flash": {"size_mb": 4, "firmware_offset": 0x1000}, "psram": None, "mpy_arch": "xtensawin",
    "microphone": {"interface": "i2s", "bus": 0, "pins": {"sck": 26, "ws": 25, "sd": 34},
                   "sample_rate_hz": 16000, "channel": "left", "gain_db": 0},
    "speaker": None, "button": None, "led": None, "i2c": None, "aec": False, "default_codec": "opus",
    "frame_ms": 20, "strapping_pins_ok": {}, "sources": ["test"], "notes": ""}


def test_every_board_file_in_boards_validates():
    boards = catalog.load_all()
    assert {b.id for b in boards} >= {"esp32-s3-box-3", "m5stack-atoms3r-echo-base", "xiao-esp32s3-sense",
                                       "esp32-s3-devkitc-1-inmp441-max98357a", "rpi-respeaker-2mic", "laptop"}
    for board in boards:
        assert board.sources, board.id


def test_box3_shares_its_i2s_clocks_and_vouches_for_its_strapping_pins():
    board = catalog.load("esp32-s3-box-3")
    assert board.microphone["pins"]["ws"] == board.speaker["pins"]["ws"] == 45
    assert board.capabilities == ["microphone", "speaker", "button", "aec", "wifi"]


def _edit(base, path, value):
    data = copy.deepcopy(base)
    target = data
    for key in path[:-1]:
        target = target[key]
    if value is KeyError:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return data


BROKEN = [
    (BOX3, ("microphone", "pins", "sd"), 23, "microphone.pins.sd", "GPIO23 does not exist on the ESP32-S3"),
    (BOX3, ("speaker", "enable_pin"), 30, "speaker.enable_pin", "GPIO30 is wired to the SPI flash"),
    (BOX3, ("led",), {"pin": 35, "kind": "gpio"}, "led.pin", "taken by the octal PSRAM"),
    (BOX3, ("strapping_pins_ok",), {"0": "the CONFIG (BOOT) button", "45": "LRCK to the codecs, slaves"},
     "speaker.enable_pin", "GPIO46 is a strapping pin of the ESP32-S3"),
    (BOX3, ("button", "pin"), 16, "button.pin", "GPIO16 is already used by microphone.pins.sd"),
    (BOX3, ("speaker", "pins", "sck"), 14, "speaker.pins.sck", "must be the microphone's pin (17)"),
    (BOX3, ("microphone", "interface"), "pdm", "microphone.pins.mck", "is not a known pin role"),
    (BOX3, ("microphone", "sample_rate_hz"), 4000, "microphone.sample_rate_hz", "must be in 8000..48000"),
    (BOX3, ("flash", "firmware_offset"), 0x1000, "flash.firmware_offset", "must be 0x0 for the ESP32-S3"),
    (BOX3, ("mpy_arch",), "armv7m", "mpy_arch", "must be one of ('xtensawin',)"),
    (BOX3, ("speaker",), KeyError, "speaker", "is missing (use null"),
    (BOX3, ("sources",), [], "sources", "must list at least one document"),
    (BOX3, ("strapping_pins_ok",), dict(BOX3["strapping_pins_ok"], **{"5": "not a strapping pin at all"}),
     "strapping_pins_ok.5", "GPIO5 is not a strapping pin"),
    (ESP32_BOARD, ("microphone", "pins", "ws"), 35, "microphone.pins.ws", "GPIO35 is input-only on the ESP32"),
    (ESP32_BOARD, ("microphone", "pins", "sck"), 7, "microphone.pins.sck", "GPIO7 is wired to the SPI flash"),
    (ESP32_BOARD, ("microphone",), {"interface": "pdm", "bus": 1, "pins": {"clk": 26, "sd": 34},
                                    "sample_rate_hz": 16000, "channel": "left", "gain_db": 0},
     "microphone.bus", "has no PDM receive on I2S1"),
    (ESP32_BOARD, ("psram",), {"size_mb": 8, "mode": "quad"}, None, None),  # placeholder, replaced below
]
BROKEN[-1] = (_edit(ESP32_BOARD, ("psram",), {"size_mb": 8, "mode": "quad"}), ("button",),
              {"pin": 16, "active_low": True}, "button.pin", "GPIO16 is wired to the PSRAM")
RPI = json.loads((catalog.BOARDS_DIR / "rpi-respeaker-2mic.json").read_text())
BROKEN += [
    (RPI, ("microphone", "pins", "sd"), 22, "microphone.pins.sd", "must be GPIO20: the Raspberry Pi"),
    (RPI, ("button", "pin"), 0, "button.pin", "reserved on the Raspberry Pi"),
    (RPI, ("flash",), {"size_mb": 4, "firmware_offset": 0}, "flash", "is only for MicroPython boards"),
]


@pytest.mark.parametrize("base, path, value, field, reason", BROKEN,
                         ids=["%s-%s" % (case[0]["id"], ".".join(case[1])) for case in BROKEN])
def test_a_broken_board_file_is_refused_with_field_and_reason(base, path, value, field, reason):
    with pytest.raises(ValueError) as caught:
        pins.check(schema.parse(_edit(base, path, value)))
    message = str(caught.value)
    assert "field '%s'" % field in message and reason in message, message


def test_the_valid_esp32_example_passes():
    pins.check(schema.parse(ESP32_BOARD))


def test_pipit_boards_lists_and_checks(tmp_path, capsys):
    assert main(["boards"]) == 0
    listing = capsys.readouterr().out
    assert "esp32-s3-box-3" in listing and "rpi-respeaker-2mic" in listing and "INVALID" not in listing
    broken = tmp_path / "bad-board.json"
    broken.write_text(json.dumps(_edit(dict(BOX3, id="bad-board"), ("button", "pin"), 24)))
    with pytest.raises(SystemExit, match="field 'button.pin' GPIO24 does not exist"):
        main(["boards", "check", str(broken)])
    good = tmp_path / "esp32-test.json"
    good.write_text(json.dumps(ESP32_BOARD))
    assert main(["boards", "check", str(good)]) == 0
    assert "ok" in capsys.readouterr().out
