"""``matter-factory-data json`` = ``scripts/generate_factory_data.py``: the nRF Connect generator."""

from __future__ import annotations

import argparse

from ..model import PRODUCT_COLORS, PRODUCT_FINISHES
from ..pipelines.nrfconnect import generate
from ..requests import NrfRequest
from .common import (
    add_pkcs11_module,
    ArgumentParser,
    Reporter,
    any_int,
    base64_bytes,
    hex_text,
    request_from,
)

DESCRIPTION = """\
Generate nRF Connect Matter factory data: a JSON document and, with --offset/--size, the CBOR
partition as Intel HEX and raw BIN, ready to merge with the firmware or flash on its own.
Accepts every argument of the nRF Connect SDK's generate_nrfconnect_chip_factory_data.py.
"""

EPILOG = """\
examples:
  # JSON + HEX/BIN for a 4 KiB partition at 0xfb000, with onboarding codes
  %(prog)s --sn SN0001 --vendor_id 0xFFF1 --product_id 0x8000 \\
      --vendor_name "Acme" --product_name "Lamp" --date 2024-01-15 --hw_ver 1 --hw_ver_str 1.0 \\
      --dac_cert DAC_cert.der --dac_key DAC_key.der --pai_cert PAI_cert.der \\
      --spake2_it 1000 --spake2_salt U1BBS0UyUCBLZXkgU2FsdA== --passcode 20202021 \\
      --discriminator 0xF00 --offset 0xfb000 --size 0x1000 --generate_onboarding -o out/factory_data

  # the same with freshly generated test certificates and a Certification Declaration
  %(prog)s ... --gen_certs --gen_cd -o out/factory_data

exit codes: 0 success, 2 invalid input or usage, 1 failed or refused operation (e.g. existing output).
"""


