"""One Bouffalo Lab MFD image and its onboarding files, from ``generate_factory_data.py``'s options with its
input bugs fixed: ``--discriminator`` and a valid ``--passcode`` are used, ``--spake2p_salt`` is Base64 once,
the manufacturing date is written as the device reads it (unless ``--date_encoding string``)."""

from __future__ import annotations

import datetime
import os
import secrets

from ..codes import onboarding
from ..codes.qrimage import qr_png
from ..crypto import attestation, cd, keys, spake2p
from ..errors import InvalidInput
from ..fileio import WriteSet
from ..formats import bouffalolab
from ..model import FactoryData, check_date, check_field
from ..requests import BouffaloRequest


def commissionable(req: BouffaloRequest) -> dict:
    """Passcode, discriminator, unique ID and SPAKE2+ values: given ones checked, the others random."""
    passcode = req.passcode if req.passcode is not None else spake2p.random_passcode()
    spake2p.check_passcode(passcode, "--passcode")
    discriminator = req.discriminator if req.discriminator is not None else secrets.randbelow(0x1000)
    check_field("discriminator", discriminator, "--discriminator")
    uid = req.unique_id if req.unique_id is not None else secrets.token_bytes(16)
    if len(uid) != 16:
        raise InvalidInput("--unique_id", f"must be Base64 of 16 bytes, got {len(uid)}")
    it = req.spake2p_it if req.spake2p_it is not None else 1000 + secrets.randbelow(99001)
    spake2p.check_iterations(it, "--spake2p_it")
    if req.spake2p_salt is not None:
        salt = req.spake2p_salt
        spake2p.check_salt(salt, "--spake2p_salt")
    else:  # as the reference: 16..32 distinct bytes, none 0xFF
        salt = bouffalolab.distinct_bytes(16 + secrets.randbelow(17))
    return {"passcode": passcode, "discriminator": discriminator, "uid": uid, "it": it, "salt": salt,
            "verifier": spake2p.generate_verifier(passcode, salt, it)}


def credentials(req: BouffaloRequest, report, files: list, stem: str) -> tuple[bytes, int, bytes]:
    """(DAC DER, DAC key scalar, PAI DER): the given DAC, or a test DAC issued by --pai_cert/--pai_key (its
    files written as the reference names them)."""
    if not req.pai_cert:
        raise InvalidInput("--pai_cert", "is required (the PAI that issued the DAC)")
    pai_der = keys.load_certificate_der(req.pai_cert, "--pai_cert")
    pai = attestation.load_cert(pai_der, "--pai_cert")
    pai_vid, pai_pid = attestation.matter_ids(pai, lenient=True)
    if req.dac_pid is not None and pai_pid is not None and req.dac_pid != pai_pid:
        raise InvalidInput("--dac_pid", f"0x{req.dac_pid:X} is not the PAI's product ID 0x{pai_pid:X}")
    if bool(req.dac_cert) != bool(req.dac_key):
        raise InvalidInput("--dac_cert/--dac_key", "give both or neither")
    if req.dac_cert:
        dac_der = keys.load_certificate_der(req.dac_cert, "--dac_cert")
        scalar = keys.load_dac_scalar(req.dac_key, "--dac_key")
    else:
        if not req.pai_key:
            raise InvalidInput("--dac_cert/--dac_key", "give a DAC, or --pai_key to issue a test DAC under --pai_cert")
        dac_der, scalar = _issue_test_dac(req, pai_der, pai_pid if pai_pid is not None else req.dac_pid or req.product_id,
                                          files, stem)
    dac = attestation.load_cert(dac_der, "--dac_cert")
    dac_vid, dac_pid = attestation.matter_ids(dac, lenient=True)
    result = attestation.check_chain(dac, pai, attestation.load_cert(keys.load_certificate_der(req.paa_cert, "--paa_cert"),
                                                                       "--paa_cert") if req.paa_cert else None,
                                     scalar, dac_vid, dac_pid)
    result.raise_or_warn(report.warn, False)
    return dac_der, scalar, pai_der


def _issue_test_dac(req: BouffaloRequest, pai_der: bytes, pid: int, files: list, stem: str) -> tuple[bytes, int]:
    """As the reference: "<vendor name> Test DAC 0", valid from a day ago until the PAI expires."""
    from cryptography import x509  # the X.509 builder (60 ms to import): only a DAC issued here needs it

    from ..crypto import issuing
    from ..provisioning import cert_and_key_files

    pai_key = keys.load_p256_key(req.pai_key, "--pai_key")
    pai_cert = x509.load_der_x509_certificate(pai_der)
    if not attestation.key_matches(attestation.load_cert(pai_der, "--pai_cert"), pai_key):
        raise InvalidInput("--pai_key", "does not match --pai_cert")
    start = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0) - datetime.timedelta(days=1)
    pai_end = pai_cert.not_valid_after_utc
    if not pai_cert.not_valid_before_utc <= start <= pai_end:
        raise InvalidInput("--pai_cert", "is not valid now: it cannot issue a test DAC")
    dac_key = issuing.generate_p256_key()
    vid = attestation.matter_ids(attestation.load_cert(pai_der, "--pai_cert"), lenient=True)[0]
    cert = issuing.issue_certificate("dac", f"{req.vendor_name} Test DAC 0"[:64], dac_key.public_key(), pai_key,
                                     pai_cert, vid=vid, pid=pid, valid_from=start,
                                     lifetime_days=max(1, (pai_end - start).days))
    files += cert_and_key_files(os.path.join(req.output, f"out_{stem}_dac"), cert, dac_key)
    return issuing.der(cert), dac_key.private_numbers().private_value


