"""Matter TLV (Core spec appendix A): encoder and decoder.

Values map to Python types as follows:
  int (unsigned by default; ``Signed(v)`` forces a signed element), bool, None (null),
  float (``Float32(v)`` for 4-byte floats), str (UTF-8 string), bytes (octet string),
  ``Structure`` / ``Array`` / ``List`` containers (lists of ``(tag, value)`` pairs).

Tags: ``None`` anonymous, ``int`` context-specific (0..255), ``("common", n)``,
``("implicit", n)`` and ``(vendor, profile, n)`` fully qualified.
The writer uses the smallest width for integers and length prefixes, as the SDK's TLVWriter does.
"""

from __future__ import annotations

import struct
from typing import Any

from ..errors import InvalidInput

ANONYMOUS = 0x00
CONTEXT = 0x20
COMMON_2, COMMON_4 = 0x40, 0x60
IMPLICIT_2, IMPLICIT_4 = 0x80, 0xA0
FULLY_6, FULLY_8 = 0xC0, 0xE0

END_OF_CONTAINER = 0x18


class Signed(int):
    """An integer written as a TLV signed element."""


class Float32(float):
    """A float written as a 4-byte TLV float."""


class Container:
    """(tag, value) items in order (a plain class: ``dataclasses`` costs every command 15 ms to import)."""

    def __init__(self, items: list[tuple[Any, Any]] | None = None):
        self.items = items if items is not None else []

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return self.items == other.items

    def __repr__(self) -> str:
        return f"{type(self).__name__}(items={self.items!r})"

    def get(self, tag: Any, default: Any = None) -> Any:
        for t, v in self.items:
            if t == tag:
                return v
        return default

    def values(self) -> list[Any]:
        return [v for _, v in self.items]


class Structure(Container):
    type_code = 0x15


class Array(Container):
    type_code = 0x16


class List(Container):
    type_code = 0x17


# ---------------------------------------------------------------- encoder


def _encode_tag(tag: Any) -> tuple[int, bytes]:
    if tag is None:
        return ANONYMOUS, b""
    if isinstance(tag, int):
        if not 0 <= tag <= 0xFF:
            raise ValueError(f"context tag {tag} out of range 0..255")
        return CONTEXT, bytes([tag])
    if isinstance(tag, tuple) and len(tag) == 2:
        kind, num = tag
        if kind == "common":
            return (COMMON_2, struct.pack("<H", num)) if num <= 0xFFFF else (COMMON_4, struct.pack("<I", num))
        if kind == "implicit":
            return (IMPLICIT_2, struct.pack("<H", num)) if num <= 0xFFFF else (IMPLICIT_4, struct.pack("<I", num))
    if isinstance(tag, tuple) and len(tag) == 3:
        vendor, profile, num = tag
        if num <= 0xFFFF:
            return FULLY_6, struct.pack("<HHH", vendor, profile, num)
        return FULLY_8, struct.pack("<HHI", vendor, profile, num)
    raise ValueError(f"unsupported TLV tag {tag!r}")


def _uint_width(v: int) -> int:
    if v <= 0xFF:
        return 0
    if v <= 0xFFFF:
        return 1
    if v <= 0xFFFFFFFF:
        return 2
    return 3


def _sint_width(v: int) -> int:
    if -0x80 <= v <= 0x7F:
        return 0
    if -0x8000 <= v <= 0x7FFF:
        return 1
    if -0x80000000 <= v <= 0x7FFFFFFF:
        return 2
    return 3


_INT_FORMATS = ("B", "H", "I", "Q")


def encode_element(tag: Any, value: Any, out: bytearray) -> None:
    control, tag_bytes = _encode_tag(tag)
    if isinstance(value, bool):
        out.append(control | (0x09 if value else 0x08))
        out += tag_bytes
    elif value is None:
        out.append(control | 0x14)
        out += tag_bytes
    elif isinstance(value, Signed) or (isinstance(value, int) and value < 0):
        w = _sint_width(value)
        out.append(control | w)
        out += tag_bytes
        out += struct.pack("<" + _INT_FORMATS[w].lower(), value)
    elif isinstance(value, int):
        if value > 0xFFFFFFFFFFFFFFFF:
            raise ValueError(f"integer {value} does not fit 64 bits")
        w = _uint_width(value)
        out.append(control | 0x04 | w)
        out += tag_bytes
        out += struct.pack("<" + _INT_FORMATS[w], value)
    elif isinstance(value, Float32):
        out.append(control | 0x0A)
        out += tag_bytes
        out += struct.pack("<f", value)
    elif isinstance(value, float):
        out.append(control | 0x0B)
        out += tag_bytes
        out += struct.pack("<d", value)
    elif isinstance(value, (str, bytes, bytearray)):
        data = value.encode("utf-8") if isinstance(value, str) else bytes(value)
        base = 0x0C if isinstance(value, str) else 0x10
        w = _uint_width(len(data))
        out.append(control | base | w)
        out += tag_bytes
        out += struct.pack("<" + _INT_FORMATS[w], len(data))
        out += data
    elif isinstance(value, Container):
        out.append(control | value.type_code)
        out += tag_bytes
        for t, v in value.items:
            if isinstance(value, Array) and t is not None:
                raise ValueError("array elements must be anonymous")
            encode_element(t, v, out)
        out.append(END_OF_CONTAINER)
    else:
        raise TypeError(f"cannot encode {type(value).__name__} as TLV")


