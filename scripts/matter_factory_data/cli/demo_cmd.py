"""``matter-factory-data demo``: one complete factory data set from built-in defaults."""

from __future__ import annotations

import datetime
import os
import secrets

from ..crypto import spake2p
from ..errors import InvalidInput
from ..pipelines.nrfconnect import generate
from ..requests import NrfRequest
from .common import ArgumentParser, Reporter

DESCRIPTION = """\
Make fresh test credentials (PAA -> PAI -> DAC and a Certification Declaration) and one complete
nRF Connect factory data set with them: JSON, HEX and BIN for a 4 KiB partition at 0xfb000, and the
onboarding codes (.txt and QR .png). Everything uses test vendor ID 0xFFF1 and is for development only.
"""


EPILOG = """\
examples:
  %(prog)s                          # into ./factory-data-demo
  %(prog)s --out build/demo         # elsewhere (the directory is made)
  %(prog)s --out build/demo --overwrite
  matter-factory-data inspect factory-data-demo/factory_data.hex
"""


def main(argv: list[str], prog: str) -> int:
    p = ArgumentParser(prog=prog, description=DESCRIPTION, epilog=EPILOG)
    p.add_argument("--out", default="factory-data-demo", help="output directory (default: factory-data-demo)")
    p.add_argument("--overwrite", action="store_true", help="replace files of an earlier demo run")
    p.add_argument("-v", "--verbose", action="store_true", help="print debug information")
    args = p.parse_args(argv)

    if not args.out or os.path.isfile(args.out):
        raise InvalidInput("--out", f"{args.out!r} is not a directory name")
    passcode = spake2p.random_passcode()
    discriminator = secrets.randbelow(4096)
    salt = secrets.token_bytes(32)
    today = datetime.date.today().isoformat()
    serial = "DEMO-" + secrets.token_hex(4).upper()
    request = NrfRequest(
        output=os.path.join(args.out, "factory_data"), sn=serial, vendor_id=0xFFF1, product_id=0x8000,
        vendor_name="Test Vendor", product_name="Test Light", date=today, hw_ver=1, hw_ver_str="1.0",
        spake2_it=1000, spake2_salt=salt, passcode=passcode, discriminator=discriminator, generate_rd_uid=True,
        gen_certs=True, gen_cd=True, cd_type=0, generate_onboarding=True, include_passcode=True,
        offset=0xFB000, size=0x1000, overwrite=args.overwrite)
    report = Reporter(verbose=args.verbose, prog=prog, quiet=not args.verbose)
    writes = generate(request, report)
    txt = os.path.join(args.out, "factory_data.txt")
    with open(txt) as f:
        codes = f.read()
    print(f"Test factory data for serial {serial} (VID 0xFFF1, PID 0x8000, discriminator {discriminator}):")
    for path in sorted(writes.paths()):
        print(f"  {path}")
    print(codes)
    print("These are test credentials (test vendor ID, self-made PAA and CD signer): for development only.")
    return 0
