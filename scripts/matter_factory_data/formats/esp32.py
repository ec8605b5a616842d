"""ESP32 factory data: the ``chip-factory`` NVS namespace as esp-matter-mfg-tool writes it, built with
``esp-idf-nvs-partition-gen``, and a small NVS reader (plain and AES-XTS encrypted) for ``inspect``.

Key order, types and encodings follow esp-matter-mfg-tool: salt and verifier as Base64 strings, the DAC
key as a raw 32-byte blob next to its 65-byte public key, numbers as u32, strings with a NUL.
"""

from __future__ import annotations

import base64
import io
import struct
import zlib
from typing import NamedTuple

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from ..crypto.spake2p import p256_point as public_point
from ..errors import InvalidInput
from ..model import FactoryData

NAME = "esp32"
DESCRIPTION = "ESP32: an NVS partition (esp-matter-mfg-tool's chip-factory namespace)"
NAMESPACE = "chip-factory"
# model field -> the chip-factory NVS key it is stored under (salt and verifier as Base64 text)
FIELDS = {
    "discriminator": "discriminator", "spake2_it": "iteration-count", "spake2_salt": "salt",
    "vendor_id": "vendor-id", "vendor_name": "vendor-name", "product_id": "product-id",
    "product_name": "product-name", "hw_ver": "hardware-ver", "hw_ver_str": "hw-ver-str", "date": "mfg-date",
    "rd_uid": "rd-id-uid", "product_finish": "product-finish", "primary_color": "product-color",
    "part_number": "part-number", "sn": "serial-num", "dac_cert": "dac-cert", "dac_key": "dac-key",
    "pai_cert": "pai-cert", "spake2_verifier": "verifier", "product_label": "product-label",
    "product_url": "product-url",
}
BASE64_KEYS = ("salt", "verifier")
DEFAULT_SIZE = 0x6000
PAGE = 4096
ENTRY = 32
ENTRIES_PER_PAGE = 126
TYPES = {0x01: "u8", 0x11: "i8", 0x02: "u16", 0x12: "i16", 0x04: "u32", 0x14: "i32", 0x08: "u64", 0x18: "i64",
         0x21: "string", 0x41: "blob (V1)", 0x42: "blob_data", 0x48: "blob_index"}


def chip_factory_entries(v: dict) -> list[tuple[str, str, object]]:
    """(key, encoding, value) in esp-matter-mfg-tool's write order; ``v`` holds the device's values
    (salt and verifier as bytes, DAC key as the raw scalar, certificates as DER)."""
    out: list[tuple[str, str, object]] = []
    if v.get("discriminator") is not None:  # absent when the commissionable data is in esp_secure_cert
        out += [("discriminator", "u32", v["discriminator"]), ("iteration-count", "u32", v["iteration_count"]),
                ("salt", "string", base64.b64encode(v["salt"]).decode())]
    out.append(("vendor-id", "u32", v["vendor_id"]))
    if v.get("vendor_name"):
        out.append(("vendor-name", "string", v["vendor_name"]))
    out.append(("product-id", "u32", v["product_id"]))
    for key, name, enc in (("product-name", "product_name", "string"), ("hardware-ver", "hw_ver", "u32"),
                           ("hw-ver-str", "hw_ver_str", "string"), ("mfg-date", "date", "string")):
        if v.get(name) is not None and v.get(name) != "":
            out.append((key, enc, v[name]))
    if v.get("rd_uid") is not None:
        out.append(("rd-id-uid", "binary", v["rd_uid"]))
    for key, name in (("product-finish", "product_finish"), ("product-color", "product_color")):
        if v.get(name) is not None:
            out.append((key, "u32", v[name]))
    if v.get("part_number"):
        out.append(("part-number", "string", v["part_number"]))
    out.append(("serial-num", "string", v["serial"]))
    if v.get("dac_cert") is not None:
        out += [("dac-cert", "binary", v["dac_cert"]), ("dac-key", "binary", v["dac_key"]),
                ("dac-pub-key", "binary", v["dac_pub_key"]), ("pai-cert", "binary", v["pai_cert"])]
    if v.get("verifier") is not None:
        out.append(("verifier", "string", base64.b64encode(v["verifier"]).decode()))
    if v.get("cd") is not None:
        out.append(("cert-dclrn", "binary", v["cd"]))
    out += list(v.get("extra", []))
    for key, name in (("product-label", "product_label"), ("product-url", "product_url")):
        if v.get(name):
            out.append((key, "string", v[name]))
    return out


