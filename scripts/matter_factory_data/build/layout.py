"""Partition Manager layouts (``pm_static.yml``): the checks a factory data partition needs.

Rules (spec: the Partition Manager's static configuration):
  * a mapping of partitions with integer ``address``/``size`` (``end_address`` consistent), region
    ``flash_primary`` unless given;
  * ``factory_data`` exists, is page aligned (address and size) and at least one page;
  * no two leaf partitions of one region overlap; containers (``span``) match their children;
  * every partition lies inside its region when the region's size is known;
  * ``factory_data`` is not inside a container (a DFU update would overwrite it);
  * the factory data image (CBOR + terminator byte) fits.
"""

from __future__ import annotations

import yaml

from .. import documents
from ..errors import InvalidInput
from ..fileio import read_bytes
from ..formats import nrfconnect
from ..inspection import detect_kind, image_from_hex

DEFAULT_PAGE = 0x1000
FACTORY_DATA = "factory_data"


class Partition:
    __slots__ = ("name", "address", "size", "region", "span")

    def __init__(self, name: str, address: int, size: int, region: str, span: list[str] | None):
        self.name, self.address, self.size, self.region, self.span = name, address, size, region, span

    @property
    def end(self) -> int:
        return self.address + self.size

    def range(self) -> str:
        return f"[0x{self.address:x},0x{self.end:x})"


class Report:
    def __init__(self):
        self.errors: list[str] = []
        self.warnings: list[str] = []
        self.notes: list[str] = []
        self.partitions: dict[str, Partition] = {}

    @property
    def ok(self) -> bool:
        return not self.errors


def load(path: str) -> dict:
    text = read_bytes(path, "layout")
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise InvalidInput(path, f"is not valid YAML ({str(e).splitlines()[0]})") from None
    if not isinstance(data, dict) or not all(isinstance(v, dict) for v in data.values()):
        raise InvalidInput(path, "must be a mapping of partition names to their properties")
    return data


def parse(data: dict, report: Report) -> dict[str, Partition]:
    parts: dict[str, Partition] = {}
    for name, props in data.items():
        address, size = props.get("address"), props.get("size")
        if not _is_uint(address) or not _is_uint(size):
            report.errors.append(f"{name}: address and size must be non-negative integers")
            continue
        end = props.get("end_address")
        if end is not None and end != address + size:
            report.errors.append(f"{name}: end_address 0x{end:x} is not address + size (0x{address + size:x})")
        span = props.get("span")
        if isinstance(span, str):
            span = [span]
        parts[str(name)] = Partition(str(name), address, size, props.get("region", "flash_primary"), span)
    return parts


