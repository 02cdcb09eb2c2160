"""device/hal/esp32.py and device/hal/wifi.py under the MicroPython unix port, with test doubles.

There is no ESP32 here. Each test runs the real HAL code under the real
MicroPython unix port with tests/device/fake_esp32/ (copied to a temp dir,
first on MICROPYPATH): a `machine` that records what the HAL passes to
machine.I2S and machine.Pin and serves microphone words from a buffer, a
`network` whose station joins the networks the test lists, a `neopixel`
that records colours. So this checks the arguments, the sample arithmetic,
the frame interface, the amplifier pin, the button, the refusals and the
Wi-Fi logic; it does not check I2S timing, DMA, the radio or anything the
ESP32 itself does. None of this has run on real hardware.
"""
import json
import shutil
import struct
import subprocess
from pathlib import Path

import pytest

from device.hal.i2s_pcm import gain_terms
from device.volume import gain_q15
from host.runtimes import REPO_ROOT, device_env, micropython_binary

FAKE_DIR = Path(__file__).with_name("fake_esp32")
BOARDS_DIR = REPO_ROOT / "boards"
DEVKIT = "esp32-s3-devkitc-1-inmp441-max98357a"
# ESP32 board files the HAL must refuse, and words its reason must contain.
REFUSED = {
    "esp32-s3-box-3": ["share I2S bus 0", "one direction per bus", "master clock (mck: microphone GPIO 2"],
    "m5stack-atoms3r-echo-base": ["share I2S bus 0", "one direction per bus"],
    "xiao-esp32s3-sense": ["microphone is PDM", "no PDM receive mode", "micropython#14176"],
}
PIN_IN, PIN_OUT, PULL_DOWN, PULL_UP = 1, 3, 1, 2  # the fake's constants (tests/device/fake_esp32/machine.py)


def esp32_boards():
    boards = [json.loads(path.read_text()) for path in sorted(BOARDS_DIR.glob("*.json"))]
    return [board for board in boards if board["hal"] == "esp32"]


@pytest.fixture
def run_esp32(tmp_path):
    """Run a script under MicroPython with the fakes first on MICROPYPATH; its last line as JSON."""
    fakes = tmp_path / "fake_esp32"
    shutil.copytree(FAKE_DIR, fakes, ignore=shutil.ignore_patterns("__pycache__"))

    def run(source):
        env = device_env("micropython")
        env["MICROPYPATH"] = "%s:%s" % (fakes, env["MICROPYPATH"])
        completed = subprocess.run([micropython_binary(), "-c", source], capture_output=True, text=True,
                                   timeout=20, env=env, cwd=str(REPO_ROOT), stdin=subprocess.DEVNULL)
        if completed.returncode != 0:
            raise AssertionError("micropython exited %d\nstdout:\n%s\nstderr:\n%s"
                                 % (completed.returncode, completed.stdout, completed.stderr))
        lines = completed.stdout.strip().splitlines()
        result = json.loads(lines[-1])
        result["_printed"] = lines[:-1]
        return result
    return run


BUILD_SCRIPT = r'''
import json, machine
from device.hal import boards, esp32_rules
board = json.loads(%r)
settings = [esp32_rules.i2s_settings(board[name], name == "microphone")
            for name in ("microphone", "speaker")
            if board.get(name) is not None and board[name]["interface"] == "i2s"]
try:
    hal = boards.make(board)
    result = {"capabilities": list(hal.capabilities), "led": hal.led is not None}
except ValueError as error:
    result = {"refused": str(error)}
result["log"] = machine.log
result["settings"] = settings
print(json.dumps(result))
'''


