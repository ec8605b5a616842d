"""``matter-factory-data nxp``: the NXP factory data binary, with the arguments of NXP's generate.py."""

from __future__ import annotations

import hashlib
import os

from ..formats.nxp import COLORS, FINISHES, PLATFORMS, read
from ..pipelines.nxp import aes_key, generate, nxp_kind, programming_hint
from ..requests import NxpRequest
from .common import ArgumentParser, Reporter, any_int, base64_bytes, request_from

DESCRIPTION = """\
Generate the NXP factory data binary (12-byte header + KLV entries; optionally AES-ECB encrypted or
wrapped in the K32W1/MCXW71 HWParameters record). Accepts every argument of NXP's
scripts/tools/nxp/factory_data_generator/generate.py; the SPAKE2+ verifier is computed in-process, so
--spake2p_path is accepted and ignored.
"""

EPILOG = """\
example (NXP's manufacturing guide, with this program's name):
  %(prog)s -i 10000 -s UXKLzwHdN3DZZLBaL2iVGhQi/OoQwIwJRQV4rpEalbA= -p 14014 -d 1000 \\
      --vid 0x1037 --pid 0xA220 --vendor_name "NXP Semiconductors" --product_name "Lighting app" \\
      --serial_num 12345678 --date 2023-01-01 --hw_version 1 --hw_version_str "1.0" \\
      --cert_declaration Chip-Test-CD-1037-A220.der --dac_cert Chip-DAC-NXP-1037-A220-Cert.der \\
      --dac_key Chip-DAC-NXP-1037-A220-Key.der --pai_cert Chip-PAI-NXP-1037-A220-Cert.der \\
      --unique_id 00112233445566778899aabbccddeeff --out factory_data.bin --platform rw61x

platforms and addresses: k32w0 0x9D600; k32w1/mcxw71 0xFE080 (with --hw_params); rw61x 0xBFFF000;
rt1060/rt1170: --address from the application's map file (__FACTORY_DATA_START).
"""

