"""QR code images for onboarding payloads: a small QR encoder (ISO/IEC 18004, error correction M,
versions 1-10) and a 1-bit PNG writer.

Onboarding payloads (``MT:`` + Base38) are QR alphanumeric text of 22 characters, or a little more with
optional TLV data; versions 1-10 hold up to 311 such characters. Longer text falls back to ``segno``.
Writing the matrix here keeps a single-device run free of the image stack (segno imports its writers,
urllib and xml at start-up); tests check the matrices against segno's for every mask.
"""

from __future__ import annotations

import io
import re
import struct
import zlib

ALNUM = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:"
_ALNUM_INDEX = {c: i for i, c in enumerate(ALNUM)}

# Error correction level M: (EC codewords per block, [(block count, data codewords per block), ...]).
_EC_M = {
    1: (10, [(1, 16)]), 2: (16, [(1, 28)]), 3: (26, [(1, 44)]), 4: (18, [(2, 32)]), 5: (24, [(2, 43)]),
    6: (16, [(4, 27)]), 7: (18, [(4, 31)]), 8: (22, [(2, 38), (2, 39)]), 9: (22, [(3, 36), (2, 37)]),
    10: (26, [(4, 43), (1, 44)]),
}
_ALIGNMENT = {1: [], 2: [6, 18], 3: [6, 22], 4: [6, 26], 5: [6, 30], 6: [6, 34], 7: [6, 22, 38], 8: [6, 24, 42],
              9: [6, 26, 46], 10: [6, 28, 50]}
MAX_VERSION = max(_EC_M)
_FORMAT_BITS_M = 0  # ECC level M

# ---------------------------------------------------------------- Reed-Solomon over GF(256), poly 0x11D

_EXP = [0] * 512
_LOG = [0] * 256
_x = 1
for _i in range(255):
    _EXP[_i] = _x
    _LOG[_x] = _i
    _x <<= 1
    if _x & 0x100:
        _x ^= 0x11D
for _i in range(255, 512):
    _EXP[_i] = _EXP[_i - 255]


def _gf_mul(a: int, b: int) -> int:
    if a == 0 or b == 0:
        return 0
    return _EXP[_LOG[a] + _LOG[b]]


_DIVISORS: dict = {}


def _rs_divisor(degree: int) -> list[int]:
    """Coefficients of prod(x - a^i), i < degree, highest power first, leading 1 dropped."""
    if degree in _DIVISORS:
        return _DIVISORS[degree]
    result = [0] * (degree - 1) + [1]
    root = 1
    for _ in range(degree):
        for j in range(degree):
            result[j] = _gf_mul(result[j], root)
            if j + 1 < degree:
                result[j] ^= result[j + 1]
        root = _gf_mul(root, 2)
    _DIVISORS[degree] = result
    return result


_PRODUCTS: dict = {}


def _rs_products(degree: int) -> list[int]:
    """For every factor f, the divisor times f as one ``degree``-byte big-endian int."""
    table = _PRODUCTS.get(degree)
    if table is None:
        divisor = _rs_divisor(degree)
        table = _PRODUCTS[degree] = [int.from_bytes(bytes(_gf_mul(c, f) for c in divisor), "big")
                                     for f in range(256)]
    return table


def _rs_remainder(data: bytes, degree: int) -> bytes:
    """The ``degree`` error correction codewords of ``data`` (polynomial division, one byte per step)."""
    products = _rs_products(degree)
    top = 8 * (degree - 1)
    mask = (1 << (8 * degree)) - 1
    rem = 0
    for b in data:
        rem = ((rem << 8) & mask) ^ products[b ^ (rem >> top)]
    return rem.to_bytes(degree, "big")


# ---------------------------------------------------------------- data encoding


def _data_capacity(version: int) -> int:
    return sum(n * k for n, k in _EC_M[version][1])


