"""Per-device values derived from one run key and the device's index.

A run (a batch, an ``esp32`` drop-in run) keeps one 32-byte key; every value that differs between devices
comes from it and the device number, so a run killed at any point and run again makes exactly the devices
an uninterrupted run would have made:
  * HKDF-Expand (RFC 5869) for salts, rotating device ID unique IDs, DAC keys and serial prefixes;
  * small keyed permutations for passcodes and discriminators, so they are unique within a run.
"""

from __future__ import annotations

import hashlib
import hmac

from ..crypto import spake2p

P256_ORDER = spake2p.P256_ORDER
_INVALID_SORTED = sorted(p for p in spake2p.INVALID_PASSCODES if 1 <= p <= spake2p.MAX_PASSCODE)
PASSCODE_DOMAIN = spake2p.MAX_PASSCODE - len(_INVALID_SORTED)  # how many valid passcodes there are


class Keyed:
    """HKDF-Expand (RFC 5869) and small keyed permutations from one 32-byte batch key."""

    def __init__(self, key: bytes):
        self.prk = hmac.new(b"matter-factory-data batch", key, hashlib.sha256).digest()
        self._round_keys: dict = {}

    def derive(self, label: str, index: int, length: int) -> bytes:
        info = f"{label}:{index}".encode()
        out, block, counter = b"", b"", 1
        while len(out) < length:
            block = hmac.digest(self.prk, block + info + bytes([counter]), "sha256")
            out += block
            counter += 1
        return out[:length]

    def permute(self, label: str, value: int, domain: int) -> int:
        """A keyed permutation of range(domain): a 4-round Feistel network (keyed BLAKE2s round function)
        with cycle walking."""
        bits = max(2, (domain - 1).bit_length())
        half = (bits + 1) // 2
        mask = (1 << half) - 1
        rounds = self._round_keys.get(label)
        if rounds is None:  # the keyed round functions, keyed once (a copy costs less than keying again)
            key = self.derive(label, -1, 32)
            rounds = self._round_keys[label] = [hashlib.blake2s(digest_size=8, key=key, person=bytes([r]))
                                                for r in range(4)]
        x = value
        while True:
            left, right = x >> half, x & mask
            for keyed in rounds:
                h = keyed.copy()
                h.update(right.to_bytes(8, "big"))
                left, right = right, left ^ (int.from_bytes(h.digest(), "big") & mask)
            x = (left << half) | right
            if x < domain:
                return x


def passcode_from_rank(rank: int) -> int:
    """The rank-th valid passcode (0-based) in increasing order."""
    value = rank + 1
    for bad in _INVALID_SORTED:
        if value >= bad:
            value += 1
    return value
