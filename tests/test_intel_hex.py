"""The batch's fast Intel HEX writer against intelhex's write_hex_file (the plain path, and the nRF Connect
reference script's writer)."""

import io

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from intelhex import IntelHex

from matter_factory_data.errors import InvalidInput
from matter_factory_data.formats import nrfconnect


def intelhex_text(image: bytes, offset: int) -> bytes:
    ih = IntelHex()
    ih.frombytes(image, offset=offset)
    out = io.StringIO()
    ih.write_hex_file(out, write_start_addr=False)
    return out.getvalue().encode("ascii")


@settings(max_examples=300, deadline=None)
@given(image=st.binary(min_size=1, max_size=3000),
       offset=st.one_of(st.integers(0, 0x3FFFF), st.integers(0xFFFF0000, 0xFFFFF000),
                        st.sampled_from([0, 0xFB000, 0xFF000, 0xFFFF0, 0x10000 - 1400, 0x1FFF8])))
def test_same_text_as_intelhex(image, offset):
    assert nrfconnect.to_intel_hex_fast(image, offset) == intelhex_text(image, offset) \
        == nrfconnect.to_intel_hex(image, offset)


@pytest.mark.parametrize("length", [1, 15, 16, 17, 255 * 16, 4096 + 7, 70000])
@pytest.mark.parametrize("offset", [0, 0xFB000, 0xFFFF0, 0x10000 - 16])
def test_same_text_as_intelhex_at_record_and_segment_edges(length, offset):
    image = bytes((i * 7 + 3) & 0xFF for i in range(length))  # every byte value, sums that wrap
    assert nrfconnect.to_intel_hex_fast(image, offset) == intelhex_text(image, offset)


def test_all_ff_records_checksums_wrap():
    image = b"\xff" * 64
    lines = nrfconnect.to_intel_hex_fast(image, 0xFB000).decode().splitlines()
    assert lines[0] == ":02000004000FEB"
    assert lines[1] == ":10B00000" + "FF" * 16 + "50"
    assert lines[-1] == ":00000001FF"


def test_image_beyond_32_bit_addresses_is_refused():
    with pytest.raises(InvalidInput, match="does not fit 32-bit addresses"):
        nrfconnect.to_intel_hex_fast(b"\x00" * 32, 0xFFFFFFF0)
