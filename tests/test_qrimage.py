"""The QR encoder and PNG writer: matrices equal segno's for every mask and version 1-10; images decode.

The texts avoid a data stream that ends on a byte boundary after the terminator: there segno appends a
whole zero byte before the pad codewords (ISO/IEC 18004 7.4.10 adds none), so its matrix differs.
"""

import io

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
import segno
import zxingcpp
from PIL import Image

from matter_factory_data.codes import qrimage

# Alphanumeric payloads (what onboarding codes are) reaching every supported version.
TEXTS = ["Q" * 20, "MT:Y.K9042C00KA0648G00", "MT:-24J0AFN00KA064IJ3P0WISA0DK5N1K8SQ1RYCU1O0", "A" * 80, "B" * 110,
         "A" * 150, "C" * 171, "AB" * 100, "Z" * 240, "MT:" + "9" * 300]


@pytest.mark.parametrize("text", TEXTS)
def test_matrix_equals_segno_for_every_mask(text):
    versions = set()
    for mask in range(8):
        mine = qrimage.qr_matrix(text, mask)
        version = (len(mine) - 17) // 4
        versions.add(version)
        ref = segno.make_qr(text, error="m", mask=mask, version=version, boost_error=False)
        assert mine == [[bool(c) for c in row] for row in ref.matrix]
    assert len(versions) == 1


def test_all_versions_covered():
    assert {(len(qrimage.qr_matrix(t, 0)) - 17) // 4 for t in TEXTS} == set(range(1, 11))


@pytest.mark.parametrize("text", TEXTS + ["hello world, in byte mode", "é unicode"])
def test_png_decodes_to_the_text(text):
    png = qrimage.qr_png(text)
    img = Image.open(io.BytesIO(png))
    assert img.format == "PNG" and img.mode == "1"
    modules = len(qrimage.qr_matrix(text))
    assert img.size == ((modules + 8) * 10,) * 2
    assert [r.text for r in zxingcpp.read_barcodes(img)] == [text]


def test_too_long_falls_back_to_segno():
    text = "A" * 400  # beyond version 10 at level M
    with pytest.raises(ValueError):
        qrimage.qr_matrix(text)
    img = Image.open(io.BytesIO(qrimage.qr_png(text)))
    assert [r.text for r in zxingcpp.read_barcodes(img)] == [text]


def test_penalty_picks_the_lowest_score():
    text = "MT:Y.K9042C00KA0648G00"
    scores = [qrimage.penalty(qrimage.qr_matrix(text, m)) for m in range(8)]
    assert qrimage.qr_matrix(text) == qrimage.qr_matrix(text, scores.index(min(scores)))


@settings(max_examples=150, deadline=None)
@given(text=st.one_of(st.text(alphabet=qrimage.ALNUM, min_size=1, max_size=300),
                      st.binary(min_size=1, max_size=200).map(lambda b: b.decode("latin-1"))),
       mask=st.integers(0, 7))
def test_fast_penalty_equals_the_line_by_line_rules(text, mask):
    """The mask choice scores symbols as one big integer; it must give the string-based rules' score."""
    try:
        version, codewords = qrimage._codewords(text)
    except ValueError:
        return
    layout = qrimage._layout(version)
    value = layout.masked_value(layout.symbol(codewords), mask)
    assert qrimage._penalty_value(value, layout.size) == qrimage._penalty_rows(layout.rows(value), layout.size)
