"""An emulated full-NAT Layer-4 load balancer for the end-to-end tests (runs inside the lab's LB namespace).

It sniffs frames on its client-side and server-side veth with AF_PACKET raw sockets, and for each virtual port
rewrites client -> VIP:vport into SNAT:lport -> server:port (full NAT: the server sees the balancer, not the
client), inserting a TOA option right after the fixed TCP header on the chosen packets (``syn``, ``ack`` = the
handshake-completing ACK, ``data`` = the first data segment), then fixes lengths and checksums. Replies are mapped
back. The LB namespace's kernel owns no address on these veths (IPv4 forwarding off, IPv6 disabled), so it drops
what it sees and only this process forwards. ``"snat": false`` keeps the client's source (a client forging TOA).

``"forge"`` makes the balancer's own address and port forge a TOA naming ``FORGED`` right after the handshake ACK,
as the capture-mode reviews did: ``out_of_window`` (a sequence number 100000 ahead), ``bad_checksum`` (every field
right but the checksum), ``override`` (a duplicate of the ACK: in window, checksum right) and ``syn_on_live`` (a
SYN with a new sequence number, then the ACK that would follow it, both carrying the forged option).

    python lab_lb.py CONFIG.json     # prints "ready" once both sockets are bound
"""

from __future__ import annotations

import ipaddress
import json
import select
import socket
import struct
import sys
from typing import Any

ETH_P_ALL, ETH_P_IP, ETH_P_IPV6 = 0x0003, 0x0800, 0x86DD
PACKET_OUTGOING = 4
SYN, ACK, RST = 0x02, 0x10, 0x04
FORGED = "192.0.2.66"


def checksum(data: bytes) -> int:
    """The Internet checksum (RFC 1071) of ``data``."""
    if len(data) % 2:
        data += b"\0"
    total: int = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def build(version: int, src: bytes, dst: bytes, ip_rest: tuple[int, ...], tcp: bytes, ttl_hop: int) -> bytes:
    """An IPv4 (no options) or IPv6 packet around ``tcp`` with a correct TCP checksum."""
    tcp = tcp[:16] + b"\0\0" + tcp[18:]
    if version == 4:
        pseudo = src + dst + struct.pack("!BBH", 0, 6, len(tcp))
        tcp = tcp[:16] + struct.pack("!H", checksum(pseudo + tcp)) + tcp[18:]
        tos, ident, frag = ip_rest
        header = struct.pack("!BBHHHBBH4s4s", 0x45, tos, 20 + len(tcp), ident, frag, ttl_hop, 6, 0, src, dst)
        header = header[:10] + struct.pack("!H", checksum(header)) + header[12:]
        return header + tcp
    pseudo = src + dst + struct.pack("!IxxxB", len(tcp), 6)
    tcp = tcp[:16] + struct.pack("!H", checksum(pseudo + tcp)) + tcp[18:]
    (flow,) = ip_rest
    return struct.pack("!IHBB16s16s", flow, len(tcp), 6, ttl_hop, src, dst) + tcp


def insert_option(tcp: bytes, option: bytes) -> bytes:
    """``tcp`` with ``option`` inserted after the fixed header (unchanged if the option space is full)."""
    doff = (tcp[12] >> 4) * 4
    if doff + len(option) > 60:
        return tcp
    new_doff = (doff + len(option)) // 4
    return tcp[:12] + bytes([(new_doff << 4) | (tcp[12] & 0x0F)]) + tcp[13:20] + option + tcp[20:]


