"""Matter TLV encoder/decoder (spec/crypto.md §5) with the spec's byte examples and round trips."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from matter_factory_data.codes import tlv
from matter_factory_data.errors import InvalidInput


@pytest.mark.parametrize("tag,value,hex_", [
    (None, tlv.Structure(), "1518"),
    (2, tlv.Array(), "3602" "18"),
    (4, "ZIG20141ZB330001-24", "2c0413" + b"ZIG20141ZB330001-24".hex()),
    (0, bytes(18), "300012" + "00" * 18),
    (0x83, tlv.Signed(12), "20830c"),
    (0, 1, "240001"),
    (1, 0xFFF1, "2501f1ff"),
    (None, 0x8000, "050080"),
    (3, 0x16, "240316"),
    (3, 0x1234, "25033412"),
    (None, 0x100000000, "070000000001000000"),
    (None, -1, "00ff"),
    (None, -200, "0138ff"),
    (None, True, "09"),
    (None, False, "08"),
    (None, None, "14"),
    (("common", 5), 1, "44050001"),
    (("implicit", 0x10000), 1, "a40000010001"),
    ((0xFFF1, 0xDEED, 1), 7, "c4f1ffedde010007"),
])
def test_encode_examples(tag, value, hex_):
    assert tlv.encode(value, tag).hex() == hex_
    assert tlv.decode(bytes.fromhex(hex_)) == (tag, value)


def test_qr_optional_data_vector():
    data = bytes.fromhex("152c82066d794461746120830c2c000931323334353637383918")
    tag, s = tlv.decode(data)
    assert tag is None and isinstance(s, tlv.Structure)
    assert s.items == [(0x82, "myData"), (0x83, 12), (0x00, "123456789")]
    rebuilt = tlv.Structure([(0x82, "myData"), (0x83, tlv.Signed(12)), (0x00, "123456789")])
    assert tlv.encode(rebuilt) == data


@pytest.mark.parametrize("hex_,fragment", [
    ("15", "truncated"),
    ("2c0413414243", "truncated"),
    ("1f", "unknown element type"),
    ("18", "unexpected end-of-container"),
    ("240001ff", "trailing bytes"),
    ("16240118", "array element with a tag"),
    ("0c02c328", "invalid UTF-8"),
])
def test_decoder_rejects(hex_, fragment):
    with pytest.raises(InvalidInput, match=fragment):
        tlv.decode(bytes.fromhex(hex_))


values = st.recursive(
    st.one_of(st.integers(0, 2**64 - 1), st.integers(-(2**63), -1).map(tlv.Signed), st.booleans(), st.none(),
              st.text(max_size=300), st.binary(max_size=300), st.floats(allow_nan=False)),
    lambda inner: st.one_of(
        st.lists(inner, max_size=4).map(lambda xs: tlv.Array([(None, x) for x in xs])),
        st.lists(st.tuples(st.integers(0, 255), inner), max_size=4).map(tlv.Structure),
    ),
    max_leaves=12,
)


@given(values)
def test_roundtrip(value):
    data = tlv.encode(value, None)
    assert tlv.decode(data) == (None, value)
