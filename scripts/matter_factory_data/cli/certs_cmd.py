"""``matter-factory-data certs``: issue PAA/PAI/DAC certificates, NXP's generate_certs.py, and verify chains."""

from __future__ import annotations

import datetime
import os

from .. import provisioning
from ..crypto import attestation, cd, issuing, keys
from ..errors import InvalidInput, OperationFailed
from ..fileio import WriteSet, read_bytes
from ..model import check_date
from ..requests import NxpCertsRequest
from .common import ArgumentParser, Reporter, any_int, group_epilog, request_from, add_pkcs11_module

DESCRIPTION = """\
Attestation certificates without chip-cert.

  certs paa|pai|dac   issue one certificate and its key (PREFIX-Cert.{der,pem}, PREFIX-Key.{der,pem})
  certs generate      PAA (unless given) + PAI + DAC (+ CD) with NXP generate_certs.py options and file names
  certs verify        check a DAC <- PAI [<- PAA] chain, the DAC key, VID/PID and an optional CD
"""

EPILOG = """\
examples:
  %(prog)s paa --cn "Acme PAA" --vendor_id 0xFFF1 --out creds/PAA
  %(prog)s pai --cn "Acme PAI" --vendor_id 0xFFF1 --ca_cert creds/PAA-Cert.pem --ca_key creds/PAA-Key.pem --out creds/PAI
  %(prog)s dac --cn "Acme DAC 0001" --vendor_id 0xFFF1 --product_id 0x8000 \\
      --ca_cert creds/PAI-Cert.pem --ca_key creds/PAI-Key.pem --out creds/DAC
  %(prog)s verify --dac creds/DAC-Cert.der --dac_key creds/DAC-Key.der --pai creds/PAI-Cert.der --paa creds/PAA-Cert.der
"""


GENERATE_EPILOG = """\
examples:
  # a new test PAA, PAI and DAC (and a CD) in creds/, with NXP's file names
  %(prog)s -o creds --vendor_id 0xFFF1 --product_id 0x8000 --vendor_name Acme --product_name Lamp --gen_cd
  # under an existing PAA
  %(prog)s -o creds --vendor_id 0xFFF1 --product_id 0x8000 --vendor_name Acme --product_name Lamp \\
      --paa_cert creds/PAA-Cert.pem --paa_key creds/PAA-Key.pem
"""

VERIFY_EPILOG = """\
The chain passes when OpenSSL ('openssl verify -x509_strict') would accept it and the Matter rules hold
(a DAC is issued by a PAI, which a PAA issues; VID and PID fit their issuer; validity nests; every
certificate is valid now and unexpired on --date). Exit 0 when attestation would succeed, 2 otherwise.

examples:
  %(prog)s --dac creds/DAC-Cert.der --pai creds/PAI-Cert.der --paa creds/PAA-Cert.der
  %(prog)s --dac creds/DAC-Cert.der --dac_key creds/DAC-Key.der --pai creds/PAI-Cert.der \\
      --vendor_id 0xFFF1 --product_id 0x8000 --date 2024-01-15 --cd creds/CD.der --cd_signing_cert signer.pem
"""


def main(argv: list[str], prog: str) -> int:
    if not argv or argv[0] in ("-h", "--help"):
        print(f"usage: {prog} {{paa,pai,dac,generate,verify}} [options]\n\n{DESCRIPTION}\n{EPILOG % {'prog': prog}}")
        return 0 if argv else 2
    sub, rest = argv[0], argv[1:]
    if sub in ("paa", "pai", "dac"):
        return issue_main(sub, rest, f"{prog} {sub}")
    if sub == "generate":
        return generate_main(rest, f"{prog} {sub}")
    if sub == "verify":
        return verify_main(rest, f"{prog} {sub}")
    raise InvalidInput("", f"unknown subcommand {sub!r} (paa, pai, dac, generate, verify)")


def _validity_args(p: ArgumentParser) -> None:
    p.add_argument("--valid_from", help="notBefore, 'YYYY-MM-DD [HH:MM:SS]' UTC (default: today 00:00:00)")
    p.add_argument("--lifetime", type=any_int, help="validity in days (default: never expires, 9999-12-31 23:59:59)")


