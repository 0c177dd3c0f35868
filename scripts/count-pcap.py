#!/usr/bin/env python3
"""Independent counts of a capture, for checking dnshunt's pcap reader.

Written apart from the Rust reader and sharing nothing with it (standard library only): walks
pcap or pcapng blocks, Ethernet (with VLAN tags) or Linux cooked v1 link layers, IPv4/IPv6, and
counts packets, DNS messages on UDP ports 53/5353/5355 by their QR bit (and their bytes), and
TCP packets with SYN set and ACK clear (connection starts).

    scripts/count-pcap.py FILE...
"""
import struct
import sys

DNS_PORTS = {53, 5353, 5355}


def packets(data):
    """Yields (linktype, frame) for every packet of a pcap or pcapng capture."""
    magic = data[:4]
    if magic == b"\x0a\x0d\x0d\x0a":
        pos, links, endian = 0, [], "<"
        while pos + 12 <= len(data):
            btype = struct.unpack_from(endian + "I", data, pos)[0]
            if btype == 0x0A0D0D0A:
                endian = "<" if data[pos + 8 : pos + 12] == b"\x4d\x3c\x2b\x1a" else ">"
                links = []
            blen = struct.unpack_from(endian + "I", data, pos + 4)[0]
            if blen < 12:
                break
            body = data[pos + 8 : pos + blen - 4]
            if btype == 1:
                links.append(struct.unpack_from(endian + "H", body, 0)[0])
            elif btype == 6:
                iface, _, _, caplen = struct.unpack_from(endian + "IIII", body, 0)
                yield links[iface], body[20 : 20 + caplen]
            elif btype == 3:
                yield links[0], body[4:]
            pos += blen
        return
    endian = "<" if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1") else ">"
    link = struct.unpack_from(endian + "I", data, 20)[0]
    pos = 24
    while pos + 16 <= len(data):
        caplen = struct.unpack_from(endian + "I", data, pos + 8)[0]
        yield link, data[pos + 16 : pos + 16 + caplen]
        pos += 16 + caplen


def network(link, frame):
    """(ethertype, payload) of a frame."""
    if link == 1:
        etype, off = struct.unpack_from(">H", frame, 12)[0], 14
        while etype in (0x8100, 0x88A8):
            etype, off = struct.unpack_from(">H", frame, off + 2)[0], off + 4
        return etype, frame[off:]
    if link == 113:
        return struct.unpack_from(">H", frame, 14)[0], frame[16:]
    return None, b""


def main():
    for path in sys.argv[1:]:
        with open(path, "rb") as f:
            data = f.read()
        counts = dict(packets=0, ip=0, dns_q=0, dns_r=0, dns_q_bytes=0, dns_r_bytes=0, syn=0)
        for link, frame in packets(data):
            counts["packets"] += 1
            etype, ip = network(link, frame)
            if etype == 0x0800 and len(ip) >= 20:
                proto, ihl = ip[9], (ip[0] & 0xF) * 4
                l4 = ip[ihl:]
            elif etype == 0x86DD and len(ip) >= 40:
                proto, l4 = ip[6], ip[40:]
            else:
                continue
            counts["ip"] += 1
            if proto == 17 and len(l4) >= 8:
                sport, dport = struct.unpack_from(">HH", l4, 0)
                if (sport in DNS_PORTS or dport in DNS_PORTS) and len(l4) >= 8 + 12:
                    kind = "dns_r" if l4[8 + 2] & 0x80 else "dns_q"
                    counts[kind] += 1
                    counts[kind + "_bytes"] += struct.unpack_from(">H", l4, 4)[0] - 8
            elif proto == 6 and len(l4) >= 14:
                flags = l4[13]
                if flags & 0x02 and not flags & 0x10:
                    counts["syn"] += 1
        print(path, " ".join(f"{k}={v}" for k, v in counts.items()))


if __name__ == "__main__":
    main()