def encode(device: FactoryData, options: dict | None = None) -> bytes:
    """One device's NVS partition. ``options``: ``dac_pub_key`` (the DAC's public point; computed from the
    key when absent), ``cd`` (the Certification Declaration, DER), ``size`` (default 0x6000)."""
    options = options or {}
    pub = options.get("dac_pub_key")
    if pub is None and device.dac_key is not None:
        pub = public_point(int.from_bytes(device.dac_key, "big"))
    values = dict(discriminator=device.discriminator, iteration_count=device.spake2_it, salt=device.spake2_salt,
                  vendor_id=device.vendor_id, vendor_name=device.vendor_name, product_id=device.product_id,
                  product_name=device.product_name, hw_ver=device.hw_ver, hw_ver_str=device.hw_ver_str,
                  date=device.date, rd_uid=device.rd_uid, product_finish=device.product_finish,
                  product_color=device.primary_color, part_number=device.part_number, serial=device.sn,
                  dac_cert=device.dac_cert, dac_key=device.dac_key, dac_pub_key=pub, pai_cert=device.pai_cert,
                  verifier=device.spake2_verifier, cd=options.get("cd"), product_label=device.product_label,
                  product_url=device.product_url)
    return partition([(NAMESPACE, chip_factory_entries(values))], options.get("size", DEFAULT_SIZE))


def decode(data: bytes, options: dict | None = None) -> FactoryData:
    """The device a partition's chip-factory namespace holds (``options``: ``keys_partition`` to decrypt)."""
    keys_partition = (options or {}).get("keys_partition")
    if keys_partition is not None:
        data = decrypt_entries(data, keys_partition)
    stored = read(data).get(NAMESPACE)
    if stored is None:
        raise InvalidInput("NVS", "no 'chip-factory' namespace (wrong keys partition, or not a factory partition)")
    return FactoryData(**{field: stored_value(stored, key) for field, key in FIELDS.items() if key in stored})


def stored_value(stored: dict, key: str):
    """A chip-factory value as the model holds it (salt and verifier from their Base64 text)."""
    value = stored[key]
    if key in BASE64_KEYS:
        try:
            return base64.b64decode(value, validate=True)
        except (ValueError, TypeError):
            raise InvalidInput(key, "is not Base64 text") from None
    return value


def partition(namespaces: list[tuple[str, list[tuple[str, str, object]]]], size: int = DEFAULT_SIZE,
              key: bytes | None = None) -> bytes:
    """An NVS partition image (format V2) of ``size`` bytes holding the namespaces in order; encrypted with
    ``key`` (the 64 bytes of an NVS keys partition) when given."""
    # the NVS generator imports its encryption and CSV machinery: only runs that write NVS load it
    from esp_idf_nvs_partition_gen import nvs_partition_gen as gen

    if size % PAGE or size < 3 * PAGE:
        raise InvalidInput("--size", f"0x{size:x} must be a multiple of 4096 and at least 0x3000")
    buf = io.BytesIO()
    if key is None:
        nvs = gen.nvs_open(buf, size - PAGE, gen.Page.VERSION2)
    else:
        nvs = gen.nvs_open(buf, size - PAGE, gen.Page.VERSION2, is_encrypt=True, key=key)
    try:
        for name, items in namespaces:
            gen.write_entry(nvs, name, "namespace", "", "")
            for key, encoding, value in items:
                if len(key) > 15:
                    raise InvalidInput(key, "NVS keys are at most 15 characters")
                gen.write_entry(nvs, key, "data", encoding, value)
    except gen.InsufficientSizeError as e:
        raise InvalidInput("--size", str(e)) from None
    gen.nvs_close(nvs)
    return buf.getvalue()


# ---------------------------------------------------------------- reading


def _crc(data: bytes) -> int:
    return zlib.crc32(data, 0xFFFFFFFF) & 0xFFFFFFFF


def int_value(e: Entry) -> int:
    """The value of a numeric entry (u8 .. i64)."""
    name = TYPES[e.type]
    width = {"8": 1, "16": 2, "32": 4, "64": 8}[name[1:]]
    return int.from_bytes(e.body[:width], "little", signed=name.startswith("i"))


def looks_like(data: bytes) -> bool:
    return len(data) >= PAGE and len(data) % PAGE == 0 and data[8] in (0xFE, 0xFF) and \
        data[:4] in (b"\xfe\xff\xff\xff", b"\xfc\xff\xff\xff") and struct.unpack_from("<I", data, 28)[0] == _crc(data[4:28])