def build_parser(prog: str) -> ArgumentParser:
    p = ArgumentParser(prog=prog, description=DESCRIPTION, epilog=EPILOG)
    p.add_argument("-s", "--schema", help="JSON Schema file to validate the output against")
    p.add_argument("-o", "--output", required=True,
                   help="output prefix: writes PREFIX.json (and .hex/.bin/.txt/.png); a trailing .json is optional")
    p.add_argument("-v", "--verbose", action="store_true", help="print debug information (may include secrets)")
    p.add_argument("--include_passcode", action="store_true", help="also store the passcode in the factory data")
    p.add_argument("--overwrite", action="store_true", help="replace existing output files")
    p.add_argument("--from_config", action="append", metavar="FILE",
                   help="take the inputs from a Zephyr build's .config (or prj.conf fragments, repeatable) as the "
                        "CMake integration does; options given on the command line win")
    m = p.add_argument_group("device identity")
    m.add_argument("--sn", required=True, help="serial number (at most 32 bytes)")
    m.add_argument("--vendor_id", type=any_int, help="vendor ID, e.g. 0xFFF1")
    m.add_argument("--product_id", type=any_int, help="product ID, e.g. 0x8000")
    m.add_argument("--vendor_name", help="vendor name (at most 32 bytes)")
    m.add_argument("--product_name", help="product name (at most 32 bytes)")
    m.add_argument("--date", required=True, help="manufacturing date, YYYY-MM-DD")
    m.add_argument("--hw_ver", type=any_int, required=True, help="hardware version number (0..65535)")
    m.add_argument("--hw_ver_str", required=True, help="hardware version string (1..64 bytes)")
    m.add_argument("--sw_ver_str", help="software version string (1..64 bytes; optional, stored after hw_ver_str)")
    m.add_argument("--product_url", help="product web page (at most 256 bytes)")
    m.add_argument("--product_label", help="product label (at most 64 bytes)")
    m.add_argument("--part_number", help="part number (at most 32 bytes)")
    m.add_argument("--product_finish", choices=list(PRODUCT_FINISHES), help="product finish (Matter ProductFinishEnum)")
    m.add_argument("--product_color", choices=list(PRODUCT_COLORS) + ["cooper"], metavar="COLOR",
                   help="primary colour (Matter ColorEnum: " + ", ".join(PRODUCT_COLORS) + "; 'cooper' is a deprecated alias of copper)")
    m.add_argument("--legacy_colors", action="store_true",
                   help="use the nRF reference tool's colour values (brass 18, cooper 19) instead of the Matter ones")
    c = p.add_argument_group("commissioning")
    c.add_argument("--spake2_it", type=any_int, required=True, help="SPAKE2+ PBKDF2 iterations (1000..100000)")
    c.add_argument("--spake2_salt", type=base64_bytes, required=True, help="SPAKE2+ salt, Base64 (16..32 bytes)")
    c.add_argument("--discriminator", type=any_int, required=True, help="12-bit discriminator (0..4095)")
    c.add_argument("--passcode", type=any_int, help="setup passcode; the verifier is computed from it")
    c.add_argument("--spake2_verifier", type=base64_bytes,
                   help="SPAKE2+ verifier, Base64 (97 bytes); checked against --passcode when both are given")
    c.add_argument("--rd_uid", type=hex_text, help="rotating device ID unique ID, hex (16..32 bytes)")
    c.add_argument("--generate_rd_uid", action="store_true", help="generate a random 16-byte rd_uid")
    c.add_argument("--enable_key", type=hex_text, help="test event trigger enable key, hex (16 bytes)")
    c.add_argument("--user", help="extra user data as a JSON object, e.g. '{\"name\": \"value\", \"n\": 1}'")
    c.add_argument("--user_hex_as_bytes", action="store_true",
                   help="store \"hex:...\" strings inside --user as bytes (readable only via GetUserData)")
    c.add_argument("--generate_onboarding", action="store_true", help="also write PREFIX.txt (codes) and PREFIX.png (QR)")
    a = p.add_argument_group("attestation")
    a.add_argument("--dac_cert", help="DAC certificate, DER or PEM")
    a.add_argument("--dac_key", help="DAC private key, DER or PEM (SEC1 or PKCS#8)")
    a.add_argument("--dac_key_password", help="password of an encrypted DAC key")
    a.add_argument("--pai_cert", help="PAI certificate, DER or PEM")
    a.add_argument("--gen_certs", action="store_true", help="generate a test PAI and DAC in-process (no chip-cert)")
    a.add_argument("--gen_cd", action="store_true", help="generate CD.der (a Certification Declaration) in-process")
    a.add_argument("--cd_type", type=any_int, default=1, choices=[0, 1, 2],
                   help="CD certification type: 0 development, 1 provisional (default), 2 official")
    a.add_argument("--device_type", type=any_int, default=0, help="CD device type ID (default 0)")
    a.add_argument("--paa_cert", help="PAA certificate that signs the generated PAI (and checks given chains)")
    a.add_argument("--paa_key", help="PAA private key")
    a.add_argument("--cd_signing_cert", help="certificate of the CD signing key")
    a.add_argument("--cd_signing_key", help="CD signing key")
    a.add_argument("--chip_cert_path", help="accepted for compatibility and ignored (no chip-cert is needed)")
    a.add_argument("--strict", action="store_true", help="treat certificate profile deviations as errors")
    o = p.add_argument_group("partition")
    o.add_argument("--offset", type=any_int, help="partition address; with --size also writes PREFIX.hex and PREFIX.bin")
    o.add_argument("--size", type=any_int, help="partition size in bytes (the image must fit, terminator byte included)")
    o.add_argument("--format", choices=["nrfconnect", "telink", "ti", "bouffalolab"], default="nrfconnect",
                   help="layout of .hex/.bin: nrfconnect (default), telink (Telink's key order and encodings, the CD "
                        "as cert_dclrn), ti (the CC13x4/CC26x4 table at --offset 0xfe800) or bouffalolab (the MFD "
                        "image, unencrypted); the JSON is the same")
    o.add_argument("--cd", help="Certification Declaration (DER) to store in a telink or bouffalolab image "
                                "(--gen_cd's CD is stored without it)")
    add_pkcs11_module(p)
    return p


def config_values(argv: list[str], report) -> dict:
    """The request fields that ``--from_config FILE`` (repeatable) stands for; options given on the command
    line win over them."""
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--from_config", "--from-config", action="append")
    known, _ = pre.parse_known_args(argv)
    if not known.from_config:
        return {}
    from ..build import kconfig  # kconfiglib and the Kconfig tree: only for --from_config

    return kconfig.request_values(kconfig.read_config(known.from_config), warn=report.warn)


def main(argv: list[str], prog: str) -> int:
    report = Reporter(verbose="-v" in argv or "--verbose" in argv, prog=prog)
    parser = build_parser(prog)
    values = config_values(argv, report)
    if values:  # the configuration's values become the defaults: the command line still wins
        parser.set_defaults(**values)
        for action in parser._actions:
            if action.dest in values:
                action.required = False
    args = parser.parse_args(argv)
    writes = generate(request_from(NrfRequest, args), report)
    report.debug(f"{len(writes.files)} file(s) written")
    return 0
