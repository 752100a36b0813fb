"""Types of the C parser ``realip_toa._toa`` (same functions as ``realip_toa._pure``)."""

Buffer = bytes | bytearray | memoryview

MAX_EXT_HEADERS: int

def parse_options(options: Buffer, kinds: Buffer, /) -> tuple[int, bytes, int] | None: ...
def parse_packet(
    packet: Buffer, kinds: Buffer, /
) -> tuple[int, bytes, int, bytes, int, int, tuple[int, bytes, int] | None, int, int, int] | None: ...
