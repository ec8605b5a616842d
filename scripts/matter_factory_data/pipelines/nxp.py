"""The NXP factory data generator: validated inputs -> KLV entries -> plain / ECB / hw_params image.

Byte-identical with NXP's generate.py for valid inputs (ascending tags, canonical Base64 salt and
verifier, ASCII unique ID, 1..16 zero bytes of ECB padding); everything its defects let through is an
error here (see the README's NXP section).
"""

from __future__ import annotations

from ..crypto import attestation, keys, spake2p
from ..crypto import cd as cdmod
from ..errors import InvalidInput
from ..fileio import WriteSet, read_bytes
from ..formats import nxp
from ..formats.nrfconnect import to_intel_hex
from ..model import FactoryData, check_date, check_field, parse_hex
from ..requests import NxpRequest


def _text(value: str | None, option: str, limit: int) -> str | None:
    if value is None:
        return None
    n = len(value.encode("utf-8"))
    if n > limit:
        raise InvalidInput(option, f"is {n} bytes long, the maximum is {limit}")
    return value


def _enum_index(names: list[str], name: str, option: str) -> int:
    if name not in names:
        raise InvalidInput(option, f"{name!r} is not one of {', '.join(names)}")
    return names.index(name)


def aes_key(req: NxpRequest) -> bytes | None:
    if req.aes128_key and req.aes256_key:
        raise InvalidInput("--aes128_key/--aes256_key", "give one key, not both")
    text, option = (req.aes256_key, "--aes256_key") if req.aes256_key else (req.aes128_key, "--aes128_key")
    if not text:
        return None
    try:
        key = bytes.fromhex(text)
    except ValueError:
        raise InvalidInput(option, f"{text!r} is not a hex string") from None
    nxp.check_aes_key(key, option)
    return key


def build_device(req: NxpRequest, report) -> tuple[FactoryData, dict]:
    """The device and the NXP-only options (CD, key blob, EdgeLock 2GO) a request describes, checked."""
    spake2p.check_passcode(req.passcode, "--passcode")
    check_field("discriminator", req.discriminator, "--discriminator")
    spake2p.check_iterations(req.it, "--it")
    spake2p.check_salt(req.salt, "--salt")
    for option, value in (("--vid", req.vid), ("--pid", req.pid), ("--hw_version", req.hw_version)):
        if not 0 <= value <= 0xFFFF:
            raise InvalidInput(option, f"{value} is out of range (allowed 0..65535)")
    verifier = spake2p.generate_verifier(req.passcode, req.salt, req.it)
    if req.spake2p_verifier is not None:
        spake2p.check_verifier_format(req.spake2p_verifier, "--spake2p_verifier")
        if req.spake2p_verifier != verifier:
            raise InvalidInput("--spake2p_verifier", "does not match --passcode, --salt and --it (omit it to compute it)")
    device = FactoryData(spake2_verifier=verifier, spake2_salt=req.salt, spake2_it=req.it,
                         discriminator=req.discriminator, passcode=req.passcode, vendor_id=req.vid, product_id=req.pid,
                         hw_ver=req.hw_version, vendor_name=_text(req.vendor_name, "--vendor_name", 32),
                         product_name=_text(req.product_name, "--product_name", 32),
                         hw_ver_str=_text(req.hw_version_str, "--hw_version_str", 64),
                         sn=_text(req.serial_num, "--serial_num", 32),
                         part_number=_text(req.part_number, "--part_number", 32),
                         product_url=_text(req.product_url, "--product_url", 256),
                         product_label=_text(req.product_label, "--product_label", 64))
    options: dict = {}
    if req.date is not None:
        check_date(req.date, "--date")
        device.date = req.date
    if req.unique_id is not None:
        device.rd_uid = _unique_id(req)
    if req.product_finish is not None:
        device.product_finish = _enum_index(nxp.FINISHES, req.product_finish, "--product_finish")
    if req.product_primary_color is not None:
        device.primary_color = _enum_index(nxp.COLORS, req.product_primary_color, "--product_primary_color")

    _attestation(req, report, device, options)
    return device, options


