"""nRF Connect factory data partition: JSON document -> CBOR -> Intel HEX / BIN, and back.

Encoding (as the nRF Connect partition script does it):
  * one definite-length CBOR map, keys as text strings in document order (no sorting, no tag);
  * top-level strings become byte strings: ``"hex:..."`` decoded, other text as UTF-8 bytes;
  * top-level integers are minimal-length unsigned integers;
  * nested values (inside ``user``) keep their CBOR types: strings stay text, ``"hex:..."`` too,
    unless ``user_hex_as_bytes`` asks for the newest upstream behaviour (decode to bytes).
The image is the CBOR followed by one 0x00 byte (the reference's ``putsz`` terminator).

Decoding applies the device parser's rules (FactoryDataParser.c): see ``parse_partition``.
"""

from __future__ import annotations

import io
import json
from json.encoder import encode_basestring_ascii
from typing import Any

import cbor2
from intelhex import IntelHex

from ..errors import InvalidInput
from ..model import DEVICE_KEY_ORDER, FIELD_SPECS, HEX_PREFIX, FactoryData, parse_hex

NAME = "nrfconnect"
DESCRIPTION = "nRF Connect (Zephyr): a CBOR map in its own flash partition, ended by a 0x00 byte"
FIELDS = {name: name for name in FIELD_SPECS}  # every model field, under its own name
TERMINATOR = b"\x00"


# ---------------------------------------------------------------- CBOR encoder (cbor2)


def encode_cbor(doc: dict, user_hex_as_bytes: bool = False) -> bytes:
    """The CBOR map of a JSON-level factory data document, written by ``cbor2`` (definite lengths,
    minimal integers, document order): top-level strings become byte strings, nested values keep their
    types. Batches fill ``DocTemplate`` instead, which a test proves gives the same bytes."""
    try:
        return cbor2.dumps({key: _cbor_value(key, value, user_hex_as_bytes) for key, value in doc.items()})
    except (cbor2.CBOREncodeError, TypeError, ValueError) as e:
        raise InvalidInput("partition", f"cannot encode the document as CBOR ({e})") from None


def _cbor_value(path: str, value: Any, hex_as_bytes: bool, top: bool = True) -> Any:
    if isinstance(value, str):
        if value.startswith(HEX_PREFIX) and (top or hex_as_bytes):
            return parse_hex(value, path)
        return value.encode("utf-8") if top else value
    if isinstance(value, float):
        raise InvalidInput(path, f"floating-point value {value!r} is not allowed (the device parser rejects floats)")
    if isinstance(value, dict):
        return {k: _cbor_value(f"{path}.{k}", v, hex_as_bytes, False) for k, v in value.items()}
    if isinstance(value, list):
        return [_cbor_value(f"{path}[{i}]", v, hex_as_bytes, False) for i, v in enumerate(value)]
    return value


def image_bytes(cbor: bytes) -> bytes:
    """The partition image: CBOR + the 0x00 terminator."""
    return cbor + TERMINATOR


def encode(device: FactoryData, options: dict | None = None) -> bytes:
    """One device's partition image (CBOR + terminator). ``options``: ``size`` (the partition size: the
    image must fit), ``user_hex_as_bytes`` (see the module's description)."""
    options = options or {}
    cbor = encode_cbor(device.to_doc(), user_hex_as_bytes=options.get("user_hex_as_bytes", False))
    if options.get("size") is not None:
        check_size(cbor, options["size"])
    return image_bytes(cbor)


def decode(data: bytes, options: dict | None = None) -> FactoryData:
    """The device a partition image holds, as the device parser reads it; a problem the device would hit
    is an error here (``parse_partition`` lists them all)."""
    part = parse_partition(data)
    if part.problems:
        raise InvalidInput("partition", part.problems[0])
    return FactoryData.from_doc(part.doc)


def looks_like(data: bytes) -> bool:
    """A definite-length CBOR map whose first key is a factory data key."""
    reader = _Reader(data)
    try:
        if reader.head()[0] != 5:
            return False
        return reader.item() in FIELD_SPECS
    except (InvalidInput, IndexError, UnicodeDecodeError, TypeError):
        return False


