"""Types of the C parser ``realip_toa._proxy`` (the same function as ``realip_toa._proxy_pure``)."""

Buffer = bytes | bytearray | memoryview

V1_MAX: int
V2_MAX: int

def parse(data: Buffer, limit: int = ..., /) -> tuple[object, ...]: ...