def decrypt_entries(data: bytes, keys_partition: bytes) -> bytes:
    """Undo NVS encryption: every written 32-byte entry is AES-256-XTS with the entry's offset as tweak."""
    key = keys_partition[:64]
    if struct.unpack_from("<I", keys_partition, 64)[0] != _crc(key):
        raise InvalidInput("keys partition", "CRC of the XTS keys does not match")
    out = bytearray(data)
    for p in range(0, len(data), PAGE):
        if data[p : p + 4] == b"\xff\xff\xff\xff":
            continue
        for i in range(ENTRIES_PER_PAGE):
            off = p + 64 + ENTRY * i
            state = (data[p + 32 + i // 4] >> ((i % 4) * 2)) & 3
            if state == 3:
                continue
            dec = Cipher(algorithms.AES(key), modes.XTS(off.to_bytes(16, "little"))).decryptor()
            out[off : off + ENTRY] = dec.update(data[off : off + ENTRY]) + dec.finalize()
    return bytes(out)


PAGE_STATES = {0xFFFFFFFF: "Empty", 0xFFFFFFFE: "Active", 0xFFFFFFFC: "Full", 0xFFFFFFF8: "Freeing"}


class Entry(NamedTuple):
    """One written entry of an NVS page, as the flash holds it."""

    page: int  # the page's position in the partition
    page_seq: int  # the page's sequence number (its place in NVS's order)
    page_state: str  # Active, Full, Freeing
    index: int  # the entry's slot on its page
    namespace: int
    type: int  # TYPES
    span: int
    chunk: int
    key: str
    body: bytes  # the 8-byte data field
    payload: bytes  # the data of variable-length types (strings, blob chunks), else b""
    raw: bytes  # the entry's 32 bytes followed by its payload slots


def entries(data: bytes, strict: bool = True):
    """Every written entry, page by page, with its CRCs checked (header, entry, payload). Not ``strict``:
    entries whose CRC does not match (an encrypted partition read without its keys) are left out."""
    if len(data) % PAGE:
        raise InvalidInput("NVS", f"size {len(data)} is not a whole number of 4096-byte pages")
    for p in range(0, len(data), PAGE):
        page = data[p : p + PAGE]
        if page[:4] == b"\xff\xff\xff\xff":
            continue
        if struct.unpack_from("<I", page, 28)[0] != _crc(page[4:28]):
            raise InvalidInput("NVS", f"page {p // PAGE}: header CRC does not match")
        state = PAGE_STATES.get(struct.unpack_from("<I", page, 0)[0], "Corrupted")
        seq = struct.unpack_from("<I", page, 4)[0]
        i = 0
        while i < ENTRIES_PER_PAGE:
            if (page[32 + i // 4] >> ((i % 4) * 2)) & 3 != 2:  # 3 empty, 0 erased
                i += 1
                continue
            e = page[64 + ENTRY * i : 64 + ENTRY * (i + 1)]
            ns, typ, span, chunk = e[0], e[1], e[2], e[3]
            if struct.unpack_from("<I", e, 4)[0] != _crc(e[:4] + e[8:]):
                if strict:
                    raise InvalidInput("NVS", f"page {p // PAGE} entry {i}: CRC does not match")
                i += 1
                continue
            key = e[8:24].split(b"\0", 1)[0].decode("ascii", "replace")
            body = e[24:32]
            payload = b""
            if typ in (0x21, 0x42, 0x41):
                size = struct.unpack_from("<H", body, 0)[0]
                payload = page[64 + ENTRY * (i + 1) : 64 + ENTRY * (i + 1) + size]
                if _crc(payload) != struct.unpack_from("<I", body, 4)[0]:
                    if strict:
                        raise InvalidInput("NVS", f"{key}: data CRC does not match")
                    i += max(1, span)
                    continue
            elif typ not in TYPES and typ != 0x48:
                if strict:
                    raise InvalidInput("NVS", f"{key}: unknown item type 0x{typ:02x}")
                i += max(1, span)
                continue
            raw = page[64 + ENTRY * i : 64 + ENTRY * (i + max(1, span))]
            yield Entry(p // PAGE, seq, state, i, ns, typ, span, chunk, key, body, payload, raw)
            i += max(1, span)


def read(data: bytes) -> dict[str, dict[str, object]]:
    """namespace -> key -> value of every written entry (blobs reassembled from their chunks)."""
    ns_names = {0: None}
    raw_items = []
    chunks: dict = {}
    for e in entries(data):
        ns, typ, key = e.namespace, e.type, e.key
        if typ == 0x21:
            raw_items.append((ns, key, e.payload.rstrip(b"\0").decode("utf-8", "replace")))
        elif typ == 0x42:
            chunks[(ns, key, e.chunk)] = e.payload
        elif typ == 0x41:
            raw_items.append((ns, key, bytes(e.payload)))
        elif typ == 0x48:
            total, count, start = struct.unpack_from("<IBB", e.body, 0)
            blob = b"".join(chunks.get((ns, key, start + c), b"") for c in range(count))
            if len(blob) != total:
                raise InvalidInput("NVS", f"{key}: blob chunks hold {len(blob)} of {total} bytes")
            raw_items.append((ns, key, blob))
        else:
            value = int_value(e)
            if ns == 0:
                ns_names[value] = key
            else:
                raw_items.append((ns, key, value))
    out: dict[str, dict[str, object]] = {}
    for ns, key, value in raw_items:
        out.setdefault(ns_names.get(ns, f"namespace {ns}"), {})[key] = value
    return out