def check_size(cbor: bytes, size: int) -> None:
    """The image (CBOR + terminator) must fit the partition."""
    total = len(cbor) + len(TERMINATOR)
    if total > size:
        raise InvalidInput(
            "--size",
            f"factory data needs {total} bytes ({len(cbor)} bytes of CBOR + 1 terminator byte) "
            f"but the partition holds {size} (0x{size:x}) bytes",
        )


class DocTemplate:
    """The JSON text and the partition image of many documents that differ only in the ``varying`` fields
    (a batch's devices): the other fields are encoded once, for the first document, and each document then
    encodes only its own values. The bytes are those of ``json.dumps(fd.to_doc())`` and
    ``image_bytes(encode_cbor(fd.to_doc()))`` (a test compares them). Every field outside ``varying`` must
    equal the first document's; models with user-typed hex text, extra keys or their own key order take the
    general path."""

    def __init__(self, varying):
        self.varying = frozenset(varying)
        self._plans: dict = {}

    def render(self, fd) -> tuple[bytes, bytes]:
        """(JSON text, partition image) of ``fd``."""
        if fd.extra or fd.order or fd.hex_text:
            doc = fd.to_doc()
            return json.dumps(doc).encode("ascii"), image_bytes(encode_cbor(doc))
        shape = tuple(sorted(n for n in self.varying if getattr(fd, n) not in (None, "", b"")))
        plan = self._plans.get(shape)
        if plan is None:
            plan = self._plans[shape] = self._plan(fd.to_doc())
        steps, json_tail, cbor_tail = plan
        js: list = []
        cb: list = []
        for json_head, cbor_head, name, kind in steps:
            value = getattr(fd, name)
            if kind == "bytes":
                js += (json_head, '"hex:', value.hex(), '"')
                cb += (cbor_head, _head(2, len(value)), value)
            elif kind == "uint":
                js += (json_head, str(value))
                cb += (cbor_head, _head(0, value))
            elif kind == "text" and not value.startswith(HEX_PREFIX):
                raw = value.encode("utf-8")
                js += (json_head, encode_basestring_ascii(value))
                cb += (cbor_head, _head(2, len(raw)), raw)
            else:
                js += (json_head, json.dumps(value))
                cb += (cbor_head, encode_cbor({name: value})[1 + len(_key_bytes(name)):])
        js.append(json_tail)
        cb.append(cbor_tail)
        return "".join(js).encode("ascii"), b"".join(cb)

    def _plan(self, doc: dict) -> tuple:
        steps = []
        json_text, cbor = "{", bytearray(_head(5, len(doc)))
        for i, (key, value) in enumerate(doc.items()):
            sep = ", " if i else ""
            if key in self.varying:
                steps.append((json_text + sep + json.dumps(key) + ": ", bytes(cbor) + _key_bytes(key), key,
                              FIELD_SPECS[key].kind))
                json_text, cbor = "", bytearray()
            else:
                json_text += sep + json.dumps({key: value})[1:-1]
                cbor += encode_cbor({key: value})[1:]
        return steps, json_text + "}", bytes(cbor) + TERMINATOR


def _head(major: int, n: int) -> bytes:
    """A CBOR head (major type and minimal-length argument), for ``DocTemplate``'s pieces."""
    m = major << 5
    if n < 24:
        return bytes([m | n])
    for info, size in ((24, 1), (25, 2), (26, 4), (27, 8)):
        if n < 1 << (8 * size):
            return bytes([m | info]) + n.to_bytes(size, "big")
    raise ValueError(n)


def _key_bytes(key: str) -> bytes:
    raw = key.encode("utf-8")
    return _head(3, len(raw)) + raw


def to_intel_hex(image: bytes, offset: int) -> bytes:
    """Intel HEX text of the image at ``offset``, written by ``intelhex`` (the reference script's writer): the
    plain path, for single devices. Batches use ``to_intel_hex_fast``: the same text, a test compares them."""
    _check_hex_range(image, offset)
    ih = IntelHex()
    ih.frombytes(image, offset=offset)
    out = io.StringIO()
    ih.write_hex_file(out, write_start_addr=False)
    return out.getvalue().encode("ascii")


