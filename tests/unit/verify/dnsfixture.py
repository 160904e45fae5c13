"""A tiny DNS server on 127.0.0.1 (UDP and TCP, one ephemeral port): authoritative (AA, the
zone's TTLs) or posing as a recursive cache (no AA, TTLs counted down by `age`)."""

from __future__ import annotations

import asyncio
import struct
from dataclasses import dataclass, field
from typing import Any

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.rrset

Zone = dict[tuple[str, str], list[str]]
TTL = 300


@dataclass
class DnsConfig:
    zone: Zone
    ttls: dict[tuple[str, str], int] = field(default_factory=dict)  # default: TTL
    authoritative: bool = True
    age: int = 0  # seconds a cache has held the records: subtracted from every TTL
    asked: list[tuple[str, str]] = field(default_factory=list)  # (name, type) of each query
    ad: bool = False  # pose as a validating resolver that found the answers DNSSEC-secure

    def ttl(self, key: tuple[str, str]) -> int:
        return max(0, self.ttls.get(key, TTL) - self.age)


def answer(config: DnsConfig, wire: bytes, *, udp: bool = False) -> bytes:
    query = dns.message.from_wire(wire)
    response = dns.message.make_response(query)
    flags = dns.flags.AA if config.authoritative else dns.flags.RA
    response.flags |= flags | (dns.flags.AD if config.ad else 0)
    question = query.question[0]
    name = question.name.to_text().lower()
    rdtype = dns.rdatatype.to_text(question.rdtype)
    config.asked.append((name, rdtype))
    records = config.zone.get((name, rdtype), [])
    if records:
        rrset = dns.rrset.from_text_list(question.name, config.ttl((name, rdtype)),
                                         dns.rdataclass.IN, rdtype, records)
        response.answer.append(rrset)
    elif not any(n == name for n, _ in config.zone):
        response.set_rcode(dns.rcode.NXDOMAIN)
    limit = max(512, query.payload) if udp and query.edns >= 0 else 512 if udp else 65535
    try:
        return response.to_wire(max_size=limit)
    except dns.exception.TooBig:  # too big for UDP: truncate, the client retries over TCP
        response = dns.message.make_response(query)
        response.flags |= flags | dns.flags.TC
        return response.to_wire()


class _Udp(asyncio.DatagramProtocol):
    def __init__(self, config: DnsConfig) -> None:
        self.config = config
        self.transport: Any = None

    def connection_made(self, transport: Any) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr: Any) -> None:
        self.transport.sendto(answer(self.config, data, udp=True), addr)


async def start_dns(zone: Zone | DnsConfig) -> tuple[int, list[Any]]:
    config = zone if isinstance(zone, DnsConfig) else DnsConfig(zone)
    loop = asyncio.get_running_loop()
    for _ in range(20):
        transport, _ = await loop.create_datagram_endpoint(lambda: _Udp(config),
                                                           local_addr=("127.0.0.1", 0))
        port = transport.get_extra_info("sockname")[1]

        async def tcp(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            try:
                size = struct.unpack("!H", await reader.readexactly(2))[0]
                reply = answer(config, await reader.readexactly(size))
                writer.write(struct.pack("!H", len(reply)) + reply)
                await writer.drain()
            finally:
                writer.close()

        try:
            server = await asyncio.start_server(tcp, "127.0.0.1", port)
        except OSError:
            transport.close()
            continue
        return port, [transport, server]
    raise RuntimeError("no free port for UDP and TCP")