def expected_i2s(part, receive):
    """What machine.I2S must get for this part of a board file."""
    rate = part["sample_rate_hz"]
    return {"id": part["bus"], "sck": part["pins"]["sck"], "ws": part["pins"]["ws"], "sd": part["pins"]["sd"],
            "mode": "rx" if receive else "tx", "bits": 32 if receive else 16,
            "format": "mono" if not receive or part["channel"] == "left" else "stereo", "rate": rate,
            # 80 ms of the port's 8-byte receive frames; 64 ms of 16-bit mono to send
            "ibuf": rate * 80 // 1000 * 8 if receive else rate * 64 // 1000 * 2}


@pytest.mark.parametrize("board", esp32_boards(), ids=lambda board: board["id"])
def test_i2s_and_pins_follow_each_esp32_board_file(board, run_esp32):
    result = run_esp32(BUILD_SCRIPT % json.dumps(board))
    parts = [(board[name], name == "microphone") for name in ("microphone", "speaker")
             if board.get(name) is not None and board[name]["interface"] == "i2s"]
    assert result["settings"] == [expected_i2s(part, receive) for part, receive in parts]
    if board["id"] in REFUSED:
        assert result["refused"].startswith("board %s: " % board["id"])
        for words in REFUSED[board["id"]]:
            assert words in result["refused"]
        assert result["log"] == [], "refused before touching a pin"
        return
    log = [tuple(entry) for entry in result["log"]]
    opened = [entry[1] for entry in log if entry[0] == "I2S"]
    assert opened == [expected_i2s(part, receive) for part, receive in parts]
    speaker, button, led = board["speaker"], board["button"], board["led"]
    if speaker and speaker["enable_pin"] is not None:
        assert ("Pin", speaker["enable_pin"], PIN_OUT, -1, 0) in log  # amplifier off until it plays
    if button:
        assert ("Pin", button["pin"], PIN_IN, PULL_UP if button["active_low"] else PULL_DOWN, None) in log
    if led:
        assert ("Pin", led["pin"], PIN_OUT, -1, 0) in log
    assert result["capabilities"] == ["microphone"] + [name for name in ("speaker", "button", "led")
                                                       if board[name] is not None] + ["wifi"]


def test_the_devkit_board_is_the_one_esp32_board_that_runs():
    runs = [board["id"] for board in esp32_boards() if board["id"] not in REFUSED]
    assert runs == [DEVKIT]


def test_a_pdm_board_is_refused_with_its_reason(run_esp32):
    board = json.loads((BOARDS_DIR / "xiao-esp32s3-sense.json").read_text())
    result = run_esp32(BUILD_SCRIPT % json.dumps(board))
    assert result["refused"] == (
        "board xiao-esp32s3-sense: its microphone is PDM, and machine.I2S on MicroPython's esp32 port "
        "has no PDM receive mode (standard I2S only; the PDM pull request micropython#14176 is not merged)")


MIC_SCRIPT = r'''
import asyncio, json, struct, machine
from device.hal import boards
from device.hal.virtual import VirtualMic
board = json.loads(%r)
words = %r
machine.I2S.rx_data[board["microphone"]["bus"]] = struct.pack("<%%di" %% len(words), *words)
machine.I2S.max_read_bytes = 700   # the DMA hands out less than a frame per read
hal = boards.make(board)
mic, virtual = hal.mic, VirtualMic(realtime=False, keep_open=True)
result = {"attrs": {}}
for name in ("sample_rate_hz", "channels", "frame_ms", "frames_read", "start_ticks_ms"):
    result["attrs"][name] = [getattr(mic, name), getattr(virtual, name)]

async def main():
    frames = []
    for size in (640, 640, 320):
        buf = bytearray(size)
        got = await mic.readinto(buf)
        frames.append([got, list(struct.unpack("<%%dh" %% (size // 2), buf))])
    result["frames"] = frames
    result["frames_read"] = mic.frames_read
    result["started"] = mic.start_ticks_ms is not None
    # Half a frame left in the DMA: a read waits for a whole frame, then hands it out.
    late_buf = bytearray(640)
    task = asyncio.create_task(mic.readinto(late_buf))
    for _ in range(20):
        await asyncio.sleep_ms(0)
    result["waiting"] = not task.done()
    machine.I2S.open[board["microphone"]["bus"]].feed(struct.pack("<160i", *([0x00400000] * 160)))
    result["late"] = await task
    result["late_samples"] = list(struct.unpack("<320h", late_buf))
    vbuf = bytearray(640)
    result["virtual"] = await virtual.readinto(vbuf)

asyncio.run(main())
mic.close()
result["deinit"] = [entry for entry in machine.log if entry[0] == "I2S.deinit"]
print(json.dumps(result))
'''


def test_the_microphone_hands_out_frames_as_the_virtual_one_does(run_esp32):
    board = json.loads((BOARDS_DIR / (DEVKIT + ".json")).read_text())
    shift, multiplier = gain_terms(board["microphone"]["gain_db"])
    words = [(i * 0x00012345) % 0x02000000 - 0x01000000 for i in range(800 + 160)]
    result = run_esp32(MIC_SCRIPT % (json.dumps(board), words))
    assert result["attrs"] == {"sample_rate_hz": [16000, 16000], "channels": [1, 1], "frame_ms": [20, 20],
                               "frames_read": [0, 0], "start_ticks_ms": [None, None]}
    expected = [max(-32768, min(32767, (max(-32768, min(32767, w >> shift)) * multiplier) >> 7))
                for w in words]
    assert [got for got, _ in result["frames"]] == [640, 640, 320]
    assert [sample for _, frame in result["frames"] for sample in frame] == expected[:800]
    assert result["frames_read"] == 3 and result["started"]
    assert result["waiting"] and result["late"] == 640 and result["virtual"] == 640
    assert result["late_samples"] == expected[800:] + [((0x00400000 >> shift) * multiplier) >> 7] * 160
    assert result["deinit"] == [["I2S.deinit", 0]]


SPEAKER_SCRIPT = r'''
import asyncio, json, struct, machine
from device.hal import boards
from device.volume import VolumeControl
board = json.loads(%r)
hal = boards.make(board)
speaker = hal.speaker
speaker.amp_hold_ms = 30
machine.I2S.max_write_bytes = 300   # the DMA takes part of a frame per write
enable = board["speaker"]["enable_pin"]
samples = %r
pcm = struct.pack("<%%dh" %% len(samples), *samples)
result = {"has_set_volume": hasattr(speaker, "set_volume")}

def amp_log():
    return [entry[2] for entry in machine.log if entry[0] == "Pin.value" and entry[1] == enable]

async def main():
    volume = VolumeControl(speaker, 100)
    for _ in range(3):
        await volume.write(pcm)
    result["amp_while_playing"] = amp_log()
    await speaker._amp_task    # ends once nothing was written for amp_hold_ms
    result["amp_after_idle"] = amp_log()
    volume.set_volume(50)
    await volume.write(pcm)
    volume.flush()             # an abort: off at once
    result["amp_after_abort"] = amp_log()
    result["amp_on"] = speaker.amp_on

asyncio.run(main())
result["written"] = list(machine.I2S.open[board["speaker"]["bus"]].written)
speaker.close()
print(json.dumps(result))
'''


def test_the_speaker_plays_pcm_once_scaled_and_drives_the_amplifier_enable(run_esp32):
    board = json.loads((BOARDS_DIR / (DEVKIT + ".json")).read_text())
    samples = [(i * 977) % 65536 - 32768 for i in range(320)]
    result = run_esp32(SPEAKER_SCRIPT % (json.dumps(board), samples))
    assert result["has_set_volume"] is False  # so device/volume.py scales in software, once
    assert result["amp_while_playing"] == [1]
    assert result["amp_after_idle"] == [1, 0]
    assert result["amp_after_abort"] == [1, 0, 1, 0] and result["amp_on"] is False
    full = struct.pack("<320h", *samples)
    half = struct.pack("<320h", *[(s * gain_q15(50)) >> 15 for s in samples])
    assert bytes(result["written"]) == full * 3 + half


BUTTON_SCRIPT = r'''
import json, machine
from device.hal import boards, gpio
results = {}
for active_low in (True, False):
    board = json.loads(%r)
    board["button"]["active_low"] = active_low
    hal = boards.make(board)
    button = hal.button
    button.debounce_ms = 0
    levels = []
    for level in (1, 0, 1):
        machine.Pin.levels[board["button"]["pin"]] = level
        levels.append(button.pressed)
    results[str(active_low)] = levels
    hal.close()

now = [0]
button = gpio.Esp32Button(7, True, debounce_ms=20, ticks_ms=lambda: now[0])
seen = []
for at_ms, level in ((0, 1), (5, 0), (15, 0), (17, 1), (18, 0), (37, 0), (38, 0), (60, 1), (79, 1), (80, 1)):
    now[0] = at_ms
    machine.Pin.levels[7] = level
    seen.append(button.pressed)
results["debounced"] = seen
print(json.dumps(results))
'''


def test_the_button_follows_the_board_polarity_and_is_debounced(run_esp32):
    board = json.loads((BOARDS_DIR / (DEVKIT + ".json")).read_text())
    results = run_esp32(BUTTON_SCRIPT % json.dumps(board))
    assert results["True"] == [False, True, False]   # active low: pressed pulls the pin to 0
    assert results["False"] == [True, False, True]
    # Pressed at 18 ms after a bounce, held 20 ms: seen at 38; released at 60, seen at 80.
    assert results["debounced"] == [False, False, False, False, False, False, True, True, True, False]


LED_SCRIPT = r'''
import json, machine
from device.hal import gpio
result = {}
for kind in ("gpio", "ws2812"):
    del machine.log[:]
    led = gpio.make_led({"pin": 21, "kind": kind})
    led.on()
    led.off()
    result[kind] = [entry for entry in machine.log if entry[0] in ("Pin.value", "NeoPixel.write")]
result["apa102"] = gpio.make_led({"pin": 10, "kind": "apa102"}) is None
print(json.dumps(result))
'''


def test_the_led_goes_on_and_off(run_esp32):
    result = run_esp32(LED_SCRIPT)
    assert result["gpio"] == [["Pin.value", 21, 0], ["Pin.value", 21, 1], ["Pin.value", 21, 0]]
    off, on = ["NeoPixel.write", 21, [[0, 0, 0]]], ["NeoPixel.write", 21, [[24, 24, 24]]]
    assert result["ws2812"] == [off, on, off]
    assert result["apa102"] is True


WIFI_SCRIPT = r'''
import json, network
from device.hal import wifi
network.plan["networks"] = {"home": "secret"}
network.plan["polls_to_connect"] = 3
network.plan["rssi"] = -61
result = {}
link = wifi.connect("home", "secret", timeout_ms=2000, poll_ms=1)
result["connected"] = [link.connected, link.rssi_dbm(), link.ssid]
for rssi in (5, -200):
    network.plan["rssi"] = rssi
    result.setdefault("clamped", []).append(link.rssi_dbm())
for ssid, password in (("home", "wrong"), ("cafe", "secret")):
    try:
        wifi.connect(ssid, password, timeout_ms=30, poll_ms=1)
    except wifi.WifiError as error:
        result.setdefault("errors", []).append(str(error))
link.wlan.disconnect()
result["disconnected_rssi"] = link.rssi_dbm()
try:
    wifi.connect(None, None)
except ValueError as error:
    result["no_ssid"] = str(error)
result["log"] = network.log
print(json.dumps(result))
'''


def test_wifi_joins_with_a_deadline_and_names_what_went_wrong(run_esp32):
    result = run_esp32(WIFI_SCRIPT)
    assert result["connected"] == [True, -61, "home"]
    assert result["clamped"] == [0, -127] and result["disconnected_rssi"] is None
    assert result["errors"] == [
        "wifi: not connected to 'home' after 30 ms (last status: wrong password)",
        "wifi: not connected to 'cafe' after 30 ms (last status: no ap found)"]
    assert result["no_ssid"].startswith("wifi: the bootstrap file has no wifi_ssid")
    assert result["log"][:3] == [["WLAN", 0], ["active", True], ["connect", "home", "secret"]]
    assert ["disconnect"] in result["log"]  # a failed attempt stops trying before raising


BOOT_SCRIPT = r'''
import json, machine, network
from device import boot, identity as identity_file
from device.hal import wifi
network.plan["networks"] = {"home": "secret"}
network.plan["polls_to_connect"] = 2
network.plan["rssi"] = -58
wifi.CONNECT_TIMEOUT_MS = 400  # the failing join gives up after this
board_path, identity_path, wrong_path = %r
identity = identity_file.load(identity_path)
hal = boot.start_board(identity, json.loads(open(board_path).read()))
result = {"rssi": hal.wifi_rssi_dbm(), "ssid": hal.wifi.ssid}
hal.close()
try:
    boot.main([wrong_path, board_path])
except SystemExit as stop:
    result["exit"] = stop.args[0] if stop.args else None
result["reset"] = ["reset"] in [list(entry) for entry in machine.log]
import ntptime
result["ntp_hosts"] = [entry[1] for entry in ntptime.log]
print(json.dumps(result))
'''


def test_boot_brings_wifi_up_before_the_runtime_and_restarts_when_it_fails(run_esp32, tmp_path):
    from device.identity import Identity, save
    pem = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
    paths = []
    for name, password in (("good", "secret"), ("wrong", "guess")):
        identity = Identity("pipit-01", "password-123", "127.0.0.1", 8883, pem, board=DEVKIT,
                            wifi_ssid="home", wifi_password=password)
        save(identity, tmp_path / (name + ".json"))
        paths.append(str(tmp_path / (name + ".json")))
    board_path = str(BOARDS_DIR / (DEVKIT + ".json"))
    result = run_esp32(BOOT_SCRIPT % ((board_path, paths[0], paths[1]),))
    assert result["rssi"] == -58 and result["ssid"] == "home"  # what DeviceApp's telemetry reads
    assert result["reset"] is True and result["exit"] == 0
    printed = result["_printed"]
    assert printed[0] == "pipit: wifi 'home' up, -58 dBm"
    assert printed[1].startswith("pipit: clock ntp (")  # after Wi-Fi, before anything uses TLS
    assert result["ntp_hosts"] == ["pool.ntp.org"]
    assert printed[2:] == [
        "pipit: wifi: not connected to 'home' after 400 ms (last status: wrong password); restarting",
        "fake machine.reset"]


WALL_CLOCK_SCRIPT = r'''
import json, machine, ntptime
from device.hal import wall_clock
future_s, past_s = %d, %d
result = {}
ntptime.plan["failures"] = 2           # two lost replies, then an answer
result["ntp"] = wall_clock.set_wall_clock("ntp.lan", future_s)
result["ntp_log"] = ntptime.log[:]
ntptime.plan["failures"] = -1          # no NTP at all (a LAN without Internet)
del ntptime.log[:]
result["floor"] = wall_clock.set_wall_clock("ntp.lan", future_s)
result["tries"] = len(ntptime.log)
result["kept"] = wall_clock.set_wall_clock("ntp.lan", past_s)
result["no_floor"] = wall_clock.set_wall_clock("ntp.lan", None)
del ntptime.log[:]
result["no_ntp"] = wall_clock.set_wall_clock("", future_s)
result["no_ntp_tries"] = len(ntptime.log)
result["rtc"] = [list(entry[1]) for entry in machine.log if entry[0] == "RTC.datetime"]
print(json.dumps(result))
'''


def test_the_clock_is_set_from_ntp_or_moved_forward_to_when_the_board_was_flashed(run_esp32):
    import time
    future_s = int(time.time()) + 400 * 86400   # a floor the unix port's clock has not reached
    past_s = int(time.time()) - 86400
    result = run_esp32(WALL_CLOCK_SCRIPT % (future_s, past_s))
    assert result["ntp"] == "ntp" and result["ntp_log"] == [["settime", "ntp.lan", 2]] * 3
    assert result["floor"] == "floor" and result["tries"] == 3
    assert result["kept"] == "kept" and result["no_floor"] == "kept"
    assert result["no_ntp"] == "floor" and result["no_ntp_tries"] == 0
    year, month, day, hour, minute, second, weekday = time.gmtime(future_s)[:7]
    assert result["rtc"] == [[year, month, day, weekday, hour, minute, second, 0]] * 2
    assert result["_printed"] == ["pipit: NTP from ntp.lan failed (OSError: (110,))"] * 3
