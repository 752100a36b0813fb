"""Types of the compiled kernel ``realip._kernel`` (the same methods as ``realip._walk.PureTrust``, its reference)."""

from typing import Literal

Value = str | bytes | bytearray | memoryview

#: The most entries one walk may examine.
MAX_BUDGET: int

class Trust:
    """Trusted networks as sorted, merged ranges of packed big-endian addresses: ``first, last`` pairs, 4 bytes each
    for IPv4 (``v4``) and 16 for IPv6 (``v6``), as ``realip._trust.TrustedNetworks.ranges`` packs them."""

    def __new__(cls, v4: bytes, v6: bytes) -> Trust: ...
    def entry(self, text: Value, /) -> tuple[str, int | None, bool] | None:
        """``(ip, port, trusted)`` of one address entry in canonical text, or ``None`` if it is not an address."""

    def walk(
        self, value: Value, budget: int, start_ip: str | None, /
    ) -> tuple[int, Literal["end", "untrusted", "invalid", "limit"], str | None, int | None, tuple[str, ...]]:
        """``(examined, end, ip, port, passed)`` for one header value walked from the right, on from a trusted start
        (see ``realip._walk.Step``)."""