def _unique_id(req: NxpRequest) -> bytes:
    """--unique_id as NXP's tool stores it (its ASCII characters), or hex-decoded with --unique_id_hex."""
    if req.unique_id_hex:
        uid = parse_hex(req.unique_id, "--unique_id")
        if not 16 <= len(uid) <= 32:
            raise InvalidInput("--unique_id", f"must be 16..32 bytes, got {len(uid)}")
    else:
        uid = req.unique_id.encode("ascii", errors="strict") if req.unique_id.isascii() else None
        if uid is None:
            raise InvalidInput("--unique_id", "must be ASCII text")
        if len(uid) > 32:
            raise InvalidInput("--unique_id", f"is {len(uid)} bytes long, the maximum is 32")
        if len(uid) < 16:
            raise InvalidInput("--unique_id", f"{len(uid)} characters; a rotating device ID unique ID needs at least 16 bytes")
    return uid


def _attestation(req: NxpRequest, report, device: FactoryData, options: dict) -> None:
    """The CD, PAI and DAC (or the EdgeLock 2GO blob): read, checked against each other and the IDs."""
    # credentials
    cd_der = read_bytes(req.cert_declaration, "--cert_declaration")
    content = cdmod.parse(cd_der, "--cert_declaration").content
    options["cd"] = cd_der
    pai_der = keys.load_certificate_der(req.pai_cert, "--pai_cert")
    pai = attestation.load_cert(pai_der, "--pai_cert")
    device.pai_cert = pai_der
    if req.EL2GO_bin:
        if req.dac_key or req.dac_cert:
            raise InvalidInput("--EL2GO_bin", "the DAC comes from the EdgeLock 2GO blob: do not also give --dac_key/--dac_cert")
        if req.EL2GO_DAC_KEY_ID is None or req.EL2GO_DAC_CERT_ID is None:
            raise InvalidInput("--EL2GO_bin", "needs both --EL2GO_DAC_KEY_ID and --EL2GO_DAC_CERT_ID")
        options["el2go"] = (read_bytes(req.EL2GO_bin, "--EL2GO_bin"), req.EL2GO_DAC_KEY_ID, req.EL2GO_DAC_CERT_ID)
        dac = None
    else:
        if not req.dac_cert or not req.dac_key:
            raise InvalidInput("--dac_cert/--dac_key", "required (or --EL2GO_bin with its IDs)")
        dac_der = keys.load_certificate_der(req.dac_cert, "--dac_cert")
        dac = attestation.load_cert(dac_der, "--dac_cert")
        device.dac_cert = dac_der
        if req.dac_key_use_sss_blob:
            blob = read_bytes(req.dac_key, "--dac_key")
            if len(blob) not in (nxp.SSS_BLOB_LEN, nxp.ELS_BLOB_LEN) and not req.allow_blob_length:
                raise InvalidInput("--dac_key", f"blob is {len(blob)} bytes; an SSS blob has 56, an ELS blob 48 "
                                                f"(--allow_blob_length to insist)")
            options["dac_key_blob"] = blob
            scalar = None
        else:
            scalar = keys.load_dac_scalar(req.dac_key, "--dac_key", req.dac_key_password)
            device.dac_key = scalar.to_bytes(32, "big")
        result = attestation.check_chain(dac, pai, None, scalar,
                                         None if req.allow_id_mismatch else req.vid,
                                         None if req.allow_id_mismatch else req.pid, req.date)
        result.raise_or_warn(report.warn, False)
    if not req.allow_id_mismatch:
        if content.vendor_id != req.vid or req.pid not in content.product_ids:
            raise InvalidInput("--cert_declaration", f"is for vendor 0x{content.vendor_id:04X}, products "
                               f"{', '.join(f'0x{p:04X}' for p in content.product_ids)}, not 0x{req.vid:04X}/0x{req.pid:04X}")
        if dac is not None:
            problems = cdmod.check_against_certificates(content, dac, pai)
            if problems:
                raise InvalidInput("--cert_declaration", problems[0])