def _segment_bits(text: str, version: int) -> tuple[int, int] | None:
    """The segment (mode, count, data) as (value, bit length), or None if it does not fit ``version``."""
    index = _ALNUM_INDEX
    if all(c in index for c in text):
        count_bits = 9 if version <= 9 else 11
        value, n = 0b0010 << count_bits | len(text), 4 + count_bits
        for i in range(0, len(text) - 1, 2):
            value = value << 11 | (index[text[i]] * 45 + index[text[i + 1]])
        n += 11 * (len(text) // 2)
        if len(text) % 2:
            value, n = value << 6 | index[text[-1]], n + 6
    else:
        raw = text.encode("utf-8")
        count_bits = 8 if version <= 9 else 16
        value = (0b0100 << count_bits | len(raw)) << (8 * len(raw)) | int.from_bytes(raw, "big")
        n = 4 + count_bits + 8 * len(raw)
    if n > _data_capacity(version) * 8:
        return None
    return value, n


_PAD = bytes([0xEC, 0x11]) * 256


def _codewords(text: str) -> tuple[int, bytes]:
    for version in range(1, MAX_VERSION + 1):
        segment = _segment_bits(text, version)
        if segment is not None:
            break
    else:
        raise ValueError("text too long for QR versions 1-10 at error correction M")
    value, n = segment
    capacity = _data_capacity(version)
    terminator = min(4, capacity * 8 - n)
    n += terminator + (-(n + terminator) % 8)
    value <<= n - segment[1]
    data = value.to_bytes(n // 8, "big") + _PAD[: capacity - n // 8]
    ec_len, groups = _EC_M[version]
    if len(groups) == 1 and groups[0][0] == 1:
        return version, data + _rs_remainder(data, ec_len)
    blocks, ecs, pos = [], [], 0
    for count, size in groups:
        for _ in range(count):
            block = data[pos : pos + size]
            pos += size
            blocks.append(block)
            ecs.append(_rs_remainder(block, ec_len))
    out = bytearray()
    for i in range(max(len(b) for b in blocks)):
        out += bytes(b[i] for b in blocks if i < len(b))
    for i in range(ec_len):
        out += bytes(e[i] for e in ecs)
    return version, bytes(out)


# ---------------------------------------------------------------- matrix


def _format_bits(mask: int) -> int:
    data = _FORMAT_BITS_M << 3 | mask
    rem = data
    for _ in range(10):
        rem = (rem << 1) ^ ((rem >> 9) * 0x537)
    return (data << 10 | rem) ^ 0x5412


def _version_bits(version: int) -> int:
    rem = version
    for _ in range(12):
        rem = (rem << 1) ^ ((rem >> 11) * 0x1F25)
    return version << 12 | rem


_MASKS = (
    lambda x, y: (x + y) % 2 == 0,
    lambda x, y: y % 2 == 0,
    lambda x, y: x % 3 == 0,
    lambda x, y: (x + y) % 3 == 0,
    lambda x, y: (x // 3 + y // 2) % 2 == 0,
    lambda x, y: x * y % 2 + x * y % 3 == 0,
    lambda x, y: (x * y % 2 + x * y % 3) % 2 == 0,
    lambda x, y: ((x + y) % 2 + x * y % 3) % 2 == 0,
)


_TEMPLATES: dict = {}


class _Matrix:
    def __init__(self, version: int):
        self.version = version
        self.size = size = version * 4 + 17
        template = _TEMPLATES.get(version)
        if template is None:
            self.dark = [[False] * size for _ in range(size)]
            self.func = [[False] * size for _ in range(size)]
            self._function_patterns()
            _TEMPLATES[version] = ([r[:] for r in self.dark], [r[:] for r in self.func])
        else:
            self.dark = [r[:] for r in template[0]]
            self.func = [r[:] for r in template[1]]

    def set(self, x: int, y: int, dark: bool) -> None:
        self.dark[y][x] = dark
        self.func[y][x] = True

    def _function_patterns(self) -> None:
        size = self.size
        for i in range(size):
            self.set(6, i, i % 2 == 0)
            self.set(i, 6, i % 2 == 0)
        for cx, cy in ((3, 3), (size - 4, 3), (3, size - 4)):
            for dy in range(-4, 5):
                for dx in range(-4, 5):
                    x, y = cx + dx, cy + dy
                    if 0 <= x < size and 0 <= y < size:
                        d = max(abs(dx), abs(dy))
                        self.set(x, y, d not in (2, 4))
        positions = _ALIGNMENT[self.version]
        last = len(positions) - 1
        for i, px in enumerate(positions):
            for j, py in enumerate(positions):
                if (i, j) in ((0, 0), (0, last), (last, 0)):
                    continue
                for dy in range(-2, 3):
                    for dx in range(-2, 3):
                        self.set(px + dx, py + dy, max(abs(dx), abs(dy)) != 1)
        self._draw_format(0)  # reserve the format areas
        if self.version >= 7:
            bits = _version_bits(self.version)
            for i in range(18):
                bit = (bits >> i) & 1 == 1
                a, b = size - 11 + i % 3, i // 3
                self.set(a, b, bit)
                self.set(b, a, bit)

    def _draw_format(self, mask: int) -> None:
        size = self.size
        bits = _format_bits(mask)

        def bit(i: int) -> bool:
            return (bits >> i) & 1 == 1

        for i in range(6):
            self.set(8, i, bit(i))
        self.set(8, 7, bit(6))
        self.set(8, 8, bit(7))
        self.set(7, 8, bit(8))
        for i in range(9, 15):
            self.set(14 - i, 8, bit(i))
        for i in range(8):
            self.set(size - 1 - i, 8, bit(i))
        for i in range(8, 15):
            self.set(8, size - 15 + i, bit(i))
        self.set(8, size - 8, True)

    def format_cells(self) -> list[tuple[int, int, int]]:
        """(x, y, bit index) of the two copies of the 15 format bits."""
        size = self.size
        cells = [(8, i, i) for i in range(6)] + [(8, 7, 6), (8, 8, 7), (7, 8, 8)]
        cells += [(14 - i, 8, i) for i in range(9, 15)]
        cells += [(size - 1 - i, 8, i) for i in range(8)]
        cells += [(8, size - 15 + i, i) for i in range(8, 15)]
        return cells

    def row_ints(self) -> tuple[list[int], list[int]]:
        """The modules (bit x = column x, dark = 1) and the data-module masks, one int per row."""
        dark, data = [], []
        for y in range(self.size):
            d = f = 0
            row, frow = self.dark[y], self.func[y]
            for x in range(self.size - 1, -1, -1):
                d = d << 1 | row[x]
                f = f << 1 | (not frow[x])
            dark.append(d)
            data.append(f)
        return dark, data


_PATTERNS: dict = {}


def _mask_pattern(size: int, mask: int) -> list[int]:
    key = (size, mask)
    if key not in _PATTERNS:
        fn = _MASKS[mask]
        _PATTERNS[key] = [sum(1 << x for x in range(size) if fn(x, y)) for y in range(size)]
    return _PATTERNS[key]


def _to_lists(rows: list[int], size: int) -> list[list[bool]]:
    return [[bool(r >> x & 1) for x in range(size)] for r in rows]


_RUN5 = re.compile(r"0{5,}|1{5,}")


def _penalty_rows(rows: list[int], size: int) -> int:
    """The four penalty rules of ISO/IEC 18004 section 7.8.3 on rows given as ints."""
    strs = [format(r, f"0{size}b")[::-1] for r in rows]
    lines = strs + ["".join(c) for c in zip(*strs)]
    joined = "2".join(lines)  # "2" ends every run and pattern at the line's end
    runs = _RUN5.findall(joined)
    score = sum(map(len, runs)) - 2 * len(runs)
    # neither pattern overlaps itself, so plain counting finds every occurrence
    padded = "2".join("0000" + line + "0000" for line in lines)
    score += 40 * (padded.count("10111010000") + padded.count("00001011101"))
    inner = (1 << (size - 1)) - 1
    for a, b in zip(rows, rows[1:]):
        same = ~(a ^ b)
        blocks = same & (same >> 1) & ~(a ^ (a >> 1)) & inner
        score += 3 * bin(blocks).count("1")
    dark = joined.count("1") // 2  # every module appears once in a row and once in a column
    total = size * size
    score += 10 * (abs(dark * 20 - total * 10) // total)
    return score


_MASKS_BY_SIZE: dict = {}


def _penalty_masks(size: int) -> tuple:
    masks = _MASKS_BY_SIZE.get(size)
    if masks is None:
        width = size + 8  # the padded layout for rule 3: 4 light modules around every line

        def where(test, w, h):
            return sum(1 << (y * w + x) for y in range(h) for x in range(w) if test(x, y))

        masks = _MASKS_BY_SIZE[size] = (
            (1 << size * size) - 1,
            where(lambda x, y: x <= size - 5, size, size),  # starts of horizontal runs of 5
            where(lambda x, y: x <= size - 2 and y <= size - 2, size, size),  # corners of 2x2 blocks
            where(lambda x, y: x <= width - 11, width, width),  # starts of horizontal 11-module patterns
            (1 << width * width) - 1,
            (1 << size) - 1,
        )
    return masks


def _runs_of_five(line: int, step: int, starts: int) -> int:
    """Rule 1 for one colour in one direction: every run of length L >= 5 scores L - 2, i.e. one point per
    5-module window plus two per run."""
    windows = line & (line >> step) & (line >> 2 * step) & (line >> 3 * step) & (line >> 4 * step) & starts
    return windows.bit_count() + 2 * (windows & ~(windows << step)).bit_count()


_FINDER_LIKE = ("10111010000", "00001011101")


def _pad(value: int, size: int) -> int:
    """The symbol in the padded layout: lines of size + 8 modules, 4 light ones on every side."""
    width, row_mask = size + 8, (1 << size) - 1
    out = 0
    for y in range(size):
        out |= ((value >> (y * size)) & row_mask) << ((y + 4) * width + 4)
    return out


def _penalty_value(value: int, size: int, padded: int | None = None) -> int:
    """The same score as ``_penalty_rows`` (a test compares them), computed on the whole symbol as one
    integer (bit y * size + x = module (x, y), dark = 1) with a few dozen big-integer operations.
    ``padded``: the same symbol already in the padded layout (``_pad``)."""
    full, run_starts, block_corners, pattern_starts, padded_full, row_mask = _penalty_masks(size)
    light = ~value & full
    score = 0
    for colour in (value, light):
        score += _runs_of_five(colour, 1, run_starts) + _runs_of_five(colour, size, full)
    same_h = ~(value ^ (value >> 1))
    same_v = ~(value ^ (value >> size))
    score += 3 * (same_h & (same_h >> size) & same_v & block_corners).bit_count()
    width = size + 8
    dark_p = _pad(value, size) if padded is None else padded
    light_p = ~dark_p & padded_full
    for step, starts in ((1, pattern_starts), (width, padded_full)):
        # 1011101 with 4 light modules before or after: the shared core, then either side
        core = (dark_p & (light_p >> step) & (dark_p >> 2 * step) & (dark_p >> 3 * step) & (dark_p >> 4 * step)
                & (light_p >> 5 * step) & (dark_p >> 6 * step))
        four_light = light_p & (light_p >> step) & (light_p >> 2 * step) & (light_p >> 3 * step)
        after = core & (four_light >> 7 * step) & starts
        before = (four_light & (core >> 4 * step)) & starts
        score += 40 * (after.bit_count() + before.bit_count())
    dark = value.bit_count()
    total = size * size
    return score + 10 * (abs(dark * 20 - total * 10) // total)


def penalty(modules: list[list[bool]]) -> int:
    size = len(modules)
    return _penalty_rows([sum(1 << x for x, m in enumerate(row) if m) for row in modules], size)


_LAYOUTS: dict = {}


class _Layout:
    """Per version, once: the symbol as one big int (bit y * size + x = module (x, y), dark = 1) with the
    function patterns drawn, per codeword position and nibble the modules it darkens, and per mask the
    data-module flips and the format bits."""

    def __init__(self, version: int):
        m = _Matrix(version)
        self.size = size = m.size
        self.matrix = m
        dark, data = m.row_ints()
        self.base = sum(r << (y * size) for y, r in enumerate(dark))
        data_big = sum(r << (y * size) for y, r in enumerate(data))
        positions = []
        right = size - 1
        while right >= 1:
            if right == 6:
                right = 5
            upward = ((right + 1) & 2) == 0
            for vert in range(size):
                y = size - 1 - vert if upward else vert
                for x in (right, right - 1):
                    if not m.func[y][x]:
                        positions.append(y * size + x)
            right -= 2
        self.nibbles = []  # [codeword index][0 = high nibble, 1 = low nibble][value]
        for j in range(len(positions) // 8):
            pair = []
            for half in (0, 1):
                bits = positions[8 * j + 4 * half : 8 * j + 4 * half + 4]
                pair.append([sum(1 << bits[i] for i in range(4) if v >> (3 - i) & 1) for v in range(16)])
            self.nibbles.append(pair)
        cells = m.format_cells()
        self.format_area = sum(1 << (y * size + x) for x, y, _ in cells)
        self.flips, self.formats = [], []
        for mask in range(8):
            pattern = _mask_pattern(size, mask)
            self.flips.append(sum((p << (y * size)) for y, p in enumerate(pattern)) & data_big)
            bits = _format_bits(mask)
            self.formats.append(sum(1 << (y * size + x) for x, y, i in cells if bits >> i & 1))
        self.row_mask = (1 << size) - 1
        self.padded = None  # the per-mask values in the padded layout of the penalty rules, made on first use

    def symbol(self, codewords: bytes) -> int:
        value = self.base
        for (high, low), cw in zip(self.nibbles, codewords):
            value |= high[cw >> 4] | low[cw & 15]
        return value

    def masked_value(self, symbol: int, mask: int) -> int:
        return ((symbol ^ self.flips[mask]) & ~self.format_area) | self.formats[mask]

    def best_mask(self, symbol: int) -> int:
        """The masked symbol with the lowest penalty (the first on a tie), as ISO/IEC 18004 chooses."""
        if self.padded is None:
            size = self.size
            self.padded = ([_pad(f, size) for f in self.flips], ~_pad(self.format_area, size),
                           [_pad(f, size) for f in self.formats])
        flips, keep, formats = self.padded
        symbol_p = _pad(symbol, self.size)
        best = None
        for mask in range(8):
            value = self.masked_value(symbol, mask)
            score = _penalty_value(value, self.size, ((symbol_p ^ flips[mask]) & keep) | formats[mask])
            if best is None or score < best[0]:
                best = (score, value)
        return best[1]

    def rows(self, value: int) -> list[int]:
        size, row_mask = self.size, self.row_mask
        return [value >> (y * size) & row_mask for y in range(size)]

    def masked(self, symbol: int, mask: int) -> list[int]:
        return self.rows(self.masked_value(symbol, mask))


def _layout(version: int) -> _Layout:
    layout = _LAYOUTS.get(version)
    if layout is None:
        layout = _LAYOUTS[version] = _Layout(version)
    return layout


def qr_rows(text: str, mask: int | None = None) -> tuple[list[int], int]:
    """The symbol as one int per row (bit x = column x, dark = 1), and its size."""
    version, codewords = _codewords(text)
    layout = _layout(version)
    symbol = layout.symbol(codewords)
    if mask is not None:
        return layout.masked(symbol, mask), layout.size
    return layout.rows(layout.best_mask(symbol)), layout.size


def qr_matrix(text: str, mask: int | None = None) -> list[list[bool]]:
    """The module matrix (True = dark) of ``text`` at error correction M; the best mask unless given."""
    rows, size = qr_rows(text, mask)
    return _to_lists(rows, size)


# ---------------------------------------------------------------- PNG


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


_EXPAND: dict = {}


def _expansion(scale: int) -> list[int]:
    """For every byte of 8 modules (bit 0 = leftmost), its 8 * scale pixels with dark = 1, leftmost first."""
    table = _EXPAND.get(scale)
    if table is None:
        module = (1 << scale) - 1
        table = []
        for b in range(256):
            v = 0
            for i in range(8):
                v = (v << scale) | (module if b >> i & 1 else 0)
            table.append(v)
        _EXPAND[scale] = table
    return table


def png_from_rows(rows: list[int], size: int, scale: int = 10, border: int = 4) -> bytes:
    n = size + 2 * border
    width = n * scale
    nbytes = (width + 7) // 8
    pad = nbytes * 8 - width
    light = (1 << (nbytes * 8)) - 1
    # Each pixel row of a module row after its first repeats the one above: PNG filter 2 ("Up") turns
    # those into zeros, which compress at once.
    same = b"\x02" + bytes(nbytes)
    blank = b"\x00" + light.to_bytes(nbytes, "big") + same * (scale * border - 1)
    table = _expansion(scale)
    groups = (size + 7) // 8
    tail = groups * 8 - size
    shift = (border * scale + pad) - tail * scale
    raw = bytearray(blank)
    for r in rows:
        dark = 0
        for g in range(groups):  # 8 modules at a time, left to right
            dark = (dark << (8 * scale)) | table[(r >> (8 * g)) & 0xFF]
        dark = dark << shift if shift >= 0 else dark >> -shift
        raw += b"\x00" + (light ^ dark).to_bytes(nbytes, "big") + same * (scale - 1)
    raw += blank
    header = struct.pack(">IIBBBBB", width, width, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", zlib.compress(bytes(raw), 1)) + _chunk(
        b"IEND", b"")


# The mask the penalty rules choose most often for onboarding payloads (version 2): batches use it for
# every device instead of scoring all eight (any mask decodes; the choice only tunes readability).
BATCH_MASK = 6


def qr_png(payload: str, scale: int = 10, border: int = 4, mask: int | None = None) -> bytes:
    """A PNG of ``payload`` with error correction M, 10 pixels per module and a 4-module quiet zone;
    the mask with the lowest penalty unless ``mask`` is given."""
    try:
        rows, size = qr_rows(payload, mask)
    except ValueError:
        import segno

        buf = io.BytesIO()
        segno.make_qr(payload, error="m", boost_error=False).save(buf, kind="png", scale=scale, border=border)
        return buf.getvalue()
    return png_from_rows(rows, size, scale, border)
