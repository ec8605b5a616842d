"""``matter-factory-data merge``: merge Intel HEX files (firmware + factory data)."""

from __future__ import annotations

from ..build.hexmerge import merge_hex
from ..fileio import WriteSet, read_bytes
from .common import ArgumentParser

DESCRIPTION = """\
Merge Intel HEX files into one, as a flashable image. Start addresses of the inputs are dropped.
By default any shared address is an error (even with identical bytes); --overlap replace lets later
files win.
"""

EPILOG = """\
example:
  %(prog)s -o merged.hex build/zephyr/zephyr.hex build/zephyr/factory_data.hex
"""


def main(argv: list[str], prog: str) -> int:
    p = ArgumentParser(prog=prog, description=DESCRIPTION, epilog=EPILOG)
    p.add_argument("-o", "--output", required=True, help="merged Intel HEX file")
    p.add_argument("inputs", nargs="+", help="Intel HEX files, merged in this order")
    p.add_argument("--overlap", choices=["error", "replace"], default="error",
                   help="what a shared address does: error (default) or replace (later files win)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output file")
    args = p.parse_args(argv)
    WriteSet(overwrite=args.overwrite).add(args.output, b"").check()  # before any work
    merged = merge_hex([(path, read_bytes(path, "input")) for path in args.inputs], args.overlap)
    WriteSet(overwrite=args.overwrite).add(args.output, merged, secret=True).commit()
    return 0
