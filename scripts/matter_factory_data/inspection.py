"""Decode any factory data image back into the model and validate it as the device would."""

from __future__ import annotations

import io
import os
from dataclasses import dataclass, field

from intelhex import IntelHex

from . import documents, formats
from .crypto import attestation, cd, spake2p
from .crypto.der import ec_private_scalar
from .crypto.spake2p import P256_ORDER
from .errors import FactoryDataError, InvalidInput
from .fileio import read_bytes
from .formats import bouffalolab, esp32, esp_secure_cert, nrfconnect, nxp, telink, ti
from .model import FactoryData


@dataclass
class Inspection:
    path: str
    kind: str  # json, cbor, bin, hex
    fmt: str = "nrfconnect"
    offset: int | None = None
    image_length: int = 0
    model: FactoryData | None = None
    doc: dict = field(default_factory=dict)
    errors: list = field(default_factory=list)
    warnings: list = field(default_factory=list)
    notes: list = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors


def detect_kind(path: str, data: bytes) -> str:
    ext = os.path.splitext(path)[1].lower()
    if ext in (".json", ".cbor", ".bin", ".hex"):
        return ext[1:]
    head = data.lstrip()[:1]
    if head == b"{":
        return "json"
    if head == b":":
        return "hex"
    return "bin"


def image_from_hex(data: bytes, offset: int | None, what: str) -> tuple[int, bytes]:
    ih = IntelHex()
    try:
        ih.loadhex(io.StringIO(data.decode("ascii")))
    except Exception as e:  # intelhex raises its own hierarchy and ValueError
        raise InvalidInput(what, f"is not a valid Intel HEX file ({e})") from None
    segments = ih.segments()
    if not segments:
        raise InvalidInput(what, "holds no data")
    if offset is None:
        start, end = segments[0]
    else:
        for start, end in segments:
            if start <= offset < end:
                break
        else:
            raise InvalidInput("--offset", f"0x{offset:x} is not inside any data of {what} "
                               f"(data at {', '.join(f'0x{s:x}-0x{e - 1:x}' for s, e in segments)})")
        start = offset
    return start, ih.tobinstr(start=start, end=end - 1)


def inspect_bytes(data: bytes, path: str = "<bytes>", offset: int | None = None, kind: str | None = None,
                  check_chain: bool = True) -> Inspection:
    kind = kind or detect_kind(path, data)
    ins = Inspection(path=path, kind=kind, offset=offset)
    warn = ins.warnings.append
    image = data
    if kind == "hex":
        ins.offset, image = image_from_hex(data, offset, path)
    elif offset:
        if offset >= len(data):
            raise InvalidInput("--offset", f"0x{offset:x} is beyond the end of {path} ({len(data)} bytes)")
        image = data[offset:]
    ins.image_length = len(image)
    try:
        if kind == "json":
            doc = documents.loads(data, path)
        else:
            part = nrfconnect.parse_partition(image)
            doc = part.doc
            ins.errors += part.problems
            ins.notes += part.notes
        ins.doc = doc
        fd = FactoryData.from_doc(doc)
        ins.model = fd
        fd.validate(complete=True, warn=warn)
        ins.warnings += fd.test_material_warnings()
        if check_chain and fd.dac_cert and fd.pai_cert:
            _check_credentials(fd, ins)
    except FactoryDataError as e:
        ins.errors.append(str(e))
    return ins


def _check_credentials(fd: FactoryData, ins: Inspection) -> None:
    migrated = fd.dac_key is not None and not any(fd.dac_key)
    dac_key = None
    if fd.dac_key and not migrated:
        dac_key = int.from_bytes(fd.dac_key, "big")
        if not 0 < dac_key < P256_ORDER:
            ins.errors.append("dac_key: not a valid P-256 private scalar")
            return
    try:
        dac = attestation.load_cert(fd.dac_cert, "dac_cert")
        pai = attestation.load_cert(fd.pai_cert, "pai_cert")
    except InvalidInput as e:
        ins.errors.append(str(e))
        return
    result = attestation.check_chain(dac, pai, None, dac_key, fd.vendor_id, fd.product_id, fd.date)
    ins.errors += result.errors
    ins.warnings += result.deviations + result.notes


