"""``matter-factory-data partition`` = ``scripts/generate_partition.py``: JSON -> CBOR -> HEX/BIN."""

from __future__ import annotations

from .. import documents
from ..errors import InvalidInput
from ..fileio import WriteSet, read_bytes
from ..formats import nrfconnect
from ..model import FactoryData
from .common import ArgumentParser, Reporter, any_int

DESCRIPTION = """\
Build the nRF Connect factory data partition from a factory data JSON: a CBOR map written as
Intel HEX (PREFIX.hex, at --offset) and raw BIN (PREFIX.bin). Accepts every argument of the
nRF Connect SDK's nrfconnect_generate_partition.py.
"""

EPILOG = """\
example:
  %(prog)s -i factory_data.json -o factory_data --offset 0xfb000 --size 0x1000

The image is the CBOR plus one 0x00 terminator byte, and it must fit --size including that byte.
exit codes: 0 success, 2 invalid input, 1 failed or refused operation.
"""


def build_parser(prog: str) -> ArgumentParser:
    p = ArgumentParser(prog=prog, description=DESCRIPTION, epilog=EPILOG)
    p.add_argument("-i", "--input", required=True, help="factory data JSON file")
    p.add_argument("-o", "--output", required=True, help="output prefix: writes PREFIX.hex and PREFIX.bin")
    p.add_argument("--offset", type=any_int, required=True, help="partition address, e.g. 0xfb000")
    p.add_argument("--size", type=any_int, required=True, help="partition size in bytes, e.g. 0x1000")
    p.add_argument("-v", "--verbose", action="store_true", help="print debug information")
    p.add_argument("-r", "--raw", action="store_true", help="print only errors")
    p.add_argument("--user_hex_as_bytes", action="store_true",
                   help="store \"hex:...\" strings nested in 'user' as bytes (newest upstream behaviour; "
                        "the device's FindUserDataEntry cannot read them)")
    p.add_argument("--overwrite", action="store_true", default=True, help=__import__("argparse").SUPPRESS)
    p.add_argument("--no_overwrite", dest="overwrite", action="store_false",
                   help="refuse to replace existing PREFIX.hex/PREFIX.bin")
    return p


def main(argv: list[str], prog: str) -> int:
    args = build_parser(prog).parse_args(argv)
    report = Reporter(verbose=args.verbose, quiet=args.raw, prog=prog)
    if args.offset < 0:
        raise InvalidInput("--offset", f"{args.offset} is negative")
    if args.size <= 0:
        raise InvalidInput("--size", f"{args.size} must be positive")
    if args.offset + args.size > 1 << 32:
        raise InvalidInput("--offset/--size", f"0x{args.offset:x} + 0x{args.size:x} ends past 4 GiB, beyond the "
                                              f"32-bit addresses of flash and Intel HEX")
    doc = documents.loads(read_bytes(args.input, "--input"), f"--input {args.input}")
    if not doc:
        raise InvalidInput(f"--input {args.input}", "holds no factory data (an empty object)")
    fd = FactoryData.from_doc(doc)
    fd.validate(complete=False, warn=report.warn)
    if args.user_hex_as_bytes:
        report.warn("--user_hex_as_bytes: nested hex values become bytes, readable on the device only via GetUserData")
    cbor = nrfconnect.encode_cbor(doc, user_hex_as_bytes=args.user_hex_as_bytes)
    nrfconnect.check_size(cbor, args.size)
    image = nrfconnect.image_bytes(cbor)
    secret = "dac_key" in doc or "passcode" in doc
    writes = WriteSet(overwrite=args.overwrite)
    writes.add(args.output + ".hex", nrfconnect.to_intel_hex(image, args.offset), secret=secret)
    writes.add(args.output + ".bin", image, secret=secret)
    writes.commit()
    if not args.raw:
        report.info(f"wrote {args.output}.hex and {args.output}.bin ({len(image)} of {args.size} bytes at 0x{args.offset:x})")
    return 0
