"""Decode any factory data image back into the model and validate it as the device would."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from .errors import FactoryDataError, InvalidInput
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
    from intelhex import IntelHex

    import io

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
    from .formats import nrfconnect

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
            from . import documents

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
    from . import attestation

    migrated = fd.dac_key is not None and not any(fd.dac_key)
    dac_key = None
    if fd.dac_key and not migrated:
        from .spake2p import P256_ORDER

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


def inspect_file(path: str, offset: int | None = None, fmt: str | None = None) -> Inspection:
    from .fileio import read_bytes

    if fmt not in (None, "nrfconnect"):
        from .errors import OperationFailed

        raise OperationFailed(f"--format {fmt}: this version decodes nrfconnect images only")
    return inspect_bytes(read_bytes(path, "FILE"), path, offset)


SECRET_FIELDS = ("dac_key", "passcode")


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