def inspect_file(path: str, offset: int | None = None, fmt: str | None = None, aes_key: str | None = None,
                 keys_path: str | None = None) -> Inspection:
    data = read_bytes(path, "FILE", MAX_INPUT)
    image = data[offset or 0:]
    if fmt is None and keys_path:
        fmt = "esp32"
    if fmt is None:
        fmt = formats.detect(image)
    if fmt == "esp_secure_cert":
        return inspect_esp_secure_cert(image, path)
    if fmt == "esp32":
        keys_partition = read_bytes(keys_path, "--keys", MAX_INPUT) if keys_path else None
        return inspect_esp32(image, path, keys_partition)
    if fmt == "nxp":
        return inspect_nxp(image, path, _aes_key(aes_key))
    if fmt == "bouffalolab":
        return inspect_bouffalolab(image, path, _aes_key(aes_key))
    kind = detect_kind(path, data)
    if fmt in (None, "telink", "ti") and kind == "hex":
        hex_offset, hex_image = image_from_hex(data, offset, path)
        if fmt == "ti" or (fmt is None and ti.looks_like(hex_image)):
            return inspect_ti(hex_image, path, "hex", hex_offset)
        if fmt == "telink" or telink.looks_like(hex_image):
            return inspect_telink(hex_image, path, "hex", hex_offset)
    if fmt == "ti":
        return inspect_ti(image, path, kind, offset)
    if fmt == "telink":
        return inspect_telink(image, path, kind, offset)
    return inspect_bytes(data, path, offset)  # nrfconnect: JSON, CBOR, BIN or a merged HEX


def inspect_telink(image: bytes, path: str, kind: str, offset: int | None) -> Inspection:
    """A Telink partition: decoded with Telink's layout, checked with the model's rules and the chain, the CD
    against the vendor and product IDs."""
    ins = Inspection(path=path, kind=kind, fmt="telink", offset=offset, image_length=len(image))
    try:
        stored = telink.read(image)
        ins.doc = {k: ("hex:" + v.hex() if isinstance(v, bytes) and k not in ("sn", "date") else
                       v.decode("utf-8", "replace") if isinstance(v, bytes) else v) for k, v in stored.items()}
        fd = telink.decode(image)
        ins.model = fd
        fd.validate(complete=False, warn=ins.warnings.append)  # every key is optional to the Telink parser
        missing = [name for name in telink.COMMISSIONING if getattr(fd, name) is None]
        if missing:
            ins.warnings.append(f"no {', '.join(missing)}: the device cannot be commissioned with this image alone")
        ins.warnings += fd.test_material_warnings()
        if fd.dac_cert and fd.pai_cert:
            _check_credentials(fd, ins)
        if telink.CD_KEY in stored:
            content = cd.parse(stored[telink.CD_KEY], telink.CD_KEY).content
            if content.vendor_id != fd.vendor_id or fd.product_id not in content.product_ids:
                ins.errors.append(f"{telink.CD_KEY}: the CD is for vendor 0x{content.vendor_id:04X}, not this "
                                  f"device's 0x{fd.vendor_id:04X}/0x{fd.product_id:04X}")
    except FactoryDataError as e:
        ins.errors.append(str(e))
    ins.notes.append("layout: Telink (vendor_id first, rd_uid and enable_key as hex text, cert_dclrn); an nRF "
                     "Connect parser reads this image too (give --format nrfconnect to check it that way)")
    return ins


def _chain_and_cd(fd: FactoryData, ins: Inspection, cd_der: bytes | None, where: str) -> None:
    """The DAC chain (when the image has one) and the CD against the device's IDs."""
    if fd.dac_cert and fd.pai_cert:
        _check_credentials(fd, ins)
    if cd_der:
        content = cd.parse(cd_der, where).content
        if content.vendor_id != fd.vendor_id or fd.product_id not in content.product_ids:
            ins.errors.append(f"{where}: the CD is for vendor 0x{content.vendor_id:04X}, not this device's "
                              f"0x{fd.vendor_id or 0:04X}/0x{fd.product_id or 0:04X}")


def _verifier_check(fd: FactoryData, ins: Inspection, where: str) -> None:
    if None not in (fd.passcode, fd.spake2_salt, fd.spake2_it, fd.spake2_verifier) and not ins.errors and \
            not spake2p.verifier_matches(fd.spake2_verifier, fd.passcode, fd.spake2_salt, fd.spake2_it):
        ins.errors.append(f"{where}: does not match the passcode, salt and iteration count")