def _check_hex_range(image: bytes, offset: int) -> None:
    if offset < 0 or offset + len(image) > 0x100000000:
        raise InvalidInput("--offset", f"0x{offset:x} + {len(image)} bytes does not fit 32-bit addresses")


def to_intel_hex_fast(image: bytes, offset: int) -> bytes:
    """Intel HEX text of the image at ``offset``, as intelhex's ``write_hex_file`` writes it: 16-byte data records that never cross a 64 KiB boundary, an extended
    linear address record before the first record at or above 64 KiB and at every 64 KiB boundary, no start
    address record, uppercase hex, LF line ends, the EOF record. The batch accelerator: it runs once per
    device there, where intelhex's per-byte bookkeeping dominated."""
    _check_hex_range(image, offset)
    end = len(image)
    base = offset & 0xFFFF
    if not end or base + end > 0x10000:
        return _intel_hex_segments(image, offset)
    # One 64 KiB segment (a factory data partition always is): every full record is laid out in one buffer
    # (length, address, type, 16 data bytes, checksum: 21 bytes), the checksums come from one set of
    # big-integer lane sums, and the buffer is hex-encoded at once with a line break after every record.
    full = end // 16
    parts = []
    if offset + end > 0x10000:
        parts.append(_ela_record(offset >> 16))
    if full:
        key = (base, full)
        layout = _RECORD_LAYOUTS.get(key)
        if layout is None:
            heads = bytearray(21 * full)
            heads[0::21] = bytes([16]) * full
            heads[1::21] = bytes((base + 16 * k) >> 8 for k in range(full))
            heads[2::21] = bytes((base + 16 * k) & 0xFF for k in range(full))
            # (0x100 - header sum) in 16-bit lanes: subtracting the data sums never borrows across lanes
            lanes = int.from_bytes(b"".join((0x100 + (-(16 + (heads[21 * k + 1]) + heads[21 * k + 2]) & 0xFF))
                                            .to_bytes(2, "big") for k in range(full)), "big")
            layout = _RECORD_LAYOUTS[key] = (bytes(heads), lanes)
            if len(_RECORD_LAYOUTS) > 64:
                _RECORD_LAYOUTS.clear()
        heads, lanes = layout
        data = image[: 16 * full]
        records = bytearray(heads)
        for j in range(16):
            records[4 + j :: 21] = data[j::16]
        sums = bytearray(2 * full)
        sums[1::2] = _sums16(data)
        records[20::21] = (lanes - int.from_bytes(sums, "big")).to_bytes(2 * full, "big")[1::2]
        parts.append(":" + records.hex("\n", 21).upper().replace("\n", "\n:") + "\n")
    if end % 16:
        a = base + 16 * full
        parts.append(_record(bytes((end % 16, a >> 8, a & 0xFF, 0)) + image[16 * full :]))
    parts.append(":00000001FF\n")
    return "".join(parts).encode("ascii")


_RECORD_LAYOUTS: dict = {}
_LANE_MASKS: dict = {}


def _sums16(data: bytes) -> bytes:
    """The low byte of the sum of every 16-byte group of ``data`` (its length a multiple of 16): adjacent
    lanes are added pairwise (8-, 16-, 32-, 64-bit) on the whole buffer as one integer."""
    n = len(data)
    masks = _LANE_MASKS.get(n)
    if masks is None:
        groups = n // 16
        masks = _LANE_MASKS[n] = [int.from_bytes(bytes(p) * groups, "big") for p in (
            [0, 0xFF] * 8, [0, 0, 0xFF, 0xFF] * 4, ([0] * 4 + [0xFF] * 4) * 2, [0] * 8 + [0xFF] * 8)]
        if len(_LANE_MASKS) > 64:
            _LANE_MASKS.clear()
    v = int.from_bytes(data, "big")
    for width, mask in zip((8, 16, 32, 64), masks):
        v = (v & mask) + (v >> width & mask)
    return v.to_bytes(n, "big")[15::16]


def _record(rec: bytes) -> str:
    return ":" + (rec + bytes((-sum(rec) & 0xFF,))).hex().upper() + "\n"


def _ela_record(high: int) -> str:
    return _record(bytes((2, 0, 0, 4, high >> 8, high & 0xFF)))


