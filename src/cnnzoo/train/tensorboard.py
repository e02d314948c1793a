"""A minimal TensorBoard event writer for scalars (no ``tensorboard`` dependency).

An event file is a sequence of TFRecords: ``uint64 length``, ``uint32 masked_crc32c(length)``,
``data``, ``uint32 masked_crc32c(data)``; each ``data`` is a serialised ``tensorflow.Event``
protobuf. Only the fields needed for scalars are written by hand:
``Event{1: wall_time (double), 2: step (int64), 3: file_version (string), 5: Summary}``,
``Summary{1: repeated Value}``, ``Value{1: tag (string), 2: simple_value (float)}``.
"""

from __future__ import annotations

import os
import socket
import struct
import time
from pathlib import Path

__all__ = ["EventWriter", "crc32c", "read_events"]


def _make_table() -> list[int]:
    table = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        table.append(c)
    return table


_TABLE = _make_table()


def crc32c(data: bytes) -> int:
    """CRC-32C (Castagnoli), as TFRecord uses."""
    c = 0xFFFFFFFF
    for b in data:
        c = _TABLE[(c ^ b) & 0xFF] ^ (c >> 8)
    return c ^ 0xFFFFFFFF


def _masked(data: bytes) -> int:
    c = crc32c(data)
    return (((c >> 15) | (c << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def _varint(n: int) -> bytes:
    out = bytearray()
    n &= (1 << 64) - 1
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def _field_bytes(num: int, payload: bytes) -> bytes:
    return _varint(num << 3 | 2) + _varint(len(payload)) + payload


def _event(wall_time: float, step: int, *, file_version: str | None = None,
           scalars: dict[str, float] | None = None) -> bytes:
    msg = _varint(1 << 3 | 1) + struct.pack("<d", wall_time) + _varint(2 << 3 | 0) + _varint(step)
    if file_version is not None:
        msg += _field_bytes(3, file_version.encode())
    if scalars:
        summary = b"".join(
            _field_bytes(1, _field_bytes(1, tag.encode()) + _varint(2 << 3 | 5) + struct.pack("<f", float(v)))
            for tag, v in scalars.items())
        msg += _field_bytes(5, summary)
    return msg


class EventWriter:
    """Append scalars to ``logdir/events.out.tfevents.<time>.<host>`` readable by TensorBoard."""

    def __init__(self, logdir: str | os.PathLike) -> None:
        Path(logdir).mkdir(parents=True, exist_ok=True)
        self.path = Path(logdir) / f"events.out.tfevents.{int(time.time())}.{socket.gethostname()}"
        self._f = open(self.path, "ab")  # noqa: SIM115 (kept open across epochs)
        self._write(_event(time.time(), 0, file_version="brain.Event:2"))

    def _write(self, data: bytes) -> None:
        header = struct.pack("<Q", len(data))
        self._f.write(header + struct.pack("<I", _masked(header)) + data + struct.pack("<I", _masked(data)))
        self._f.flush()

    def add_scalars(self, scalars: dict[str, float], step: int) -> None:
        self._write(_event(time.time(), step, scalars=scalars))

    def close(self) -> None:
        self._f.close()


def read_events(path: str | os.PathLike) -> list[tuple[int, dict[str, float]]]:
    """Read back (step, {tag: value}) of scalar events, checking every CRC (for tests and tools)."""
    data = Path(path).read_bytes()
    pos, out = 0, []
    while pos < len(data):
        header = data[pos:pos + 8]
        (n,) = struct.unpack("<Q", header)
        if struct.unpack("<I", data[pos + 8:pos + 12])[0] != _masked(header):
            raise ValueError(f"{path}: bad length CRC at byte {pos}")
        body = data[pos + 12:pos + 12 + n]
        if struct.unpack("<I", data[pos + 12 + n:pos + 16 + n])[0] != _masked(body):
            raise ValueError(f"{path}: bad data CRC at byte {pos}")
        pos += 16 + n
        out.append(_parse_event(body))
    return [e for e in out if e[1]]


def _read_varint(b: bytes, i: int) -> tuple[int, int]:
    shift = n = 0
    while True:
        c = b[i]
        i += 1
        n |= (c & 0x7F) << shift
        shift += 7
        if not c & 0x80:
            return n, i


def _fields(b: bytes):
    i = 0
    while i < len(b):
        key, i = _read_varint(b, i)
        num, wt = key >> 3, key & 7
        if wt == 0:
            v, i = _read_varint(b, i)
        elif wt == 1:
            v, i = b[i:i + 8], i + 8
        elif wt == 5:
            v, i = b[i:i + 4], i + 4
        else:
            n, i = _read_varint(b, i)
            v, i = b[i:i + n], i + n
        yield num, v


def _parse_event(b: bytes) -> tuple[int, dict[str, float]]:
    step, scalars = 0, {}
    for num, v in _fields(b):
        if num == 2:
            step = v
        elif num == 5:
            for _, value in _fields(v):
                tag, val = "", 0.0
                for vn, vv in _fields(value):
                    if vn == 1:
                        tag = vv.decode()
                    elif vn == 2:
                        val = struct.unpack("<f", vv)[0]
                scalars[tag] = val
    return step, scalars