def inspect_ti(image: bytes, path: str, kind: str, offset: int | None) -> Inspection:
    """A TI CC13x4/CC26x4 region: the table followed, every value checked with the model's rules."""
    ins = Inspection(path=path, kind=kind, fmt="ti", offset=offset, image_length=len(image))
    try:
        values = ti.read(image, offset if kind == "hex" else None)
        ins.doc = {k: (v.decode("utf-8", "replace") if k in ti.TEXT else int.from_bytes(v, "little")
                       if k in ti.INTEGERS else "hex:" + v.hex()) for k, v in values.items()}
        fd = ti.decode(image, {"base": offset if kind == "hex" else None})
        ins.model = fd
        ins.errors += formats.stored_value_problems(ti, {key: getattr(fd, field) for field, key in ti.FIELDS.items()})
        fd.validate(complete=False, warn=ins.warnings.append)
        ins.warnings += fd.test_material_warnings()
        _verifier_check(fd, ins, "spake2_verifier")
        _chain_and_cd(fd, ins, None, "")
    except FactoryDataError as e:
        ins.errors.append(str(e))
    used = ti.TABLE + sum(len(v) for v in ti.read(image, offset if kind == "hex" else None).values()) \
        if not ins.errors else len(image)
    ins.notes.append(f"layout: TI CC13x4/CC26x4 table of 17 entries, {used} of {ti.REGION} bytes used; the CD is "
                     f"built into the firmware, not stored here")
    return ins


def inspect_bouffalolab(image: bytes, path: str, key: bytes | None) -> Inspection:
    """A Bouffalo Lab MFD: both CRCs, the secured block (with the AES key), what ``mfd_init`` requires, the
    date as the device reads it, the chain and the CD."""
    ins = Inspection(path=path, kind="bin", fmt="bouffalolab", image_length=len(image))
    if key is not None and len(key) != 16:
        raise InvalidInput("--aes128_key", f"must be 16 bytes for a Bouffalo Lab MFD, got {len(key)}")
    try:
        values = bouffalolab.read(image, key)
    except FactoryDataError as e:
        ins.errors.append(str(e))
        return ins
    secured = values.pop("_secured_len", None)
    ins.doc = {k: (v.decode("utf-8", "replace") if k in bouffalolab.TEXT else int.from_bytes(v, "little")
                   if k in bouffalolab.INTEGERS and v else "hex:" + v.hex()) for k, v in values.items() if v}
    if secured is not None:
        ins.notes.append(f"secured block: {secured} encrypted bytes (the DAC key); give --aes128_key to check it")
    missing = [n for n in bouffalolab.REQUIRED if not values.get(n) and not (n == "dac_key" and secured)]
    if missing:
        ins.errors.append(f"{', '.join(missing)}: empty or missing; the device's mfd_init refuses the MFD")
    date = values.get("manufactoring_date")
    if date and len(date) != 4:
        ins.errors.append(f"manufactoring_date: {len(date)} bytes ({date[:16]!r}); the device reads 4 bytes "
                          f"[year high, year low, month, day] and gets garbage (write it with --date_encoding binary)")
    try:
        fd = bouffalolab.decode(image, {"aes_key": key})
        ins.model = fd
        fd.validate(complete=False, warn=ins.warnings.append)
        ins.warnings += fd.test_material_warnings()
        _verifier_check(fd, ins, "spake2p_verifier")
        _chain_and_cd(fd, ins, values.get("cd"), "cd")
    except FactoryDataError as e:
        ins.errors.append(str(e))
    ins.notes.append(f"layout: Bouffalo Lab MFD, {len(image)} of {bouffalolab.PARTITION} bytes")
    return ins


def _aes_key(text: str | None) -> bytes | None:
    if not text:
        return None
    try:
        key = bytes.fromhex(text)
    except ValueError:
        raise InvalidInput("--aes128_key", f"{text!r} is not a hex string") from None
    if len(key) not in (16, 32):
        raise InvalidInput("--aes128_key", f"must be 16 or 32 bytes, got {len(key)}")
    return key


SECRET_FIELDS = ("dac_key", "passcode", "dac_priv_key", "dac-key")  # as each format names them
MAX_INPUT = 32 << 20  # a merged Intel HEX of a 4 MiB flash is about 11.5 MB; a factory data image is far smaller


def render_text(ins: Inspection, show_secrets: bool = False) -> str:
    lines = [f"{ins.path}: {ins.fmt} factory data ({ins.kind}, {ins.image_length} bytes"
             + (f" at 0x{ins.offset:x}" if ins.offset is not None else "") + ")"]
    for key, value in ins.doc.items():
        lines.append(f"  {key:<16} {_show(key, value, show_secrets)}")
    for n in ins.notes:
        lines.append(f"note: {n}")
    for w in ins.warnings:
        lines.append(f"warning: {w}")
    for e in ins.errors:
        lines.append(f"error: {e}")
    lines.append("result: " + ("OK, the device accepts this factory data" if ins.ok else f"{len(ins.errors)} problem(s)"))
    return "\n".join(lines)


