"""Byte-level helpers for tests that corrupt model files on purpose (offsets: docs/FORMAT.md)."""

from __future__ import annotations

import struct
import zlib

HEADER_CHECKSUM = 20
LAYER_TABLE = 64
ENTRY = 32


def fix_crc(data: bytearray) -> bytearray:
    """Recompute the CRC-32 (checksum field taken as zero) so a structural check is what fires."""
    data[HEADER_CHECKSUM:HEADER_CHECKSUM + 4] = b"\0\0\0\0"
    struct.pack_into("<I", data, HEADER_CHECKSUM, zlib.crc32(bytes(data)))
    return data


def put(data: bytearray, fmt: str, offset: int, value: int, crc: bool = True) -> bytearray:
    struct.pack_into("<" + fmt, data, offset, value)
    return fix_crc(data) if crc else data


def get(data: bytes, fmt: str, offset: int) -> int:
    return int(struct.unpack_from("<" + fmt, data, offset)[0])


def layer_field(layer: int, offset: int) -> int:
    return LAYER_TABLE + ENTRY * layer + offset


def tensor_field(data: bytes, tensor: int, offset: int) -> int:
    tensor_table = get(data, "I", 40)
    return tensor_table + ENTRY * tensor + offset