class Balancer:
    """Full NAT for the configured virtual ports, plus TOA insertion."""

    def __init__(self, config: dict[str, Any]) -> None:
        self.config = config
        self.client_if, self.server_if = config["client_if"], config["server_if"]
        self.macs = {k: bytes.fromhex(v.replace(":", "")) for k, v in config["macs"].items()}
        self.vips = {4: ipaddress.ip_address(config["vip4"]).packed, 6: ipaddress.ip_address(config["vip6"]).packed}
        self.snat = {4: ipaddress.ip_address(config["snat4"]).packed, 6: ipaddress.ip_address(config["snat6"]).packed}
        self.servers = {
            4: ipaddress.ip_address(config["server4"]).packed,
            6: ipaddress.ip_address(config["server6"]).packed,
        }
        self.rules = {int(port): rule for port, rule in config["rules"].items()}
        self.next_port = 41000
        self.forward: dict[
            tuple[object, ...], dict[str, Any]
        ] = {}  # (version, client ip, client port, vport) -> connection
        self.backward: dict[
            tuple[object, ...], dict[str, Any]
        ] = {}  # (version, src-as-server-sees, sport, server port) -> connection
        self.socks: dict[str, socket.socket] = {}
        for name in (self.client_if, self.server_if):
            sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
            sock.bind((name, ETH_P_ALL))
            self.socks[name] = sock

    def run(self) -> None:
        print("ready", flush=True)
        by_fd = {sock.fileno(): name for name, sock in self.socks.items()}
        while True:
            readable, _, _ = select.select(list(self.socks.values()), [], [])
            for sock in readable:
                frame, address = sock.recvfrom(65535)
                if address[2] == PACKET_OUTGOING:
                    continue
                name = by_fd[sock.fileno()]
                try:
                    if name == self.client_if:
                        self.from_client(frame)
                    else:
                        self.from_server(frame)
                except (struct.error, IndexError, KeyError, ValueError) as exc:
                    print(f"skipped a frame: {exc!r}", flush=True)

    @staticmethod
    def split(frame: bytes) -> tuple[int, bytes, bytes, tuple[int, ...], bytes, int] | None:
        """``(version, src, dst, ip_rest, tcp, ttl)`` of a plain IPv4/IPv6 TCP frame, else ``None``."""
        ethertype = struct.unpack("!H", frame[12:14])[0]
        packet = frame[14:]
        if ethertype == ETH_P_IP and packet[9] == 6:
            ihl = (packet[0] & 0x0F) * 4
            total = struct.unpack("!H", packet[2:4])[0]
            rest: tuple[int, ...] = (
                packet[1],
                struct.unpack("!H", packet[4:6])[0],
                struct.unpack("!H", packet[6:8])[0],
            )
            return 4, packet[12:16], packet[16:20], rest, packet[ihl:total], packet[8]
        if ethertype == ETH_P_IPV6 and packet[6] == 6:
            length = struct.unpack("!H", packet[4:6])[0]
            rest = (struct.unpack("!I", packet[0:4])[0],)
            return 6, packet[8:24], packet[24:40], rest, packet[40 : 40 + length], packet[7]
        return None

    def send(self, name: str, version: int, packet: bytes) -> None:
        dst_mac, src_mac = (
            (self.macs["client"], self.macs["lb_client"])
            if name == self.client_if
            else (self.macs["server"], self.macs["lb_server"])
        )
        ethertype = ETH_P_IP if version == 4 else ETH_P_IPV6
        self.socks[name].send(dst_mac + src_mac + struct.pack("!H", ethertype) + packet)

    def from_client(self, frame: bytes) -> None:
        parts = self.split(frame)
        if parts is None:
            return
        version, src, dst, rest, tcp, ttl = parts
        sport, dport = struct.unpack("!HH", tcp[:4])
        flags = tcp[13]
        rule = self.rules.get(dport)
        if dst != self.vips[version] or rule is None:
            return
        key = (version, src, sport, dport)
        conn = self.forward.get(key)
        if flags & SYN and not flags & ACK:
            if conn is not None:
                self.backward.pop(conn["back"], None)
            snat = rule.get("snat", True)
            lport = self.next_port if snat else sport
            self.next_port = 41000 + (self.next_port - 41000 + 1) % 20000
            conn = {
                "client": src,
                "cport": sport,
                "vport": dport,
                "rule": rule,
                "acked": False,
                "data": False,
                "nat_src": self.snat[version] if snat else src,
                "nat_port": lport,
            }
            conn["back"] = (version, conn["nat_src"], lport, rule["server_port"])
            self.forward[key] = conn
            self.backward[conn["back"]] = conn
        if conn is None:
            return
        where = rule.get("where", ["ack"])
        stage = None
        if flags & SYN:
            stage = "syn"
        elif flags & ACK and not conn["acked"] and not flags & RST:
            conn["acked"] = True
            stage = "ack"
        payload_len = len(tcp) - (tcp[12] >> 4) * 4
        if payload_len > 0 and not conn["data"]:
            conn["data"] = True
            stage = stage if stage in where else "data"
        plain = tcp
        if stage in where and rule.get("kind"):
            address = ipaddress.ip_address(rule.get("claim") or ipaddress.ip_address(src).compressed).packed
            claimed_port = rule.get("claim_port", sport)
            option = bytes([rule["kind"], 4 + len(address)]) + struct.pack("!H", claimed_port) + address
            tcp = insert_option(tcp, option)
        tcp = struct.pack("!HH", conn["nat_port"], rule["server_port"]) + tcp[4:]
        self.send(self.server_if, version, build(version, conn["nat_src"], self.servers[version], rest, tcp, ttl))
        if stage == "ack" and rule.get("forge"):
            self.forge(conn, version, rest, ttl, plain, rule["forge"])

    def forge(self, conn: dict[str, Any], version: int, rest: tuple[int, ...], ttl: int, ack: bytes, how: str) -> None:
        """Send, from the balancer's own address and port, segments whose TOA names FORGED (see the docstring)."""
        address = ipaddress.ip_address(FORGED).packed
        option = bytes([254, 8]) + struct.pack("!H", 6666) + address
        if version == 6:
            address = ipaddress.ip_address("::ffff:" + FORGED).packed
            option = bytes([254, 20]) + struct.pack("!H", 6666) + address
        ports = struct.pack("!HH", conn["nat_port"], conn["rule"]["server_port"])
        seq = struct.unpack("!I", ack[4:8])[0]
        segments = []
        if how == "out_of_window":
            segments.append(ports + struct.pack("!I", (seq + 100000) & 0xFFFFFFFF) + insert_option(ack, option)[8:])
        elif how in ("bad_checksum", "override"):
            segments.append(ports + insert_option(ack, option)[4:])
        elif how == "syn_on_live":
            isn = (seq + 0x40000000) & 0xFFFFFFFF
            syn = ack[:4] + struct.pack("!II", isn, 0) + ack[12:13] + bytes([SYN]) + ack[14:]
            segments.append(ports + insert_option(syn, option)[4:])
            follow = ack[:4] + struct.pack("!I", (isn + 1) & 0xFFFFFFFF) + ack[8:]
            segments.append(ports + insert_option(follow, option)[4:])
        for segment in segments:
            packet = bytearray(build(version, conn["nat_src"], self.servers[version], rest, segment, ttl))
            if how == "bad_checksum":
                at = (20 if version == 4 else 40) + 16
                packet[at] ^= 0x5A
            self.send(self.server_if, version, bytes(packet))

    def from_server(self, frame: bytes) -> None:
        parts = self.split(frame)
        if parts is None:
            return
        version, src, dst, rest, tcp, ttl = parts
        sport, dport = struct.unpack("!HH", tcp[:4])
        conn = self.backward.get((version, dst, dport, sport))
        if conn is None or src != self.servers[version]:
            return
        tcp = struct.pack("!HH", conn["vport"], conn["cport"]) + tcp[4:]
        self.send(self.client_if, version, build(version, self.vips[version], conn["client"], rest, tcp, ttl))


if __name__ == "__main__":
    with open(sys.argv[1], encoding="utf-8") as handle:
        Balancer(json.load(handle)).run()