def generate(req: NxpRequest, report) -> tuple[bytes, int | None]:
    """Write the image (and its HEX); returns the image and its flash address (None when unknown)."""
    key = aes_key(req)
    if req.hw_params and key is not None:
        raise InvalidInput("--hw_params", "the HWParameters record holds a plain image: do not combine it with an AES key")
    if req.spake2p_path:
        report.debug("--spake2p_path is accepted for compatibility; the verifier is computed in-process")
    device, options = build_device(req, report)
    options.update(aes_key=key, hw_params=req.hw_params, pad16=req.pad16)
    entries = nxp.entries_of(device, options)
    image = nxp.encode(device, options)
    payload_size = len(image) - 12
    if key is None:
        if req.hw_params:
            payload_size = len(image) - 12 - 22
            if len(image) > nxp.HW_PARAMS_MAX:
                raise InvalidInput("--hw_params", f"the record is {len(image)} bytes, the HWParameters limit is 0x800")
    address = req.address
    if req.platform:
        default_address, limit, ecb_ok = nxp.PLATFORMS[req.platform]
        if req.platform in ("k32w1", "mcxw71") and not req.hw_params and address is None:
            raise InvalidInput("--address", f"{req.platform} without --hw_params: give the address "
                                            f"(__MATTER_FACTORY_DATA_START in the application's map file)")
        if default_address is None and address is None:
            raise InvalidInput("--address", f"{req.platform} has no fixed factory data address: give "
                                            f"__FACTORY_DATA_START from the application's map file")
        if key is not None and not ecb_ok:
            raise InvalidInput("--aes128_key", f"the {req.platform} reader cannot decrypt factory data")
        if key is not None and len(key) == 32 and req.platform in ("k32w1", "mcxw71", "rt1060", "rt1170"):
            raise InvalidInput("--aes256_key", f"the {req.platform} reader decrypts AES-128 only")
        if address is None:
            address = default_address
        if len(image) > limit:
            raise InvalidInput("--out", f"the image is {len(image)} bytes, the {req.platform} reader holds {limit}")
        if req.platform == "k32w0":
            for tag, value in entries.items():
                size = len(nxp.encode_value(tag, value))
                if tag in nxp.K32W0_MAX and size > nxp.K32W0_MAX[tag]:
                    raise InvalidInput(nxp.TAGS[tag][0], f"{size} bytes; the K32W0 reader accepts at most "
                                                         f"{nxp.K32W0_MAX[tag]} (it would report the entry missing)")
        if req.platform in ("k32w1", "mcxw71") and key is None and not req.hw_params and payload_size % 16:
            report.warn("a plain image whose size is not a multiple of 16 fails the K32W1/MCXW71 FwkImpl reader's "
                        "hash check; use --pad16 or --hw_params")
    elif 12 + payload_size > nxp.READER_BUFFER and not req.hw_params:
        raise InvalidInput("--out", f"the image is {12 + payload_size} bytes, the readers' buffer holds 4096")
    ws = WriteSet(overwrite=req.overwrite).add(req.out, image, secret=True)
    if req.hex:
        if address is None:
            raise InvalidInput("--hex", "needs --address or --platform")
        ws.add(req.hex, to_intel_hex(image, address), secret=True)
    ws.commit()
    return image, address


def nxp_kind(key, hw_params) -> str:
    if key is not None:
        return f"AES-{len(key) * 8}-ECB"
    return "plain, HWParameters record" if hw_params else "plain"


def programming_hint(platform: str, name: str, address: int) -> str:
    if platform == "k32w0":
        return f'flash: DK6Programmer.exe -Y -V2 -s <COM port> -P 1000000 -Y -p FLASH@0x{address:X}="{name}"'
    if platform in ("rt1060", "rt1170"):
        return f"flash: MCUXpresso Flash Tool (or JLink: loadfile {name} 0x{address:X}) at __FACTORY_DATA_START 0x{address:X}"
    return f"flash: JLink> loadfile {name} 0x{address:X}"