def _show(key: str, value, show_secrets: bool) -> str:
    if key in SECRET_FIELDS and not show_secrets:
        if key == "dac_key" and isinstance(value, str) and set(value[4:]) == {"0"}:
            return "<32 zero bytes: migrated to secure storage>"
        return "<secret, use --show_secrets>"
    if isinstance(value, str) and value.startswith("hex:"):
        n = (len(value) - 4) // 2
        body = value[4:]
        return f"{n} bytes {body[:64]}{'...' if len(body) > 64 else ''}"
    if isinstance(value, int) and key in ("vendor_id", "product_id", "discriminator"):
        return f"{value} (0x{value:04X})"
    return repr(value) if isinstance(value, str) else str(value)


def to_json(ins: Inspection, show_secrets: bool = False) -> dict:
    doc = {k: (v if show_secrets or k not in SECRET_FIELDS else None) for k, v in ins.doc.items()}
    return {
        "file": ins.path,
        "format": ins.fmt,
        "kind": ins.kind,
        "offset": ins.offset,
        "length": ins.image_length,
        "ok": ins.ok,
        "data": doc,
        "errors": ins.errors,
        "warnings": ins.warnings,
        "notes": ins.notes,
    }


# ---------------------------------------------------------------- NXP images


def inspect_nxp(data: bytes, path: str, key: bytes | None = None) -> Inspection:
    """Decode an NXP image (plain, AES-ECB with ``key``, or HWParameters-wrapped) and check every entry
    against the device readers' rules."""
    ins = Inspection(path=path, kind="bin", fmt="nxp")
    ins.image_length = len(data)
    try:
        d = nxp.read(data, key)
    except FactoryDataError as e:
        ins.errors.append(str(e))
        return ins
    values = {}
    for tag, raw in d.entries:
        name = nxp.TAGS[tag][0]
        try:
            values[name] = nxp.decode_value(tag, raw)
        except FactoryDataError as e:
            ins.errors.append(str(e))
            continue
        kind = nxp.TAGS[tag][1]
        want = {"u32": 4, "u16": 2, "u8": 1}.get(kind)
        if want is not None and len(raw) != want:
            ins.errors.append(f"{name}: {len(raw)} bytes, the readers expect {want}")
    ins.doc = {k: ("hex:" + v.hex() if isinstance(v, bytes) else v) for k, v in values.items()}
    ins.notes.append(f"{d.wrapper} image, payload {d.size} bytes"
                     + (f", {d.padding} padding bytes" if d.padding else ""))
    err = ins.errors.append
    for required in ("verifier", "salt", "iteration_count", "discriminator", "passcode", "vendor_id", "product_id"):
        if required not in values:
            err(f"{required}: missing (tags 1-7 are required by the RT1060 and RW61x readers)")
    v = values
    ins.errors += formats.stored_value_problems(nxp, v, skip=("dac_key",))  # a key may be a secure-element blob
    if not ins.errors and all(k in v for k in ("verifier", "passcode", "salt", "iteration_count")) and \
            not spake2p.verifier_matches(v["verifier"], v["passcode"], v["salt"], v["iteration_count"]):
        err("verifier: does not match passcode, salt and iteration_count")
    try:
        dac = attestation.load_cert(v["dac_cert"], "dac_cert") if "dac_cert" in v else None
        pai = attestation.load_cert(v["pai_cert"], "pai_cert") if "pai_cert" in v else None
        if dac is not None and pai is not None:
            key_bytes = v.get("dac_key")
            scalar = int.from_bytes(key_bytes, "big") if key_bytes and len(key_bytes) == 32 else None
            if key_bytes and len(key_bytes) != 32:
                ins.notes.append(f"dac_key is a {len(key_bytes)}-byte secure-element blob; not checked")
            result = attestation.check_chain(dac, pai, None, scalar, v.get("vendor_id"), v.get("product_id"))
            ins.errors += result.errors
            ins.warnings += result.deviations + result.notes
        if "cert_declaration" in v:
            content = cd.parse(v["cert_declaration"], "cert_declaration").content
            if "vendor_id" in v and (content.vendor_id != v["vendor_id"] or v.get("product_id") not in content.product_ids):
                err("cert_declaration: its vendor/product IDs differ from vendor_id/product_id")
    except FactoryDataError as e:
        err(str(e))
    readers = ["DefaultImpl", "RW61x"]
    if d.wrapper == "plain":
        readers += ["RW61x El2Go", "K32W0", "RT1060 (encrypt_none)"]
        readers += ["Zephyr", "K32W1/MCXW71 FwkImpl"] if d.size % 16 == 0 else ["Zephyr (loses the last bytes)"]
    elif d.wrapper == "hw_params":
        readers = ["K32W1/MCXW71 legacy (HWParameters)"]
    else:
        readers += ["Zephyr", "K32W1/MCXW71 FwkImpl (AES-128)", "RT1060 (AES-128)"]
    ins.notes.append("readers: " + ", ".join(readers))
    return ins