def encode(value: Any, tag: Any = None) -> bytes:
    out = bytearray()
    encode_element(tag, value, out)
    return bytes(out)


# ---------------------------------------------------------------- decoder


class TLVError(InvalidInput):
    def __init__(self, rule: str, what: str = "TLV"):
        super().__init__(what, rule)


class _Reader:
    def __init__(self, data: bytes, what: str):
        self.data = data
        self.pos = 0
        self.what = what

    def take(self, n: int) -> bytes:
        if self.pos + n > len(self.data):
            raise TLVError(f"truncated at offset {self.pos} (needs {n} more bytes)", self.what)
        chunk = self.data[self.pos : self.pos + n]
        self.pos += n
        return chunk

    def element(self, depth: int = 0) -> tuple[Any, Any] | None:
        """One element; ``None`` for an end-of-container marker."""
        start = self.pos
        control = self.take(1)[0]
        if control == END_OF_CONTAINER:
            return None
        tag_control = control & 0xE0
        etype = control & 0x1F
        tag: Any
        if tag_control == ANONYMOUS:
            tag = None
        elif tag_control == CONTEXT:
            tag = self.take(1)[0]
        elif tag_control in (COMMON_2, COMMON_4):
            n = 2 if tag_control == COMMON_2 else 4
            tag = ("common", int.from_bytes(self.take(n), "little"))
        elif tag_control in (IMPLICIT_2, IMPLICIT_4):
            n = 2 if tag_control == IMPLICIT_2 else 4
            tag = ("implicit", int.from_bytes(self.take(n), "little"))
        else:
            vendor, profile = struct.unpack("<HH", self.take(4))
            n = 2 if tag_control == FULLY_6 else 4
            tag = (vendor, profile, int.from_bytes(self.take(n), "little"))
        if etype <= 0x03:
            size = 1 << etype
            value: Any = Signed(int.from_bytes(self.take(size), "little", signed=True))
        elif etype <= 0x07:
            size = 1 << (etype - 4)
            value = int.from_bytes(self.take(size), "little")
        elif etype in (0x08, 0x09):
            value = etype == 0x09
        elif etype == 0x0A:
            value = Float32(struct.unpack("<f", self.take(4))[0])
        elif etype == 0x0B:
            value = struct.unpack("<d", self.take(8))[0]
        elif 0x0C <= etype <= 0x13:
            size = 1 << ((etype - 0x0C) % 4)
            length = int.from_bytes(self.take(size), "little")
            raw = self.take(length)
            if etype <= 0x0F:
                try:
                    value = raw.decode("utf-8")
                except UnicodeDecodeError:
                    raise TLVError(f"invalid UTF-8 string at offset {start}", self.what) from None
            else:
                value = bytes(raw)
        elif etype == 0x14:
            value = None
        elif etype in (0x15, 0x16, 0x17):
            if depth > 32:
                raise TLVError("containers nested too deeply", self.what)
            cls = {0x15: Structure, 0x16: Array, 0x17: List}[etype]
            value = cls()
            while True:
                item = self.element(depth + 1)
                if item is None:
                    break
                if cls is Array and item[0] is not None:
                    raise TLVError(f"array element with a tag at offset {start}", self.what)
                value.items.append(item)
        else:
            raise TLVError(f"unknown element type 0x{etype:02x} at offset {start}", self.what)
        return tag, value


def decode(data: bytes, what: str = "TLV", allow_trailing: bool = False) -> tuple[Any, Any]:
    """Decode one element; returns ``(tag, value)``."""
    reader = _Reader(bytes(data), what)
    item = reader.element()
    if item is None:
        raise TLVError("unexpected end-of-container at offset 0", what)
    if not allow_trailing and reader.pos != len(reader.data):
        raise TLVError(f"{len(reader.data) - reader.pos} trailing bytes after the element", what)
    return item