def _is_uint(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v >= 0


def check(data: dict, flash_size: int | None = None, flash_base: int = 0, page_size: int = DEFAULT_PAGE,
          data_size: int | None = None, write_protect: bool = False, regions: dict | None = None) -> Report:
    report = Report()
    parts = parse(data, report)
    report.partitions = parts
    regions = dict(regions or {})
    if flash_size is not None:
        regions["flash_primary"] = (flash_base, flash_size)
    fd = parts.get(FACTORY_DATA)
    _check_factory_data(fd, parts, page_size, data_size, report)
    _check_containers(parts, report)
    by_region = _check_regions(parts, regions, flash_size, report)
    if "flash_primary" in regions:
        _check_application_gap(parts, regions["flash_primary"], by_region, report)
    if write_protect and fd is not None:
        ends = [parts[n].end for n in ("app", "mcuboot_primary") if n in parts]
        if ends and fd.address not in ends:
            report.warnings.append("CONFIG_CHIP_FACTORY_DATA_WRITE_PROTECT: factory_data should start where the "
                                   "application (app/mcuboot_primary) ends when the protection block exceeds a page")
    return report


def _check_factory_data(fd, parts: dict, page_size: int, data_size: int | None, report: Report) -> None:
    """The partition exists, is page-aligned, holds the data, and no firmware update image spans it."""
    if fd is None:
        report.errors.append("no 'factory_data' partition: the device reads its factory data from it")
    else:
        if fd.address % page_size:
            report.errors.append(f"factory_data address 0x{fd.address:x} not 0x{page_size:x}-aligned")
        if fd.size % page_size or fd.size < page_size:
            report.errors.append(f"factory_data size 0x{fd.size:x} is not a non-zero multiple of the page size 0x{page_size:x}")
        if data_size is not None and data_size > fd.size:
            report.errors.append(f"factory data needs {data_size} bytes (CBOR + 1 terminator byte) but factory_data "
                                 f"holds {fd.size} (0x{fd.size:x})")
        for c in parts.values():
            if c.span and FACTORY_DATA in c.span:
                report.errors.append(f"factory_data is inside container '{c.name}': a firmware update would overwrite it")


def _check_containers(parts: dict, report: Report) -> None:
    for c in parts.values():
        if not c.span:
            continue
        missing = [n for n in c.span if n not in parts]
        if missing:
            report.errors.append(f"{c.name}: spans unknown partition(s) {', '.join(missing)}")
            continue
        children = sorted((parts[n] for n in c.span), key=lambda p: p.address)
        for a, b in zip(children, children[1:]):
            if a.end != b.address:
                report.errors.append(f"{c.name}: children {a.name} {a.range()} and {b.name} {b.range()} are not contiguous")
        if children and (c.address != children[0].address or c.size != sum(p.size for p in children)):
            report.errors.append(f"{c.name}: address/size {c.range()} do not match its children "
                                 f"[0x{children[0].address:x},0x{children[0].address + sum(p.size for p in children):x})")


def _check_regions(parts: dict, regions: dict, flash_size: int | None, report: Report) -> dict:
    """Overlaps among the leaves of one region, and leaves outside their region; returns the leaves by region."""
    leaves = [p for p in parts.values() if not p.span]
    by_region: dict[str, list[Partition]] = {}
    for p in leaves:
        by_region.setdefault(p.region, []).append(p)
    for region, items in by_region.items():
        items.sort(key=lambda p: (p.address, p.end))
        for i, a in enumerate(items):
            for b in items[i + 1:]:
                if b.address >= a.end:
                    break
                if b.size and a.size:
                    report.errors.append(f"overlap in {region}: {a.name} {a.range()} vs {b.name} {b.range()}")
        bounds = regions.get(region)
        if bounds is None:
            if region != "flash_primary" or flash_size is None:
                report.notes.append(f"region {region}: size unknown, bounds not checked")
            continue
        base, size = bounds
        for p in items:
            if p.address < base or p.end > base + size:
                report.errors.append(f"{p.name} {p.range()} lies outside {region} [0x{base:x},0x{base + size:x})")
    return by_region


def _check_application_gap(parts: dict, bounds: tuple, by_region: dict, report: Report) -> None:
    """The Partition Manager gives the application the one free range of flash_primary."""
    base, size = bounds
    statics = sorted((p for p in by_region.get("flash_primary", []) if p.name != "app"), key=lambda p: p.address)
    gaps, cursor = [], base
    for p in statics:
        if p.address > cursor:
            gaps.append((cursor, p.address))
        cursor = max(cursor, p.end)
    if cursor < base + size:
        gaps.append((cursor, base + size))
    if len(gaps) > 1:
        report.warnings.append("flash_primary has " + str(len(gaps)) + " unassigned gaps (" + ", ".join(
            f"[0x{a:x},0x{b:x})" for a, b in gaps) + "); the Partition Manager allows one, for the application")
    app = parts.get("app")
    if app is not None and len(gaps) == 1 and (app.address, app.end) != gaps[0]:
        report.warnings.append(f"app {app.range()} does not fill the free range [0x{gaps[0][0]:x},0x{gaps[0][1]:x})")


def factory_data_size(path: str) -> int:
    """Bytes the factory data image needs (CBOR + terminator) for a .json, .cbor, .bin or .hex file."""
    data = read_bytes(path, "--data")
    kind = detect_kind(path, data)
    if kind == "json":
        return len(nrfconnect.encode_cbor(documents.loads(data, path))) + 1
    if kind == "hex":
        _, data = image_from_hex(data, None, path)
    part = nrfconnect.parse_partition(data)
    return part.cbor_length + 1