def _intel_hex_segments(image: bytes, offset: int) -> bytes:
    """The general case: any length, records split at 64 KiB boundaries."""
    lines = []
    pos = 0
    end = len(image)
    use_ela = offset + end > 0x10000
    while pos < end:  # one 64 KiB segment at a time
        addr = offset + pos
        high = addr >> 16
        seg_end = min(end, pos + 0x10000 - (addr & 0xFFFF))
        if use_ela:
            lines.append(_ela_record(high))
        base = addr - pos
        lines.extend(_record(bytes((min(16, seg_end - p), ((base + p) >> 8) & 0xFF, (base + p) & 0xFF, 0))
                             + image[p : min(p + 16, seg_end)]) for p in range(pos, seg_end, 16))
        pos = seg_end
    lines.append(":00000001FF\n")
    return "".join(lines).encode("ascii")


# ---------------------------------------------------------------- device-rule parser


class Partition:
    """What the device parser reads from a partition, plus what it would silently lose.

    ``doc``: the JSON-level document, keys as the device resolves them; ``raw_keys``: (key as stored, key
    the device resolves it to); ``problems``: what the device would hit or mis-read; ``notes``: harmless
    findings (trailing bytes, indefinite map, a migrated DAC key).
    """

    def __init__(self):
        self.doc: dict = {}
        self.raw_keys: list = []
        self.cbor_length = 0
        self.trailing = b""
        self.problems: list = []
        self.notes: list = []
        self.dac_key_migrated = False


class _Reader:
    def __init__(self, buf: bytes):
        self.buf = buf
        self.pos = 0

    def head(self) -> tuple[int, int, int]:
        """(major type, additional info, argument); argument is -1 for indefinite length."""
        if self.pos >= len(self.buf):
            raise InvalidInput("partition", f"truncated CBOR at offset {self.pos}")
        b = self.buf[self.pos]
        self.pos += 1
        major, ai = b >> 5, b & 0x1F
        if ai < 24:
            return major, ai, ai
        if ai == 31:
            return major, ai, -1
        if ai > 27:
            raise InvalidInput("partition", f"malformed CBOR head 0x{b:02x} at offset {self.pos - 1}")
        n = 1 << (ai - 24)
        if self.pos + n > len(self.buf):
            raise InvalidInput("partition", f"truncated CBOR at offset {self.pos}")
        arg = int.from_bytes(self.buf[self.pos : self.pos + n], "big")
        self.pos += n
        return major, ai, arg

    def take(self, n: int) -> bytes:
        if self.pos + n > len(self.buf):
            raise InvalidInput("partition", f"truncated CBOR at offset {self.pos} (string of {n} bytes)")
        out = self.buf[self.pos : self.pos + n]
        self.pos += n
        return out

    def item(self) -> Any:
        """Decode one generic item with cbor2 and advance past it."""
        fp = io.BytesIO(self.buf)
        fp.seek(self.pos)
        try:
            value = cbor2.CBORDecoder(fp).decode()
        except Exception as e:  # cbor2 raises several types for malformed input
            raise InvalidInput("partition", f"malformed CBOR at offset {self.pos}: {e}") from None
        self.pos = fp.tell()
        return value


def resolve_key(key: str) -> str | None:
    """The known key the device parser matches ``key`` to (``strncmp(known, key, len(key))``)."""
    for known in DEVICE_KEY_ORDER:
        if known.startswith(key):
            return known
    return None


