"""A stand-in firmware image for the virtual board, built with esptool's own image code.

It is a well-formed ESP app image (magic 0xE9, this chip's id in the extended
header, checksum and SHA-256 appended) that esptool's `image-info` accepts;
its code segment is filler, since the virtual board runs the MicroPython unix
port instead of Xtensa code. Its size is chosen to match a real MicroPython
build (about 1.6 MB for an ESP32-S3), and the filler is half random so it
compresses about as well as real firmware does.
"""
import random

from esptool.bin_image import ESP32FirmwareImage, ESP32S3FirmwareImage, ImageSegment

IMAGE_CLASSES = {"esp32": ESP32FirmwareImage, "esp32s3": ESP32S3FirmwareImage}
# Flash-mapped code (IROM) load addresses of each chip.
IROM_ADDRESS = {"esp32": 0x400D0020, "esp32s3": 0x42000020}


def make_firmware(path, chip="esp32s3", size_bytes=1600 * 1024, seed=1):
    """Write a valid app image of about size_bytes to path; returns its bytes."""
    if chip not in IMAGE_CLASSES:
        raise ValueError("test firmware: chip must be one of %s, got %r" % (sorted(IMAGE_CLASSES), chip))
    rng = random.Random(seed)
    body = bytearray()
    while len(body) < size_bytes - 256:
        body += rng.randbytes(512) + bytes(512)
    image = IMAGE_CLASSES[chip]()
    image.entrypoint = IROM_ADDRESS[chip]
    image.segments = [ImageSegment(IROM_ADDRESS[chip], bytes(body[:size_bytes - 256]))]
    image.save(str(path))
    with open(path, "rb") as handle:
        return handle.read()
