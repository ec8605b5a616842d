"""SPAKE2+ verifier known answers (spec/crypto.md §1.4), with their provenance labels."""

import base64

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from matter_factory_data.crypto import spake2p
from matter_factory_data.errors import InvalidInput

SALT = b"SPAKE2P Key Salt"


def test_primary_vector_intermediates_U():
    ws = spake2p.compute_ws(20202021, SALT, 1000)
    assert ws.hex() == (
        "aba60c30416b8f4177f5e16ad514cfd9577513f02fd60506b1049d0f2c7310010e5e40bfd86b4ef681a88b71e9e2a853"
        "985a7def916ea30e01b8722fbf7d0e38856c12cd64c225bb24ef21417e0e44e5"
    )
    w0, w1 = spake2p.w0_w1(ws)
    assert int.from_bytes(ws[:40], "big") > spake2p.P256_ORDER  # the reduction matters
    assert f"{w0:064x}" == "b96170aae803346884724fe9a3b287c30330c2a660375d17bb205a8cf1aecb35"
    assert f"{w1:064x}" == "823d264225e36f4923b43ad64f8c862a30f4a129bbf9ee8074a32d6d67586a90"
    assert spake2p.point_from_scalar(w1).hex() == (
        "0457f8ab79ee253ab6a8e46bb09e543ae422736de501e3db37d441fe344920d09548e4c18240630c4ff4913c53513839b7"
        "c07fcc0627a1b8573a149fcd1fa466cf"
    )


@pytest.mark.parametrize(
    "label,passcode,salt_b64,it,verifier_b64",
    [
        ("U", 20202021, "U1BBS0UyUCBLZXkgU2FsdA==", 1000,
         "uWFwqugDNGiEck/po7KHwwMwwqZgN10XuyBajPGuyzUEV/iree4lOrao5GuwnlQ65CJzbeUB49s31EH+NEkg0JVI5MGCQGMMT/SRPFNRODm3wH/MBiehuFc6FJ/NH6Rmzw=="),
        ("nrf-V2000", 13243546, "U1BBS0UyUCBLZXkgU2FsdA==", 2000,
         "WN0SgEXLfUN19BbJqp6qn4pS69EtdNLReIMZwv/CIM0ECMP7ytiAJ7txIYJ0Ovlha/rQ3E+88mj3qaqqnviMaZzG+OyXEdSocDIT9ZhmkTCgWwERaHz4Vdh3G37RT6kqbw=="),
        ("P", 62034001, "U1BBS0UyUCBLZXkgU2FsdA==", 1500,
         "EBoBESpGG+XUOhcw8DXk4+4C7jQ8KQI5ZtrA7BEIZz4EDK2I6QnVVInxr1VfGIa2ht3VIIj1gs/ZPUZ57GZuVcf2x0KN0gjM0GBj0mzvzoYAV0Dxo8RcL3Dxuo93icG6Qw=="),
        ("P", 20252026, "TXkgVGVzdCBLZXkgU2FsdA==", 1000,
         "oR8ZbQYBMQs3iVt32T2l+6N9au2UimU8CmiGLZSL0LkEvaTYL9rVtjuA7oTNH2NpKDlL+4581tSzhe1+Q4IpNlZcdCPINUo9UpdoDEeAYphTuP6nDXPqAK4Doz1H9gua+w=="),
        ("P", 87878787, "UmFmYWVsTWljcm8gTWF0dGVyIFJUNTh4", 1234,
         "YvdRY7tNGx8WY/eQix/HKJ/NEAqVs2TqcTtGG+BGqvMEIxFGgTFRPx4jZItAhbl9FyA4U6cnwNNCtrDEZD7PlQuqNQeKPuacusD1ghKnKiAmOEMqJqYtVSEDG8KJRBm5RQ=="),
        ("C", 1, "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=", 100000,
         "0Ds/bFb47amTlHVt5odZV//5o31Aiy0iH84eRm6JFHUEIaTLw0XGIE1xDAHqMy53y2TfE2ENlM7h/vT12oYHul86te55dIR7oXmqMWetKA6wMx2J2CSe1cfjxRi2IOrhtQ=="),
        ("C", 99999998, "AAAAAAAAAAAAAAAAAAAAAA==", 1000,
         "L2aSV2KZKcqSOUFix6cIHoSQsSiCBV01qJp1tjQEZGIEqoQOEkjZpGCYn8Go1cd7kTFf26jpqutR2PAcXl7FaaB1nasvtAtziuCfOaADBdQSZ8+Y7Fn1A6XrOXaDsE3NwQ=="),
        ("C", 62034001, "95834coRGvFhCB69IdmJyr5qYIzFgSirw6Ja7g5ySYA=", 15000,
         "+0V21ZrsDkC0LSGvgqU9ZshIp0cvLLvuYIJxCmwGIZQEU0u4w/Uur9hV2EZcQtSJgA0OS2yznKYAxFruDjMm5v3jOcvXll0TE/mILeCiUGWpk4WqvJihFequs83FtAbq4Q=="),
    ],
)
def test_verifier_vectors(label, passcode, salt_b64, it, verifier_b64):
    v = spake2p.generate_verifier(passcode, base64.b64decode(salt_b64), it)
    assert len(v) == 97
    assert base64.b64encode(v).decode() == verifier_b64
    spake2p.check_verifier_format(v)
    assert spake2p.verifier_matches(v, passcode, base64.b64decode(salt_b64), it)
    other = passcode + 1 if passcode < 99999998 else passcode - 1
    assert not spake2p.verifier_matches(v, other, base64.b64decode(salt_b64), it)