def build_parser(prog: str) -> ArgumentParser:
    p = ArgumentParser(prog=prog, description=DESCRIPTION, epilog=EPILOG)
    p.add_argument("-i", "--it", type=any_int, required=True, help="SPAKE2+ iteration count (1000..100000)")
    p.add_argument("-s", "--salt", type=base64_bytes, required=True, help="SPAKE2+ salt, Base64 (16..32 bytes)")
    p.add_argument("-p", "--passcode", type=any_int, required=True, help="setup passcode")
    p.add_argument("-d", "--discriminator", type=any_int, required=True, help="discriminator (0..4095)")
    p.add_argument("--vid", type=any_int, required=True, help="vendor ID")
    p.add_argument("--pid", type=any_int, required=True, help="product ID")
    p.add_argument("--vendor_name", required=True, help="vendor name (at most 32 bytes)")
    p.add_argument("--product_name", required=True, help="product name (at most 32 bytes)")
    p.add_argument("--hw_version", type=any_int, required=True, help="hardware version (0..65535)")
    p.add_argument("--hw_version_str", required=True, help="hardware version string (at most 64 bytes)")
    p.add_argument("--cert_declaration", required=True, help="Certification Declaration (DER)")
    p.add_argument("--pai_cert", required=True, help="PAI certificate (DER or PEM)")
    p.add_argument("--dac_cert", help="DAC certificate (DER or PEM)")
    p.add_argument("--dac_key", help="DAC private key (DER or PEM, SEC1 or PKCS#8), or an SSS/ELS blob")
    p.add_argument("--dac_key_password", help="password of an encrypted DAC key")
    p.add_argument("--dac_key_use_sss_blob", action="store_true",
                   help="store --dac_key verbatim: an SSS (56 bytes) or ELS (48 bytes) blob")
    p.add_argument("--allow_blob_length", action="store_true", help="accept a blob of another length")
    p.add_argument("--spake2p_path", help="accepted for compatibility and ignored (the verifier is computed here)")
    p.add_argument("--spake2p_verifier", type=base64_bytes, help="SPAKE2+ verifier, Base64; checked against the passcode")
    p.add_argument("--out", required=True, help="output file")
    p.add_argument("--aes128_key", help="encrypt with AES-128-ECB (32 hex digits)")
    p.add_argument("--aes256_key", help="encrypt with AES-256-ECB (64 hex digits)")
    p.add_argument("--date", help="manufacturing date YYYY-MM-DD")
    p.add_argument("--part_number", help="part number (at most 32 bytes)")
    p.add_argument("--product_url", help="product URL (at most 256 bytes)")
    p.add_argument("--product_label", help="product label (at most 64 bytes)")
    p.add_argument("--serial_num", help="serial number (at most 32 bytes)")
    p.add_argument("--unique_id", help="rotating device ID unique ID: stored as its ASCII characters, like NXP's tool")
    p.add_argument("--unique_id_hex", action="store_true", help="store --unique_id hex-decoded (16..32 bytes) instead")
    p.add_argument("--product_finish", choices=FINISHES, help="product finish")
    p.add_argument("--product_primary_color", choices=COLORS, help="product primary colour")
    p.add_argument("--hw_params", action="store_true", help="wrap in the K32W1/MCXW71 HWParameters APP_FACT_DATA record")
    p.add_argument("--EL2GO_bin", help="EdgeLock 2GO secure objects blob (RW61x)")
    p.add_argument("--EL2GO_DAC_KEY_ID", type=any_int, help="EL2GO DAC key ID")
    p.add_argument("--EL2GO_DAC_CERT_ID", type=any_int, help="EL2GO DAC certificate ID")
    p.add_argument("--pad16", action="store_true",
                   help="pad a plain payload with zeros to a multiple of 16 (the FwkImpl and Zephyr readers need it)")
    p.add_argument("--platform", choices=list(PLATFORMS), help="check the platform's limits and print how to flash it")
    p.add_argument("--address", type=any_int, help="flash address (required for rt1060/rt1170 and K32W1 without --hw_params)")
    p.add_argument("--hex", help="also write an Intel HEX file of the image at the platform's address")
    p.add_argument("--allow_id_mismatch", action="store_true",
                   help="allow --vid/--pid to differ from the certificates and the CD")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --out file (and its hw_params file)")
    return p


def reference_lines(image: bytes, key: bytes | None, hw_params: bool) -> list[str]:
    """The lines NXP's generate.py logs on stdout that scripts read: the 4-byte section hash, the sizes, the
    SHA-256 of the binary (here always the written file's; for an encrypted image the reference prints the
    hash of the padded plaintext instead)."""
    plain = image[20:-2] if hw_params else image
    lines = []
    if key is not None:
        decoded = read(image, key)
        lines.append(f"[INFO] (Before padding) Size of generated binary is: {decoded.size - decoded.padding} bytes")
        lines.append(f"[INFO] (After padding) Size of generated binary is: {decoded.size} bytes")
    lines.append(f"[INFO] 4 byte section hash (for integrity check): {plain[8:12].hex()}")
    lines.append(f"[INFO] Size of final generated binary is: {len(image)} bytes")
    lines.append(f"[INFO] SHA256 of generated binary: {hashlib.sha256(image).hexdigest()}")
    return lines


def main(argv: list[str], prog: str) -> int:
    args = build_parser(prog).parse_args(argv)
    report = Reporter(prog=prog)
    request = request_from(NxpRequest, args)
    image, address = generate(request, report)
    key = aes_key(request)
    for line in reference_lines(image, key, args.hw_params):
        print(line)
    print(f"wrote {args.out} ({len(image)} bytes, {nxp_kind(key, args.hw_params)}), "
          f"SHA-256 {hashlib.sha256(image).hexdigest()}")
    if args.platform:
        print(programming_hint(args.platform, os.path.basename(args.out), address))
    return 0
