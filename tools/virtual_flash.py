"""The virtual board's SPI flash: a file on the host, erased to 0xFF like real NOR flash."""
import hashlib
import os

SECTOR_BYTES = 0x1000
ESP_IMAGE_MAGIC = 0xE9


class VirtualFlash:
    """A flash chip of a fixed size backed by a file (kept across board restarts)."""

    def __init__(self, path, size_bytes):
        self.path = str(path)
        self.size_bytes = size_bytes
        if not os.path.exists(self.path) or os.path.getsize(self.path) != size_bytes:
            with open(self.path, "wb") as handle:
                chunk = b"\xff" * (1 << 20)
                for start in range(0, size_bytes, len(chunk)):
                    handle.write(chunk[:size_bytes - start])
        self._file = open(self.path, "r+b")

    def _check(self, offset, length):
        if offset < 0 or length < 0 or offset + length > self.size_bytes:
            raise ValueError("flash: 0x%x + %d bytes is outside the %d-byte flash"
                             % (offset, length, self.size_bytes))

    def erase(self, offset, length):
        """Set a region to 0xFF (the ROM erases whole sectors; callers round)."""
        self._check(offset, length)
        self._file.seek(offset)
        self._file.write(b"\xff" * length)

    def write(self, offset, data):
        self._check(offset, len(data))
        self._file.seek(offset)
        self._file.write(data)

    def read(self, offset, length):
        self._check(offset, length)
        self._file.seek(offset)
        return self._file.read(length)

    def md5_hex(self, offset, length):
        """MD5 of a region, lowercase hex (what SPI_FLASH_MD5 reports)."""
        self._check(offset, length)
        digest = hashlib.md5()
        self._file.seek(offset)
        left = length
        while left:
            chunk = self._file.read(min(left, 1 << 16))
            digest.update(chunk)
            left -= len(chunk)
        return digest.hexdigest()

    def flush(self):
        self._file.flush()

    def close(self):
        self._file.close()


def boot_image_header(flash, offset):
    """The first 8 bytes at offset if they start an ESP app image (magic 0xE9), else None."""
    header = flash.read(offset, 8)
    return header if header[0] == ESP_IMAGE_MAGIC else None
