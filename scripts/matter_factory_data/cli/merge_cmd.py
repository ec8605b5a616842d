"""``matter-factory-data merge``: merge Intel HEX files (firmware + factory data)."""

from __future__ import annotations

import io

from ..build.hexmerge import flat_binary, merge
from ..errors import InvalidInput
from ..fileio import WriteSet, read_bytes
from .common import ArgumentParser, any_int

DESCRIPTION = """\
Merge Intel HEX files into one, as a flashable image. Start addresses of the inputs are dropped.
By default any shared address is an error (even with identical bytes); --overlap replace lets later
files win. A raw binary joins as FILE@ADDRESS; --bin also writes the merged image as one binary
(lowest to highest address, gaps 0xFF), for flashers that take a .bin (Telink's west flash).
"""

EPILOG = """\
examples:
  %(prog)s -o merged.hex build/zephyr/zephyr.hex build/zephyr/factory_data.hex
  %(prog)s -o merged.hex --bin merged.bin build/zephyr/zephyr.hex build/zephyr/factory_data.bin@0x200FF000
"""


def main(argv: list[str], prog: str) -> int:
    p = ArgumentParser(prog=prog, description=DESCRIPTION, epilog=EPILOG)
    p.add_argument("-o", "--output", required=True, help="merged Intel HEX file")
    p.add_argument("inputs", nargs="+", help="Intel HEX files (or BINARY@ADDRESS), merged in this order")
    p.add_argument("--bin", help="also write the merged image as a binary file")
    p.add_argument("--overlap", choices=["error", "replace"], default="error",
                   help="what a shared address does: error (default) or replace (later files win)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output file")
    args = p.parse_args(argv)
    outputs = [args.output] + ([args.bin] if args.bin else [])
    check = WriteSet(overwrite=args.overwrite)
    for path in outputs:
        check.add(path, b"")
    check.check()  # before any work
    inputs, at = [], {}
    for text in args.inputs:
        path, sep, address = text.rpartition("@")
        if sep and path:
            try:
                at[path] = any_int(address)
            except Exception:
                raise InvalidInput(text, f"{address!r} is not an address (FILE@0x...)") from None
        else:
            path = text
        inputs.append((path, read_bytes(path, "input")))
    merged = merge(inputs, args.overlap, at)
    buf = io.StringIO()
    merged.write_hex_file(buf, write_start_addr=False)
    writes = WriteSet(overwrite=args.overwrite).add(args.output, buf.getvalue().encode("ascii"), secret=True)
    if args.bin:
        writes.add(args.bin, flat_binary(merged), secret=True)
    writes.commit()
    return 0