# ---------------------------------------------------------------- ESP32 NVS partitions


def inspect_esp32(data: bytes, path: str, keys_partition: bytes | None = None) -> Inspection:
    """Read an NVS partition (decrypting with its keys partition), list namespaces and entries, and check
    the ``chip-factory`` keys the way the ESP32 factory data provider reads them."""

    ins = Inspection(path=path, kind="bin", fmt="esp32")
    ins.image_length = len(data)
    err = ins.errors.append
    try:
        if keys_partition is not None:
            data = esp32.decrypt_entries(data, keys_partition)
        namespaces = esp32.read(data)
    except FactoryDataError as e:
        err(str(e))
        return ins
    ins.notes.append("namespaces: " + ", ".join(f"{n} ({len(k)} keys)" for n, k in namespaces.items()))
    cf = namespaces.get(esp32.NAMESPACE)
    if cf is None:
        err("no 'chip-factory' namespace (wrong keys partition, or not a factory partition)")
        return ins
    ins.doc = {k: ("hex:" + v.hex() if isinstance(v, bytes) else v) for k, v in cf.items()}
    try:
        err_all = formats.stored_value_problems(esp32, {k: esp32.stored_value(cf, k) for k in cf},
                                                skip=("dac_key",))  # its length is checked below
        ins.errors += err_all
        if "dac-cert" in cf and "pai-cert" in cf:
            dac = attestation.load_cert(cf["dac-cert"], "dac-cert")
            pai = attestation.load_cert(cf["pai-cert"], "pai-cert")
            key = cf.get("dac-key")
            if key is not None and len(key) != 32:
                err(f"dac-key: {len(key)} bytes, the provider needs the 32-byte scalar")
                key = None
            scalar = int.from_bytes(key, "big") if key else None
            if scalar is not None and cf.get("dac-pub-key") != attestation.public_point(scalar):
                err("dac-pub-key: is not the public key of dac-key")
            result = attestation.check_chain(dac, pai, None, scalar, cf.get("vendor-id"), cf.get("product-id"))
            ins.errors += result.errors
            ins.warnings += result.deviations + result.notes
        for required in ("discriminator", "iteration-count", "salt", "verifier", "vendor-id", "product-id",
                         "dac-cert", "dac-key", "dac-pub-key", "pai-cert"):
            if required not in cf:
                ins.warnings.append(f"{required}: not in the partition (the firmware must take it from elsewhere)")
    except (FactoryDataError, ValueError) as e:
        err(str(e))
    ins.notes.append("the passcode is not stored in ESP32 factory data, so the verifier is checked for form only")
    return ins


def inspect_esp_secure_cert(data: bytes, path: str) -> Inspection:
    """Read an esp_secure_cert partition: list its TLV records, check the DAC against the PAI and the DAC key,
    and the commissionable data's form when present."""
    ins = Inspection(path=path, kind="bin", fmt="esp_secure_cert")
    ins.image_length = len(data)
    err = ins.errors.append
    try:
        records = esp_secure_cert.read(data, path)
        values = esp_secure_cert.named_values(records, path)
    except FactoryDataError as e:
        err(str(e))
        return ins
    ins.notes.append("records: " + ", ".join(f"{t}/{s} ({len(d)} bytes)" for t, s, _, d in records))
    ins.doc = {k: ("hex:" + v.hex() if isinstance(v, bytes) else v) for k, v in values.items()
               if k not in ("dac-key", "random1", "random2")}
    try:
        for required in ("dac-cert", "pai-cert", "dac-key"):
            if required not in values:
                err(f"{required}: missing (the secure-cert DAC provider needs it)")
        if not ins.errors:
            dac = attestation.load_cert(values["dac-cert"], "dac-cert")
            pai = attestation.load_cert(values["pai-cert"], "pai-cert")
            scalar = ec_private_scalar(values["dac-key"], "dac-key")
            if scalar is None:
                err("dac-key: not an unencrypted P-256 key in SEC1 or PKCS#8 DER")
            vid, pid = attestation.matter_ids(dac, lenient=True)
            result = attestation.check_chain(dac, pai, None, scalar, vid, pid)
            ins.errors += result.errors
            ins.warnings += result.deviations + result.notes
        ins.errors += formats.stored_value_problems(esp_secure_cert, values, skip=("dac_key",))
    except (FactoryDataError, ValueError) as e:
        err(str(e))
    return ins
