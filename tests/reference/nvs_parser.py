"""The NVS partition reader esp-matter-mfg-tool's test suite imports as ``tests.deps.nvs_parser`` (it is not in
the tool's wheel), written on matter_factory_data's own NVS reader (``formats.esp32.entries``): the objects
and fields the suite reads, nothing more.

``NVS_Partition(name, data).pages`` -> pages with ``header["status"]`` and ``header["page_index"]`` and
``entries``; an entry has ``state``, ``key``, ``metadata`` (``namespace``, ``type``, ``span``,
``chunk_index``), ``data`` (``value`` for numbers; ``size`` for strings and blobs; ``size``, ``chunk_count``,
``chunk_start`` for blob indexes) and ``children`` (objects with ``raw``: the payload).
"""

from __future__ import annotations

import struct

from matter_factory_data.formats import esp32

TYPE_NAMES = {0x01: "uint8_t", 0x11: "int8_t", 0x02: "uint16_t", 0x12: "int16_t", 0x04: "uint32_t",
              0x14: "int32_t", 0x08: "uint64_t", 0x18: "int64_t", 0x21: "string", 0x41: "blob",
              0x42: "blob_data", 0x48: "blob_index"}


class NVS_Child:  # noqa: N801 (the suite's name)
    def __init__(self, raw: bytes):
        self.raw = raw


class NVS_Entry:  # noqa: N801
    def __init__(self, e: esp32.Entry):
        self.state = "Written"
        self.key = e.key
        self.metadata = {"namespace": e.namespace, "type": TYPE_NAMES[e.type], "span": e.span,
                         "chunk_index": e.chunk}
        self.children = []
        if e.type in (0x21, 0x41, 0x42):
            size, crc = struct.unpack_from("<HxxI", e.body, 0)
            self.data = {"size": size, "crc": crc}
            self.children = [NVS_Child(e.payload)]
        elif e.type == 0x48:
            total, count, start = struct.unpack_from("<IBB", e.body, 0)
            self.data = {"size": total, "chunk_count": count, "chunk_start": start}
        else:
            self.data = {"value": esp32.int_value(e)}


class NVS_Page:  # noqa: N801
    def __init__(self, state: str, seq: int):
        self.header = {"status": state, "page_index": seq}
        self.entries: list[NVS_Entry] = []


class NVS_Partition:  # noqa: N801
    def __init__(self, name: str, data: bytearray):
        self.name = name
        pages: dict[int, NVS_Page] = {}
        for e in esp32.entries(bytes(data), strict=False):  # as esp-idf's parser: bad entries do not stop it
            page = pages.setdefault(e.page, NVS_Page(e.page_state, e.page_seq))
            page.entries.append(NVS_Entry(e))
        self.pages = [pages[k] for k in sorted(pages)]
