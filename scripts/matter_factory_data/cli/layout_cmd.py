"""``matter-factory-data layout check``: is a pm_static.yml right for factory data?"""

from __future__ import annotations

from ..build import layout
from ..build.kconfig import read_dotconfig
from ..errors import InvalidInput
from .common import ArgumentParser, any_int

DESCRIPTION = """\
Check a Partition Manager layout (pm_static.yml) for factory data: a 'factory_data' partition that
is page aligned, overlaps nothing, lies inside the flash, is not inside a DFU container, and is large
enough for the given factory data (counting the terminator byte).
"""

EPILOG = """\
examples:
  %(prog)s pm_static.yml --flash_size 0x100000
  %(prog)s pm_static.yml --config build/zephyr/.config --data build/zephyr/factory_data.hex
  %(prog)s pm_static.yml --print_partition factory_data      # prints "0xfb000 0x1000"
"""


def main(argv: list[str], prog: str) -> int:
    if not argv or argv[0] in ("-h", "--help"):
        print(f"usage: {prog} check FILE [options]\n\n{DESCRIPTION}\n{EPILOG % {'prog': prog + ' check'}}")
        return 0 if argv else 2
    if argv[0] != "check":
        raise InvalidInput("", f"unknown subcommand {argv[0]!r} (check)")
    return check_main(argv[1:], prog + " check")


def check_main(argv: list[str], prog: str) -> int:
    p = ArgumentParser(prog=prog, description=DESCRIPTION, epilog=EPILOG)
    p.add_argument("file", help="pm_static.yml (or a build's partitions.yml)")
    p.add_argument("--flash_size", type=any_int, help="size of flash_primary in bytes (default: from --config)")
    p.add_argument("--flash_base", type=any_int, default=None, help="base address of flash_primary (default 0)")
    p.add_argument("--page_size", type=any_int, default=layout.DEFAULT_PAGE, help="flash page size (default 0x1000)")
    p.add_argument("--config", help="a build's .config: CONFIG_FLASH_SIZE (KiB), CONFIG_FLASH_BASE_ADDRESS, write protection")
    p.add_argument("--data", help="factory data (.json, .cbor, .bin or .hex) that must fit the partition")
    p.add_argument("--external_flash_size", type=any_int, help="size of external_flash in bytes, to check its bounds")
    p.add_argument("--print_partition", metavar="NAME",
                   help="after the checks pass, print only 'ADDRESS SIZE' of this partition (for build scripts)")
    args = p.parse_args(argv)

    for option, value in (("--flash_size", args.flash_size), ("--flash_base", args.flash_base),
                          ("--page_size", args.page_size), ("--external_flash_size", args.external_flash_size)):
        if value is not None and not 0 <= value < 1 << 32:
            raise InvalidInput(option, f"{value} is outside 0..0xFFFFFFFF (a 32-bit flash address space)")
    if args.page_size <= 0 or args.page_size & (args.page_size - 1):
        raise InvalidInput("--page_size", f"{args.page_size} is not a positive power of two")
    flash_size, flash_base, write_protect = args.flash_size, args.flash_base, False
    if args.config:
        cfg = read_dotconfig(args.config)
        if flash_size is None and cfg.get("CONFIG_FLASH_SIZE"):
            flash_size = int(cfg["CONFIG_FLASH_SIZE"], 0) * 1024
        if flash_base is None and cfg.get("CONFIG_FLASH_BASE_ADDRESS"):
            flash_base = int(cfg["CONFIG_FLASH_BASE_ADDRESS"], 0)
        write_protect = cfg.get("CONFIG_CHIP_FACTORY_DATA_WRITE_PROTECT") == "y"
    data_size = layout.factory_data_size(args.data) if args.data else None
    regions = {"external_flash": (0, args.external_flash_size)} if args.external_flash_size else None
    report = layout.check(layout.load(args.file), flash_size, flash_base or 0, args.page_size, data_size,
                          write_protect, regions)
    if args.print_partition:
        if report.errors:
            raise InvalidInput(args.file, report.errors[0])
        part = report.partitions.get(args.print_partition)
        if part is None:
            raise InvalidInput(args.file, f"has no partition {args.print_partition!r}")
        print(f"0x{part.address:x} 0x{part.size:x}")
        return 0
    fd = report.partitions.get(layout.FACTORY_DATA)
    for e in report.errors:
        print(f"error: {e}")
    for w in report.warnings:
        print(f"warning: {w}")
    for n in report.notes:
        print(f"note: {n}")
    if report.ok:
        used = f", factory data uses {data_size} bytes" if data_size is not None else ""
        print(f"OK: factory_data at 0x{fd.address:x}, size 0x{fd.size:x} in {fd.region}{used}")
        return 0
    print(f"FAILED: {len(report.errors)} problem(s) in {args.file}")
    return 2
