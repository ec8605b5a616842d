"""QR code images for onboarding payloads (PNG)."""

from __future__ import annotations

import io


def qr_png(payload: str, scale: int = 10, border: int = 4) -> bytes:
    """A PNG of ``payload`` with error correction M (as the reference writes it)."""
    import segno

    code = segno.make_qr(payload, error="m", boost_error=False)
    buf = io.BytesIO()
    code.save(buf, kind="png", scale=scale, border=border)
    return buf.getvalue()