@pytest.mark.parametrize(
    "kwargs,fragment",
    [
        ({"iterations": 999}, "999 is out of range"),
        ({"iterations": 100001}, "100001 is out of range"),
        ({"salt": b"x" * 15}, "16..32 bytes, got 15"),
        ({"salt": b"x" * 33}, "16..32 bytes, got 33"),
        ({"passcode": 0}, "out of range"),
        ({"passcode": 11111111}, "not allowed"),
        ({"passcode": 12345678}, "not allowed"),
        ({"passcode": 87654321}, "not allowed"),
        ({"passcode": 99999999}, "out of range"),
        ({"passcode": 100000000}, "out of range"),
    ],
)
def test_negative_cases(kwargs, fragment):
    args = {"passcode": 20202021, "salt": SALT, "iterations": 1000, **kwargs}
    with pytest.raises(InvalidInput) as e:
        spake2p.generate_verifier(args["passcode"], args["salt"], args["iterations"])
    assert fragment in str(e.value)


def test_verifier_format_rejects_bad_point():
    v = bytearray(base64.b64decode(
        "uWFwqugDNGiEck/po7KHwwMwwqZgN10XuyBajPGuyzUEV/iree4lOrao5GuwnlQ65CJzbeUB49s31EH+NEkg0JVI5MGCQGMMT/SRPFNRODm3wH/MBiehuFc6FJ/NH6Rmzw=="))
    v[-1] ^= 1
    with pytest.raises(InvalidInput, match="not a valid uncompressed P-256 point"):
        spake2p.check_verifier_format(bytes(v))
    with pytest.raises(InvalidInput, match="must be 97 bytes"):
        spake2p.check_verifier_format(bytes(v[:80]))


def test_random_passcodes_are_valid():
    for _ in range(2000):
        assert spake2p.is_valid_passcode(spake2p.random_passcode())


@settings(max_examples=200, deadline=None)
@given(passcode=st.integers(1, spake2p.MAX_PASSCODE), salt=st.binary(min_size=16, max_size=32),
       iterations=st.integers(spake2p.MIN_ITERATIONS, 1200))
def test_ws_is_hashlib_pbkdf2(passcode, salt, iterations):
    """compute_ws runs PBKDF2 through cryptography's OpenSSL for speed; the bytes are Python's PBKDF2's."""
    import hashlib

    assert spake2p.compute_ws(passcode, salt, iterations) == hashlib.pbkdf2_hmac(
        "sha256", passcode.to_bytes(4, "little"), salt, iterations, 80)