def _json_level(value: Any, path: str) -> Any:
    """Generic CBOR value to the JSON-level form (bytes become ``"hex:..."``)."""
    if isinstance(value, (bytes, bytearray)):
        return HEX_PREFIX + bytes(value).hex()
    if isinstance(value, float):
        raise InvalidInput(path, f"floating-point value {value!r} (the device parser rejects floats)")
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            if not isinstance(k, str):
                raise InvalidInput(f"{path}.{k!r}", "map keys must be text strings")
            out[k] = _json_level(v, f"{path}.{k}")
        return out
    if isinstance(value, list):
        return [_json_level(v, f"{path}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, (str, int, bool)) or value is None:
        return value
    raise InvalidInput(path, f"unsupported CBOR item {type(value).__name__}")


def parse_partition(buf: bytes) -> Partition:
    """Read a partition the way the device does; raise ``InvalidInput`` where the device parse fails."""
    p = Partition()
    if not buf:
        raise InvalidInput("partition", "is empty")
    if all(b == 0xFF for b in buf):
        raise InvalidInput("partition", "is erased flash (all 0xFF): the device parse fails")
    r = _Reader(bytes(buf))
    major, ai, count = r.head()
    if major == 6:
        raise InvalidInput("partition", f"starts with CBOR tag {count}; the device parser rejects tagged data")
    if major != 5:
        raise InvalidInput("partition", f"must start with a CBOR map, found major type {major}")
    if count == -1:
        p.notes.append("indefinite-length map (accepted by the device)")
    seen: dict[str, int] = {}
    index = 0
    while count == -1 or index < count:
        if count == -1 and r.pos < len(r.buf) and r.buf[r.pos] == 0xFF:
            r.pos += 1
            break
        key_offset = r.pos
        kmajor, _, klen = r.head()
        if kmajor != 3 or klen < 0:
            p.problems.append(
                f"key at offset {key_offset} is not a text string: the device stops parsing there and "
                f"silently ignores every later key"
            )
            break
        try:
            key = r.take(klen).decode("utf-8")
        except UnicodeDecodeError:
            raise InvalidInput("partition", f"key at offset {key_offset} is not valid UTF-8") from None
        index += 1
        known = resolve_key(key)
        p.raw_keys.append((key, known))
        if known is not None and known != key:
            p.problems.append(f"key {key!r} is a prefix of '{known}': the device reads it as '{known}'")
        target = known or key
        if target in seen:
            p.problems.append(f"key {target!r} appears more than once: the device keeps the last value")
        seen[target] = key_offset
        spec = FIELD_SPECS.get(known) if known else None
        value_offset = r.pos
        if spec is None or spec.kind == "user":
            value = r.item()
            try:
                p.doc[target] = _json_level(value, target)
            except InvalidInput as e:
                if spec is None:
                    p.problems.append(f"unknown key {key!r}: {e.rule}")
                    p.doc[target] = repr(value)
                else:
                    raise
            continue
        p.doc[target] = _field_value(r, spec, target, value_offset, p)
    p.cbor_length = r.pos
    p.trailing = bytes(r.buf[r.pos :])
    if p.trailing:
        kinds = {0x00: "0x00", 0xFF: "0xFF (erased flash)"}
        desc = ", ".join(sorted({kinds.get(b, "other") for b in p.trailing}))
        p.notes.append(f"{len(p.trailing)} byte(s) after the map ({desc}); the device ignores them")
    return p


def _field_value(r: _Reader, spec, target: str, value_offset: int, p: Partition):
    """A known field's value as the device reads it: an unsigned integer, or a byte string (hex text for
    bytes fields, UTF-8 text, a date of the form DDDD-DD-DD)."""
    vmajor, _, arg = r.head()
    if spec.kind == "uint":
        if vmajor != 0:
            kind = {1: "a negative integer", 7: "a float or simple value"}.get(vmajor, f"CBOR major type {vmajor}")
            raise InvalidInput(target, f"is {kind} at offset {value_offset}; the device expects an unsigned integer")
        return arg
    if vmajor != 2 or arg < 0:
        kind = "a text string" if vmajor == 3 else f"CBOR major type {vmajor}"
        if vmajor == 2:
            kind = "an indefinite-length byte string"
        raise InvalidInput(target, f"is {kind} at offset {value_offset}; the device expects a byte string")
    raw = r.take(arg)
    if spec.kind == "bytes":
        if target == "dac_key" and len(raw) == 32 and not any(raw):
            p.dac_key_migrated = True
            p.notes.append("dac_key is all zeros: the key was migrated to secure storage (PSA) on the device")
        return HEX_PREFIX + raw.hex()
    if spec.kind == "date" and (len(raw) != 10 or not (raw[:4] + raw[5:7] + raw[8:]).isdigit()
                                or raw[4:5] != b"-" or raw[7:8] != b"-"):
        raise InvalidInput("date", f"{raw!r} is not 10 bytes of the form DDDD-DD-DD; the device parse fails")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidInput(target, "is not valid UTF-8 text") from None
