"""``matter-factory-data cd``: generate and inspect Certification Declarations."""

from __future__ import annotations

import json
import os

from .. import provisioning
from ..crypto import attestation, cd, keys
from ..errors import InvalidInput
from ..fileio import WriteSet, read_bytes
from .common import ArgumentParser, Reporter, any_int, group_epilog, add_pkcs11_module

DESCRIPTION = """\
Certification Declarations (CD) without chip-cert.

  cd generate   encode the CD content (Matter TLV) and sign it (CMS SignedData, signer named by its SKID)
  cd inspect    decode a CD, check its envelope, and verify it with --signing_cert
"""

EPILOG = """\
examples:
  %(prog)s generate --vendor_id 0xFFF1 --product_id 0x8000 --device_type 0x0100 \\
      --certificate_id ZIG20142ZB330003-24 --certification_type 0 \\
      --signing_cert Chip-Test-CD-Signing-Cert.pem --signing_key Chip-Test-CD-Signing-Key.pem --out CD.der
  %(prog)s inspect CD.der --signing_cert Chip-Test-CD-Signing-Cert.pem

Numbers take decimal or 0x-prefixed hex (chip-cert reads most CD numbers as hex even without 0x).
"""


def main(argv: list[str], prog: str) -> int:
    if not argv or argv[0] in ("-h", "--help"):
        print(f"usage: {prog} {{generate,inspect}} [options]\n\n{DESCRIPTION}\n{EPILOG % {'prog': prog}}")
        return 0 if argv else 2
    sub, rest = argv[0], argv[1:]
    if sub == "generate":
        return generate_main(rest, f"{prog} generate")
    if sub == "inspect":
        return inspect_main(rest, f"{prog} inspect")
    raise InvalidInput("", f"unknown subcommand {sub!r} (generate, inspect)")


def generate_main(argv: list[str], prog: str) -> int:
    p = ArgumentParser(prog=prog, description="Generate a signed Certification Declaration.",
                       epilog=group_epilog(EPILOG, prog))
    p.add_argument("--vendor_id", type=any_int, required=True, help="vendor ID")
    p.add_argument("--product_id", type=any_int, action="append", required=True,
                   help="product ID (repeat for up to 100 products)")
    p.add_argument("--device_type", type=any_int, default=0, help="device type ID (default 0)")
    p.add_argument("--certificate_id", default="FFFFFFFFFFFFFFFFFFF", help="19-character certificate ID")
    p.add_argument("--security_level", type=any_int, default=0, help="security level (default 0)")
    p.add_argument("--security_info", type=any_int, default=0, help="security information (default 0)")
    p.add_argument("--version_number", type=any_int, default=0xFFFF, help="version number (default 0xFFFF)")
    p.add_argument("--certification_type", "--cd_type", type=any_int, default=1,
                   help="0 development, 1 provisional (default), 2 official")
    p.add_argument("--format_version", type=any_int, default=1, help="format version (must be 1)")
    p.add_argument("--dac_origin_vendor_id", type=any_int, help="DAC origin vendor ID (with --dac_origin_product_id)")
    p.add_argument("--dac_origin_product_id", type=any_int, help="DAC origin product ID")
    p.add_argument("--authorized_paa_cert", action="append", default=[],
                   help="PAA certificate whose SKID goes into the authorized PAA list (repeatable, up to 10)")
    p.add_argument("--signing_cert", "--cd_signing_cert", help="CD signing certificate")
    p.add_argument("--signing_key", "--cd_signing_key", help="CD signing key")
    p.add_argument("--out", required=True, help="output file (DER)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing file")
    add_pkcs11_module(p)
    args = p.parse_args(argv)
    report = Reporter(prog=prog)
    paa_skids = []
    for path in args.authorized_paa_cert:
        paa = attestation.load_cert(keys.load_certificate_der(path, "--authorized_paa_cert"), "--authorized_paa_cert")
        paa_skids.append(paa.skid)
    content = cd.CDContent(
        vendor_id=args.vendor_id, product_ids=args.product_id, device_type_id=args.device_type,
        certificate_id=args.certificate_id, security_level=args.security_level,
        security_information=args.security_info, version_number=args.version_number,
        certification_type=args.certification_type, format_version=args.format_version,
        dac_origin_vendor_id=args.dac_origin_vendor_id, dac_origin_product_id=args.dac_origin_product_id,
        authorized_paa_list=paa_skids,
    )
    content.validate()
    files: list = []
    signer_cert, signer_key = provisioning.resolve_cd_signer(
        args.signing_cert, args.signing_key, report, os.path.dirname(args.out) or ".", files)
    der = cd.sign(content, signer_cert, signer_key)
    ws = WriteSet(overwrite=args.overwrite).add(args.out, der)
    for path, data, secret in files:
        ws.add(path, data, secret)
    ws.commit(make_dirs=True)
    print(args.out)
    return 0


def inspect_main(argv: list[str], prog: str) -> int:
    p = ArgumentParser(prog=prog, description="Decode a Certification Declaration and verify its signature.",
                       epilog=group_epilog(EPILOG, prog))
    p.add_argument("file", help="CD file (DER)")
    p.add_argument("--signing_cert", "--cd_signing_cert", help="certificate of the signer (verifies the signature)")
    p.add_argument("--json", action="store_true", help="print JSON")
    add_pkcs11_module(p)
    args = p.parse_args(argv)
    parsed = cd.parse(read_bytes(args.file, "FILE"), args.file)
    verified = None
    error = None
    if args.signing_cert:
        signer = attestation.load_cert(keys.load_certificate_der(args.signing_cert, "--signing_cert"), "--signing_cert")
        try:
            cd.verify(parsed, signer)
            verified = True
        except InvalidInput as e:
            verified, error = False, str(e)
    report = parsed.content.to_dict()
    report["signer_key_id"] = parsed.signer_skid.hex()
    report["signature_verified"] = verified
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        for k, v in report.items():
            print(f"{k:<22} {v}")
        if error:
            print(f"error: {error}")
    return 2 if verified is False else 0