def issue_main(kind: str, argv: list[str], prog: str) -> int:
    p = ArgumentParser(prog=prog, description=f"Issue one {kind.upper()} certificate and key (Matter profile).",
                       epilog=group_epilog(EPILOG, prog))
    p.add_argument("--cn", help="subject common name, 1..64 characters")
    p.add_argument("--vendor_id", type=any_int, required=kind != "paa",
                   help="Matter vendor ID" + (" (optional for a PAA)" if kind == "paa" else ""))
    if kind != "paa":
        p.add_argument("--product_id", type=any_int, required=kind == "dac",
                       help="Matter product ID" + (" (optional for a PAI: it limits the PAI to one product)"
                                                   if kind == "pai" else ""))
        p.add_argument("--ca_cert", required=True, help="issuing CA certificate (DER or PEM)")
        p.add_argument("--ca_key", required=True, help="issuing CA private key (DER or PEM)")
        p.add_argument("--ca_key_password", help="password of an encrypted CA key")
    _validity_args(p)
    p.add_argument("--key", help="existing P-256 private key to certify, a file or a pkcs11: URI (default: a new key)")
    if kind != "dac":
        p.add_argument("--out_key", "--out-key", metavar="URI",
                       help="pkcs11:token=…;object=…: generate the new key inside this token (not extractable) and "
                            "write only the certificate")
    p.add_argument("--key_password", help="password of --key, and the password to encrypt the written key with")
    p.add_argument("--out", required=True, help="output prefix: PREFIX-Cert.der/.pem and PREFIX-Key.der/.pem")
    p.add_argument("--overwrite", action="store_true", help="replace existing files")
    add_pkcs11_module(p)
    args = p.parse_args(argv)
    report = Reporter(prog=prog)
    pid = getattr(args, "product_id", None)
    if kind == "dac" and (args.vendor_id is None or pid is None):
        raise InvalidInput("--vendor_id/--product_id", "a DAC needs both")
    if kind == "pai" and args.vendor_id is None:
        raise InvalidInput("--vendor_id", "a PAI needs a vendor ID")
    valid_from = attestation.parse_valid_from(args.valid_from) if args.valid_from else datetime.datetime.now(
        datetime.timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
    password = args.key_password.encode() if args.key_password else None
    out_key = getattr(args, "out_key", None)
    if out_key and args.key:
        raise InvalidInput("--out_key/--key", "give one: a new key in a token, or an existing key")
    if out_key:
        if not keys.is_token_uri(out_key):
            raise InvalidInput("--out_key", "must be a pkcs11:token=…;object=… URI (a key file is written with --out)")
        key = None  # generated in the token once every other option has been checked
    else:
        key = keys.load_p256_key(args.key, "--key", password) if args.key else issuing.generate_p256_key()
    ca_cert = ca_key = None
    if kind != "paa":
        ca_cert, ca_key = provisioning.load_ca(args.ca_cert, args.ca_key, "ca", args.ca_key_password)
        # the CA can issue this certificate: a PAA for a PAI, a PAI (not a PAA) for a DAC
        attestation.check_issuer(attestation.load_cert(issuing.der(ca_cert), "--ca_cert"),
                                 "paa" if kind == "pai" else "pai", warn=report.warn)
        if ca_cert.not_valid_before_utc > valid_from:
            raise InvalidInput("--valid_from", f"{valid_from:%Y-%m-%d %H:%M:%S} is before the CA's notBefore "
                               f"{ca_cert.not_valid_before_utc:%Y-%m-%d %H:%M:%S}; the chain would not verify")
    cn = args.cn or {"paa": "Matter PAA", "pai": "Matter PAI", "dac": "Matter DAC"}[kind]
    if key is None:
        from ..crypto import hsm

        files_free = [f"{args.out}-Cert.der", f"{args.out}-Cert.pem"]
        if not args.overwrite and any(os.path.exists(path) for path in files_free):
            raise OperationFailed(f"{args.out}-Cert.der/.pem exist (use --overwrite); no key was generated")
        key = hsm.generate_key(out_key)
        report.info(f"generated the {kind.upper()} key inside the token: {hsm.display(out_key)}")
    cert = issuing.issue_certificate(kind, cn, key.public_key(), key if kind == "paa" else ca_key, ca_cert,
                                         vid=args.vendor_id, pid=pid, valid_from=valid_from,
                                         lifetime_days=args.lifetime)
    return _write_and_list(provisioning.cert_and_key_files(args.out, cert, key, password), args.overwrite)


def generate_main(argv: list[str], prog: str) -> int:
    p = ArgumentParser(prog=prog, dual_spelling=True, epilog=GENERATE_EPILOG,
                       description="PAA (unless given), PAI and DAC, and optionally a CD, with the options and file "
                                   "names of NXP's generate_certs.py.")
    p.add_argument("--chip_cert_path", help="accepted for compatibility and ignored (no chip-cert is needed)")
    p.add_argument("-o", "--output", required=True, help="output directory")
    p.add_argument("--vendor_id", type=any_int, required=True, help="vendor ID")
    p.add_argument("--product_id", type=any_int, required=True, help="product ID")
    p.add_argument("--vendor_name", required=True, help="vendor name (CN = vendor name + ' ' + product name)")
    p.add_argument("--product_name", required=True, help="product name")
    p.add_argument("--gen_cd", action="store_true", help="also generate Chip-Test-CD-<VID>-<PID>.der")
    p.add_argument("--cd_type", type=any_int, default=1, choices=[0, 1, 2], help="CD certification type (default 1)")
    p.add_argument("--device_type", type=any_int, default=0, help="CD device type (default 0)")
    p.add_argument("--paa_cert", help="PAA certificate (a PAA is generated unless both --paa_cert and --paa_key)")
    p.add_argument("--paa_key", help="PAA key")
    p.add_argument("--cd_signing_cert", help="CD signing certificate (default: the fallback rule, see the README)")
    p.add_argument("--cd_signing_key", help="CD signing key")
    p.add_argument("--valid_from", default="2023-01-01 00:00:00", help="notBefore (default 2023-01-01 00:00:00)")
    p.add_argument("--lifetime", default="7305", help="validity in days (default 7305)")
    p.add_argument("--overwrite", action="store_true", help="replace existing files")
    add_pkcs11_module(p)
    args = p.parse_args(argv)
    report = Reporter(prog=prog)
    try:
        lifetime = int(args.lifetime, 0)
    except ValueError:
        raise InvalidInput("--lifetime", f"{args.lifetime!r} is not a number of days") from None
    args.lifetime = lifetime
    files = provisioning.nxp_certificate_files(request_from(NxpCertsRequest, args), report)
    return _write_and_list(files, args.overwrite)


def _write_and_list(files: list, overwrite: bool) -> int:
    """Write (path, bytes, secret) files all or none, making their directories, and print their paths."""
    ws = WriteSet(overwrite=overwrite)
    for path, data, secret in files:
        ws.add(path, data, secret)
    ws.commit(make_dirs=True)
    for path in ws.paths():
        print(path)
    return 0


def verify_main(argv: list[str], prog: str) -> int:
    p = ArgumentParser(prog=prog, epilog=VERIFY_EPILOG,
                       description="Check an attestation chain, its key, VID/PID and an optional CD. "
                                              "Exit 0 when attestation would succeed, 2 otherwise.")
    p.add_argument("--dac", required=True, help="DAC certificate (DER or PEM)")
    p.add_argument("--dac_key", help="DAC private key: checked against the DAC")
    p.add_argument("--dac_key_password", help="password of an encrypted DAC key")
    p.add_argument("--pai", required=True, help="PAI certificate")
    p.add_argument("--paa", help="PAA certificate (trust anchor)")
    p.add_argument("--cd", help="Certification Declaration (CMS, DER)")
    p.add_argument("--cd_signing_cert", help="certificate that signed the CD")
    p.add_argument("--vendor_id", type=any_int, help="expected vendor ID")
    p.add_argument("--product_id", type=any_int, help="expected product ID")
    p.add_argument("--date", help="manufacturing date YYYY-MM-DD (a DAC starting later is reported)")
    p.add_argument("--strict", action="store_true", help="profile deviations are errors")
    add_pkcs11_module(p)
    args = p.parse_args(argv)
    if args.cd and not args.cd_signing_cert:
        raise InvalidInput("--cd", "needs --cd_signing_cert to verify its signature")
    if args.date:
        check_date(args.date, "--date")
    dac = attestation.load_cert(keys.load_certificate_der(args.dac, "--dac"), "--dac")
    pai = attestation.load_cert(keys.load_certificate_der(args.pai, "--pai"), "--pai")
    paa = attestation.load_cert(keys.load_certificate_der(args.paa, "--paa"), "--paa") if args.paa else None
    dac_key = keys.load_dac_scalar(args.dac_key, "--dac_key", args.dac_key_password) if args.dac_key else None
    result = attestation.check_chain(dac, pai, paa, dac_key, args.vendor_id, args.product_id, args.date,
                                     require_valid_now=True)
    errors = list(result.errors)
    if args.cd:
        parsed = cd.parse(read_bytes(args.cd, "--cd"), "--cd")
        signer = attestation.load_cert(keys.load_certificate_der(args.cd_signing_cert, "--cd_signing_cert"),
                                       "--cd_signing_cert")
        try:
            cd.verify(parsed, signer)
        except InvalidInput as e:
            errors.append(str(e))
        errors += cd.check_against_certificates(parsed.content, dac, pai, paa, args.vendor_id, args.product_id)
    vid, pid = attestation.matter_ids(dac)
    print(f"DAC  {dac.subject.get('2.5.4.3')[0] if dac.subject.get('2.5.4.3') else '?'}  VID 0x{vid or 0:04X} "
          f"PID 0x{pid or 0:04X}  valid {dac.not_before:%Y-%m-%d} .. {dac.not_after:%Y-%m-%d}")
    for line in errors:
        print(f"error: {line}")
    for line in result.deviations:
        print(f"{'error' if args.strict else 'warning'}: {line}")
    for line in result.notes:
        print(f"note: {line}")
    failed = bool(errors) or (args.strict and bool(result.deviations))
    checked = "DAC key, " if dac_key is not None else ""
    chain = "DAC <- PAI <- PAA" if paa is not None else "DAC <- PAI"
    print(("OK: " if not failed else "FAILED: ") + f"{checked}{chain}" + (", CD" if args.cd else ""))
    return 2 if failed else 0