def certification_declaration(req: BouffaloRequest, report, files: list, vp: str, dac_der: bytes) -> bytes:
    """--cd, else a CD generated with the reference's content and signed by --cd_cert/--cd_key (or the
    project's signer fallback), written as out_<vid>_<pid>_cd.der."""
    if req.cd and os.path.exists(req.cd):
        return cd.load_for(req.cd, "--cd", req.vendor_id, req.product_id, report.warn)
    from ..provisioning import resolve_cd_signer  # the X.509 stack: only a CD made here needs it

    signer_cert, signer_key = resolve_cd_signer(req.cd_cert, req.cd_key, report, req.output, files)
    dac_vid, dac_pid = attestation.matter_ids(attestation.load_cert(dac_der, "DAC"), lenient=True)
    origin = dac_vid != req.vendor_id or dac_pid != req.product_id
    content = cd.CDContent(vendor_id=req.vendor_id, product_ids=[req.product_id], device_type_id=0x1234,
                           certificate_id="ZIG20141ZB330001-24", security_level=0, security_information=0,
                           version_number=9876, certification_type=1, format_version=1,
                           dac_origin_vendor_id=dac_vid if origin else None,
                           dac_origin_product_id=dac_pid if origin else None)
    data = cd.sign(content, signer_cert, signer_key)
    files.append((req.cd or os.path.join(req.output, f"out_{vp}_cd.der"), data, False))
    return data


def generate(req: BouffaloRequest, report) -> dict:
    """Check everything, then write the MFD, the onboarding text and QR image (and a generated DAC or CD)."""
    for option, value in (("--vendor_id", req.vendor_id), ("--product_id", req.product_id)):
        check_field(option[2:], value, option)
    if req.manufactoring_date is not None:
        check_date(req.manufactoring_date, "--manufactoring_date")
    if req.key is not None and len(req.key) != 16:
        raise InvalidInput("--key", f"must be 16 bytes (32 hex digits), got {len(req.key)}")
    if req.iv is not None and len(req.iv) != 16:
        raise InvalidInput("--iv", f"must be 16 bytes (32 hex digits), got {len(req.iv)}")
    if req.iv is not None and req.key is None:
        report.warn("--iv without --key: the IV is stored and not used (nothing is encrypted)")
    values = commissionable(req)
    vp = f"{req.vendor_id:x}_{req.product_id:x}"
    stem = f"{vp}_{values['discriminator']}"
    files: list = []
    dac_der, scalar, pai_der = credentials(req, report, files, stem)
    cd_der = certification_declaration(req, report, files, vp, dac_der)
    device = FactoryData(sn=req.sn, vendor_id=req.vendor_id, product_id=req.product_id, vendor_name=req.vendor_name,
                         product_name=req.product_name, part_number=req.product_part_no, product_url=req.product_url,
                         product_label=req.product_label, date=req.manufactoring_date, hw_ver=req.hardware_version,
                         hw_ver_str=req.hardware_version_string, dac_cert=dac_der, dac_key=scalar.to_bytes(32, "big"),
                         pai_cert=pai_der, passcode=values["passcode"], discriminator=values["discriminator"],
                         rd_uid=values["uid"], spake2_it=values["it"], spake2_salt=values["salt"],
                         spake2_verifier=values["verifier"])
    image = bouffalolab.encode(device, {"cd": cd_der, "aes_key": req.key, "iv": req.iv,
                                        "date_encoding": req.date_encoding})
    payload = onboarding.SetupPayload(req.vendor_id, req.product_id, values["discriminator"], values["passcode"],
                                      rendezvous=req.rendezvous)
    onboarding.check_payload(payload)
    qr, manual = onboarding.qr_code(payload), onboarding.manual_code(payload)
    paths = {kind: os.path.join(req.output, f"out_{stem}_{kind}") for kind in ("mfd.bin", "onboard.txt", "onboard.png")}
    writes = WriteSet(overwrite=True)
    for path, data, secret in files:
        writes.add(path, data, secret)
    writes.add(paths["mfd.bin"], image, secret=True)
    writes.add(paths["onboard.txt"], f"Manualcode : {manual}\nQRCode : {qr}".encode(), secret=True)
    writes.add(paths["onboard.png"], qr_png(qr), secret=True)
    writes.commit(make_dirs=True)
    return {**values, "manual": manual, "qr": qr, "paths": paths}
