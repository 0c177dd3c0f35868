//! Packet captures: pcap and pcapng (`pcap-parser`), link layers Ethernet (with VLAN tags),
//! Linux cooked v1 and v2, raw IP and BSD loopback, IPv4 and IPv6 (`etherparse`), DNS over
//! UDP and over TCP (length-framed, reassembled per direction in sequence order).
//!
//! A TCP connection's first packet (SYN) is a connection (`WireFlow`), so attribution can join
//! it to the process that opened it.
//!
//! Questions and responses are paired by client, server, transport and transaction id; a
//! question whose response has not come within [`PAIR_WINDOW_MS`] (or by the end of the
//! capture) becomes an exchange without a response, and a response whose question was not
//! captured one without a question's size. Memory is bounded by what is in flight: at most
//! [`MAX_PENDING`] questions waiting and [`MAX_TCP_STREAMS`] TCP streams being reassembled.

use std::collections::{HashMap, VecDeque};
use std::io::BufRead;
use std::sync::Arc;

use dnshunt_core::{DnsFlags, Endpoint, Origin, RecordType, Sensor, Timestamp, Transport, WireAnswer, WireFlow};
use etherparse::{EtherType, NetSlice, SlicedPacket, TransportSlice};
use pcap_parser::traits::{PcapNGPacketBlock, PcapReaderIterator};
use pcap_parser::{Block, LegacyPcapReader, PcapBlockOwned, PcapError, PcapNGReader};

use crate::dns::{self, Message};
use crate::exchange::{exchange_event, orient, Exchange};
use crate::{WireCounts, WireOut};

/// How long a question waits for its response.
pub const PAIR_WINDOW_MS: i64 = 30_000;
/// Questions waiting for a response, at most; past it the oldest are given up.
pub const MAX_PENDING: usize = 65_536;
/// TCP streams being reassembled, at most.
pub const MAX_TCP_STREAMS: usize = 16_384;
/// Bytes buffered per TCP stream direction (one DNS message is at most 65,537 with its length).
const MAX_TCP_BUFFER: usize = 65_537;

/// The ports DNS is read from: DNS (53), and mDNS (5353) and LLMNR (5355), which Windows
/// endpoints speak on every local network.
fn is_dns_port(port: u16) -> bool {
    matches!(port, 53 | 5353 | 5355)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct Key {
    client: Endpoint,
    server: Endpoint,
    transport: Transport,
    id: u16,
}

/// A question waiting for its response: what an exchange needs of it, nothing more.
struct Pending {
    time: Timestamp,
    packet: u64,
    id: u16,
    rd: bool,
    question: Option<dns::Question>,
    bytes: u32,
}

#[derive(Default)]
struct TcpStream {
    next_seq: Option<u32>,
    buffer: Vec<u8>,
    /// A segment went missing: message boundaries are unknown until the stream starts again.
    lost: bool,
}

/// Reads one capture to its end. Errors of the capture's framing (a damaged block header) end
/// the capture with what was read before counted and reported; damaged packets are counted
/// one by one.
pub fn read<R: BufRead>(mut reader: R, file: &Arc<str>, out: &mut dyn WireOut) {
    let mut state = State {
        file: file.clone(),
        pending: HashMap::default(),
        n_pending: 0,
        tcp: HashMap::default(),
        counts: WireCounts::default(),
        latest: Timestamp(i64::MIN),
        stopped: false,
        bad_packets: 0,
    };
    let ng = reader.fill_buf().is_ok_and(|head| head.starts_with(&[0x0a, 0x0d, 0x0d, 0x0a]));
    let opened: Result<Box<dyn PcapReaderIterator + '_>, _> = if ng {
        PcapNGReader::new(1 << 16, reader).map(|r| Box::new(r) as Box<dyn PcapReaderIterator>)
    } else {
        LegacyPcapReader::new(1 << 16, reader).map(|r| Box::new(r) as Box<dyn PcapReaderIterator>)
    };
    let mut capture = match opened {
        Ok(c) => c,
        Err(e) => {
            out.bad(Origin::record(file, 0), format!("not a readable pcap or pcapng capture: {e:?}"), 1);
            return;
        }
    };
    let mut legacy = LegacyLink { linktype: 1, nanos: false };
    let mut interfaces: Vec<Interface> = Vec::new();
    let mut packet = 0u64;
    loop {
        match capture.next() {
            Ok((offset, block)) => {
                match block {
                    PcapBlockOwned::LegacyHeader(h) => {
                        legacy = LegacyLink {
                            linktype: h.network.0,
                            nanos: h.is_nanosecond_precision(),
                        };
                    }
                    PcapBlockOwned::Legacy(b) => {
                        packet += 1;
                        let frac = if legacy.nanos { i64::from(b.ts_usec) / 1_000_000 } else { i64::from(b.ts_usec) / 1_000 };
                        let time = Timestamp(i64::from(b.ts_sec) * 1000 + frac);
                        state.packet(legacy.linktype, b.data, time, packet, out);
                    }
                    PcapBlockOwned::NG(Block::SectionHeader(_)) => interfaces.clear(),
                    PcapBlockOwned::NG(Block::InterfaceDescription(idb)) => interfaces.push(Interface {
                        linktype: idb.linktype.0,
                        resolution: idb.ts_resolution().unwrap_or(1_000_000),
                        offset: idb.if_tsoffset,
                    }),
                    PcapBlockOwned::NG(Block::EnhancedPacket(epb)) => {
                        packet += 1;
                        let iface = interfaces.get(epb.if_id as usize).copied().unwrap_or_default();
                        let ticks = (u64::from(epb.ts_high) << 32) | u64::from(epb.ts_low);
                        let millis = i64::try_from(u128::from(ticks) * 1000 / u128::from(iface.resolution.max(1))).unwrap_or(i64::MAX);
                        let time = Timestamp(clamp_ms(millis.saturating_add(iface.offset.saturating_mul(1000))));
                        state.packet(iface.linktype, epb.packet_data(), time, packet, out);
                    }
                    PcapBlockOwned::NG(Block::SimplePacket(spb)) => {
                        packet += 1;
                        let iface = interfaces.first().copied().unwrap_or_default();
                        // A simple packet block has no time: the latest seen stands in for it.
                        let time = if state.latest.0 == i64::MIN { Timestamp(0) } else { state.latest };
                        state.packet(iface.linktype, spb.packet_data(), time, packet, out);
                    }
                    _ => {}
                }
                capture.consume(offset);
                if state.stopped {
                    return;
                }
            }
            Err(PcapError::Eof) => break,
            Err(PcapError::Incomplete(_)) => {
                if let Err(e) = capture.refill() {
                    out.bad(Origin::record(file, packet + 1), format!("the capture ends inside a block ({e:?}); the rest is lost"), 1);
                    break;
                }
            }
            Err(e) => {
                out.bad(
                    Origin::record(file, packet + 1),
                    format!("damaged capture block after packet {packet} ({e:?}); the rest of the capture is lost"),
                    1,
                );
                break;
            }
        }
    }
    state.flush_all(out);
    // Packets read well; the damaged ones are bad records.
    state.counts.records = packet.saturating_sub(state.bad_packets);
    out.counts(&state.counts);
}

/// A capture's time kept within the years 0001 to 9999, the range every other reader's times
/// have (a damaged interface block can claim any resolution or offset).
fn clamp_ms(ms: i64) -> i64 {
    ms.clamp(-62_135_596_800_000, 253_402_300_799_999)
}

#[derive(Clone, Copy)]
struct LegacyLink {
    linktype: i32,
    nanos: bool,
}

#[derive(Clone, Copy)]
struct Interface {
    linktype: i32,
    /// Ticks per second.
    resolution: u64,
    /// Seconds added to every time.
    offset: i64,
}

impl Default for Interface {
    fn default() -> Self {
        Interface {
            linktype: 1,
            resolution: 1_000_000,
            offset: 0,
        }
    }
}

struct State {
    file: Arc<str>,
    /// Questions waiting, per key in the order asked (retransmissions share a key).
    pending: HashMap<Key, VecDeque<Pending>, foldhash::fast::RandomState>,
    n_pending: usize,
    tcp: HashMap<(Endpoint, Endpoint), TcpStream, foldhash::fast::RandomState>,
    counts: WireCounts,
    latest: Timestamp,
    stopped: bool,
    /// Packets counted as bad records (not among the packets read well).
    bad_packets: u64,
}

/// The network and transport layers of a packet, from its link layer.
fn slice(linktype: i32, data: &[u8]) -> Result<Option<SlicedPacket<'_>>, String> {
    let sliced = match linktype {
        1 => SlicedPacket::from_ethernet(data),
        // Linux cooked capture v1: 16 bytes, the protocol in the last two.
        113 => {
            let Some(proto) = data.get(14..16) else {
                return Err("Linux cooked header cut short".to_owned());
            };
            SlicedPacket::from_ether_type(EtherType(u16::from_be_bytes([proto[0], proto[1]])), &data[16..])
        }
        // Linux cooked capture v2: 20 bytes, the protocol first.
        276 => {
            if data.len() < 20 {
                return Err("Linux cooked v2 header cut short".to_owned());
            }
            SlicedPacket::from_ether_type(EtherType(u16::from_be_bytes([data[0], data[1]])), &data[20..])
        }
        101 | 12 | 14 | 228 | 229 => SlicedPacket::from_ip(data),
        // BSD loopback: a 4-byte address family in host order, then IP.
        0 | 108 => {
            if data.len() < 4 {
                return Err("loopback header cut short".to_owned());
            }
            SlicedPacket::from_ip(&data[4..])
        }
        _ => return Ok(None),
    };
    sliced.map(Some).map_err(|e| e.to_string())
}

impl State {
    fn packet(&mut self, linktype: i32, data: &[u8], time: Timestamp, packet: u64, out: &mut dyn WireOut) {
        self.latest = self.latest.max(time);
        let sliced = match slice(linktype, data) {
            Ok(Some(s)) => s,
            Ok(None) => {
                out.other(1);
                return;
            }
            Err(e) => {
                self.bad_packets += 1;
                out.bad(Origin::record(&self.file, packet), format!("packet not decodable: {e}"), 1);
                return;
            }
        };
        let (src_ip, dst_ip) = match &sliced.net {
            Some(NetSlice::Ipv4(v4)) => (v4.header().source_addr().into(), v4.header().destination_addr().into()),
            Some(NetSlice::Ipv6(v6)) => (v6.header().source_addr().into(), v6.header().destination_addr().into()),
            _ => {
                out.other(1);
                return;
            }
        };
        // The two ends of a packet, by its ports.
        let ends = |sport: u16, dport: u16| (Endpoint { ip: src_ip, port: sport }, Endpoint { ip: dst_ip, port: dport });
        match &sliced.transport {
            Some(TransportSlice::Udp(udp)) if is_dns_port(udp.source_port()) || is_dns_port(udp.destination_port()) => {
                let (src, dst) = ends(udp.source_port(), udp.destination_port());
                self.message(udp.payload(), src, dst, Transport::Udp, time, packet, out);
            }
            Some(TransportSlice::Tcp(tcp)) if is_dns_port(tcp.source_port()) || is_dns_port(tcp.destination_port()) => {
                let (src, dst) = ends(tcp.source_port(), tcp.destination_port());
                self.tcp_segment(src, dst, tcp.sequence_number(), tcp.syn(), tcp.fin() || tcp.rst(), tcp.payload(), time, packet, out);
            }
            // A connection's first packet (SYN without ACK): a connection attribution can join
            // to the Sysmon EID 3 of the process that opened it.
            Some(TransportSlice::Tcp(tcp)) if tcp.syn() && !tcp.ack() => {
                let (client, server) = ends(tcp.source_port(), tcp.destination_port());
                let flow = WireFlow::new(Sensor::Pcap, Transport::Tcp, client, server);
                if !out.event(crate::exchange::flow_event(time, Origin::record(&self.file, packet), flow)) {
                    self.stopped = true;
                }
            }
            _ => out.other(1),
        }
        if packet % 4096 == 0 {
            self.expire(time, out);
        }
    }

    /// Appends a segment to its direction's stream and takes out every whole message.
    #[allow(clippy::too_many_arguments)]
    fn tcp_segment(&mut self, src: Endpoint, dst: Endpoint, seq: u32, syn: bool, end: bool, payload: &[u8], time: Timestamp, packet: u64, out: &mut dyn WireOut) {
        let key = (src, dst);
        if !self.tcp.contains_key(&key) {
            if payload.is_empty() && !syn {
                out.other(1);
                return;
            }
            if self.tcp.len() >= MAX_TCP_STREAMS {
                out.warn(
                    Origin::record(&self.file, packet),
                    format!("more than {MAX_TCP_STREAMS} TCP DNS streams at once: the oldest state is dropped"),
                );
                self.tcp.clear();
            }
            self.tcp.insert(key, TcpStream::default());
        }
        let stream = self.tcp.get_mut(&key).expect("inserted above");
        // A new connection on the same ports starts a new stream.
        if syn {
            *stream = TcpStream::default();
        }
        let start = if syn { seq.wrapping_add(1) } else { seq };
        let mut data = payload;
        match stream.next_seq {
            None => stream.next_seq = Some(start),
            Some(next) => {
                let ahead = start.wrapping_sub(next) as i32;
                if ahead > 0 {
                    // A gap (a segment lost, or captured out of order): what was buffered
                    // cannot be completed, and where the next message starts is unknown, so the
                    // stream is given up until it starts again.
                    if !stream.lost {
                        out.bad(
                            Origin::record(&self.file, packet),
                            "TCP DNS stream with missing segments: the rest of the stream is not read".to_owned(),
                            1,
                        );
                    }
                    stream.buffer.clear();
                    stream.lost = true;
                } else if ahead < 0 {
                    // A retransmission: only the part past what was read is new.
                    let seen = ahead.unsigned_abs() as usize;
                    data = payload.get(seen..).unwrap_or(&[]);
                }
            }
        }
        if stream.lost {
            if end {
                self.tcp.remove(&key);
            }
            return;
        }
        let end_seq = start.wrapping_add(payload.len() as u32);
        if stream.next_seq.is_none_or(|n| (end_seq.wrapping_sub(n) as i32) > 0) {
            stream.next_seq = Some(end_seq);
        }
        if stream.buffer.len() + data.len() > MAX_TCP_BUFFER * 2 {
            stream.buffer.clear();
            out.bad(
                Origin::record(&self.file, packet),
                "TCP DNS stream that does not frame messages: buffer dropped".to_owned(),
                1,
            );
            return;
        }
        stream.buffer.extend_from_slice(data);
        let mut messages = Vec::new();
        loop {
            let buf = &stream.buffer;
            if buf.len() < 2 {
                break;
            }
            let len = usize::from(u16::from_be_bytes([buf[0], buf[1]]));
            if buf.len() < 2 + len {
                break;
            }
            messages.push(buf[2..2 + len].to_vec());
            stream.buffer.drain(..2 + len);
        }
        if end {
            self.tcp.remove(&key);
        }
        for m in messages {
            self.counts.dns_over_tcp += 1;
            self.message(&m, src, dst, Transport::Tcp, time, packet, out);
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn message(&mut self, payload: &[u8], src: Endpoint, dst: Endpoint, transport: Transport, time: Timestamp, packet: u64, out: &mut dyn WireOut) {
        let message = match dns::decode(payload) {
            Ok(m) => m,
            Err(e) => {
                self.bad_packets += 1;
                out.bad(Origin::record(&self.file, packet), e.to_string(), 1);
                return;
            }
        };
        if message.truncated_records {
            out.warn(
                Origin::record(&self.file, packet),
                format!(
                    "DNS message {} ends before all its records: {} of {} answers kept",
                    message.header.id,
                    message.answers.len(),
                    message.header.ancount
                ),
            );
        }
        if message.header.response {
            self.counts.dns_responses += 1;
            let (client, server) = (dst, src);
            let id = message.header.id;
            // A multicast question (mDNS, LLMNR) is answered from the responder's own address.
            let groups: &[(&str, u16)] = match server.port {
                5355 => &[("224.0.0.252", 5355), ("ff02::1:3", 5355)],
                5353 => &[("224.0.0.251", 5353), ("ff02::fb", 5353)],
                _ => &[],
            };
            let keys = std::iter::once(server).chain(groups.iter().filter_map(|(ip, port)| {
                Some(Endpoint {
                    ip: ip.parse().ok()?,
                    port: *port,
                })
            }));
            let mut question = None;
            for server in keys {
                let key = Key { client, server, transport, id };
                if let Some(q) = self.pending.get_mut(&key).and_then(VecDeque::pop_front) {
                    self.n_pending -= 1;
                    if self.pending.get(&key).is_some_and(VecDeque::is_empty) {
                        self.pending.remove(&key);
                    }
                    question = Some(q);
                    break;
                }
            }
            let x = exchange(question.as_ref(), Some((message, payload.len() as u32, time)), client, server, transport);
            let origin = Origin::record(&self.file, question.as_ref().map_or(packet, |q| q.packet));
            self.emit(x, origin, out);
        } else {
            self.counts.dns_queries += 1;
            let (client, server) = orient(src, dst);
            let key = Key {
                client,
                server,
                transport,
                id: message.header.id,
            };
            let new = Pending {
                time,
                packet,
                id: message.header.id,
                rd: message.header.rd,
                question: message.questions.into_iter().next(),
                bytes: payload.len() as u32,
            };
            // A retransmission (same id and ports) waits behind the one before: responses
            // answer them in order.
            self.pending.entry(key).or_default().push_back(new);
            self.n_pending += 1;
            if self.n_pending > MAX_PENDING {
                self.expire_oldest(out);
            }
        }
    }

    fn emit(&mut self, x: Exchange, origin: Origin, out: &mut dyn WireOut) {
        if !out.event(exchange_event(x, Sensor::Pcap, origin)) {
            self.stopped = true;
        }
    }

    /// Gives up questions that waited longer than the window.
    fn expire(&mut self, now: Timestamp, out: &mut dyn WireOut) {
        self.give_up(|p| now.0.saturating_sub(p.time.0) > PAIR_WINDOW_MS, out);
    }

    /// Gives up the oldest quarter of the questions waiting.
    fn expire_oldest(&mut self, out: &mut dyn WireOut) {
        let mut times: Vec<(Timestamp, u64)> = self.pending.values().flatten().map(|p| (p.time, p.packet)).collect();
        times.sort_unstable();
        let Some(&cut) = times.get(times.len() / 4) else { return };
        self.give_up(|p| (p.time, p.packet) < cut, out);
    }

    /// Emits the questions `old` selects as unanswered, in capture order (so the output does not
    /// depend on the map's order).
    fn give_up(&mut self, old: impl Fn(&Pending) -> bool, out: &mut dyn WireOut) {
        let mut given: Vec<(Key, Pending)> = Vec::new();
        // Every old question of a queue, not only those at its front: times in a capture can go
        // backwards (merged interfaces, clock steps).
        self.pending.retain(|key, queue| {
            if queue.iter().any(&old) {
                let (gone, kept): (VecDeque<Pending>, VecDeque<Pending>) = std::mem::take(queue).into_iter().partition(|p| old(p));
                given.extend(gone.into_iter().map(|p| (*key, p)));
                *queue = kept;
            }
            !queue.is_empty()
        });
        self.n_pending -= given.len();
        given.sort_unstable_by_key(|(_, p)| p.packet);
        for (key, p) in given {
            let x = exchange(Some(&p), None, key.client, key.server, key.transport);
            self.emit(x, Origin::record(&self.file, p.packet), out);
        }
    }

    fn flush_all(&mut self, out: &mut dyn WireOut) {
        self.give_up(|_| true, out);
        for stream in self.tcp.values() {
            if !stream.buffer.is_empty() {
                out.warn(
                    Origin::record(&self.file, 0),
                    format!("a TCP DNS stream ends with {} bytes of an unfinished message", stream.buffer.len()),
                );
            }
        }
    }
}

/// An exchange from a question and/or a response.
fn exchange(question: Option<&Pending>, response: Option<(Message, u32, Timestamp)>, client: Endpoint, server: Endpoint, transport: Transport) -> Exchange {
    let q = question.and_then(|q| q.question.as_ref()).or(response.as_ref().and_then(|r| r.0.questions.first()));
    let mut x = Exchange {
        time: question.map(|q| q.time).or(response.as_ref().map(|r| r.2)).unwrap_or_default(),
        name: q.map(|q| q.name.clone()).unwrap_or_default(),
        qtype: q.map(|q| q.qtype),
        qclass: q.map(|q| q.qclass),
        transport,
        client: Some(client),
        server: Some(server),
        transaction_id: question.map(|q| q.id).or(response.as_ref().map(|r| r.0.header.id)),
        query_bytes: question.map(|q| q.bytes),
        ..Exchange::default()
    };
    if let Some(q) = question {
        x.flags.rd = q.rd;
    }
    if let Some((m, bytes, time)) = response {
        x.rcode = Some(m.header.rcode);
        x.flags = DnsFlags {
            aa: m.header.aa,
            tc: m.header.tc,
            rd: m.header.rd,
            ra: m.header.ra,
        };
        x.response_bytes = Some(bytes);
        if let Some(q) = question {
            x.rtt_ms = u32::try_from(time.0.saturating_sub(q.time.0)).ok();
        }
        for r in m.answers {
            if let Some(ip) = r.ip {
                x.addresses.push((RecordType(r.rtype), ip));
            }
            x.answers.push(WireAnswer {
                name: r.name,
                rtype: RecordType(r.rtype),
                ttl: Some(r.ttl),
                size: Some(r.size),
                data: r.data,
            });
        }
    }
    x
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dns::tests::build;
    use dnshunt_core::Event;
    use etherparse::PacketBuilder;

    #[derive(Default)]
    struct Collect {
        events: Vec<Event>,
        bad: Vec<String>,
        warnings: Vec<String>,
        other: u64,
        counts: WireCounts,
    }

    impl WireOut for Collect {
        fn event(&mut self, event: Event) -> bool {
            self.events.push(event);
            true
        }
        fn bad(&mut self, origin: Origin, reason: String, _count: u64) {
            self.bad.push(format!("{origin}: {reason}"));
        }
        fn warn(&mut self, origin: Origin, message: String) {
            self.warnings.push(format!("{origin}: {message}"));
        }
        fn other(&mut self, count: u64) {
            self.other += count;
        }
        fn counts(&mut self, counts: &WireCounts) {
            self.counts = counts.clone();
        }
    }

    const CLIENT: [u8; 4] = [10, 0, 0, 5];
    const SERVER: [u8; 4] = [10, 0, 0, 53];
    const QNAME: &[u8] = b"\x04data\x07example\x03org\x00";

    fn udp(src: [u8; 4], dst: [u8; 4], sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
        let b = PacketBuilder::ethernet2([1; 6], [2; 6]).ipv4(src, dst, 64).udp(sport, dport);
        let mut v = Vec::new();
        b.write(&mut v, payload).unwrap();
        v
    }

    fn tcp(src: [u8; 4], dst: [u8; 4], sport: u16, dport: u16, seq: u32, payload: &[u8]) -> Vec<u8> {
        let b = PacketBuilder::ethernet2([1; 6], [2; 6]).ipv4(src, dst, 64).tcp(sport, dport, seq, 1024).ack(1).psh();
        let mut v = Vec::new();
        b.write(&mut v, payload).unwrap();
        v
    }

    /// A little-endian microsecond pcap of Ethernet frames, one every 10 ms from 1,700,000,000 s.
    fn pcap(frames: &[Vec<u8>]) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(&0xa1b2c3d4u32.to_le_bytes());
        out.extend_from_slice(&2u16.to_le_bytes());
        out.extend_from_slice(&4u16.to_le_bytes());
        out.extend_from_slice(&[0; 8]);
        out.extend_from_slice(&65535u32.to_le_bytes());
        out.extend_from_slice(&1u32.to_le_bytes());
        for (i, f) in frames.iter().enumerate() {
            out.extend_from_slice(&1_700_000_000u32.to_le_bytes());
            out.extend_from_slice(&(i as u32 * 10_000).to_le_bytes());
            out.extend_from_slice(&(f.len() as u32).to_le_bytes());
            out.extend_from_slice(&(f.len() as u32).to_le_bytes());
            out.extend_from_slice(f);
        }
        out
    }

    fn run(bytes: &[u8]) -> Collect {
        let mut out = Collect::default();
        read(std::io::BufReader::new(bytes), &Arc::from("test.pcap"), &mut out);
        out
    }

    #[test]
    fn pairs_udp_questions_with_responses() {
        let q = build(0x1111, 0x0100, QNAME, 16, &[]);
        let r = build(0x1111, 0x8180, QNAME, 16, &[(b"\xc0\x0c", 16, b"\x05hello")]);
        let lost = build(0x2222, 0x0100, QNAME, 1, &[]);
        let frames = [
            udp(CLIENT, SERVER, 40000, 53, &q),
            udp(SERVER, CLIENT, 53, 40000, &r),
            udp(CLIENT, SERVER, 40001, 53, &lost),
        ];
        let c = run(&pcap(&frames));
        assert_eq!(
            c.counts,
            WireCounts {
                records: 3,
                dns_queries: 2,
                dns_responses: 1,
                dns_over_tcp: 0
            }
        );
        assert_eq!(c.events.len(), 2);
        let w = c.events[0].wire_dns().unwrap();
        assert_eq!(w.lookup.query.as_str(), "data.example.org");
        assert_eq!(c.events[0].host.as_deref(), Some("10.0.0.5"));
        assert_eq!(c.events[0].time, Timestamp(1_700_000_000_000));
        assert_eq!(
            (w.rcode, w.rtt_ms, w.query_bytes, w.response_bytes),
            (Some(0), Some(10), Some(q.len() as u32), Some(r.len() as u32))
        );
        assert_eq!(w.records[0].data, "hello");
        assert_eq!(w.client.unwrap().port, 40000);
        assert_eq!(w.server.unwrap().port, 53);
        // The question never answered is an exchange without a response.
        let w = c.events[1].wire_dns().unwrap();
        assert_eq!((w.rcode, w.transaction_id), (None, Some(0x2222)));
        assert!(w.lookup.status.is_failure());
    }

    #[test]
    fn reassembles_tcp_dns_across_segments() {
        let q = build(7, 0x0100, QNAME, 16, &[]);
        let big_txt = vec![b'x'; 200];
        let mut rdata = vec![200u8];
        rdata.extend_from_slice(&big_txt);
        let r = build(7, 0x8580, QNAME, 16, &[(b"\xc0\x0c", 16, &rdata)]);
        let framed = |m: &[u8]| {
            let mut v = (m.len() as u16).to_be_bytes().to_vec();
            v.extend_from_slice(m);
            v
        };
        let (fq, fr) = (framed(&q), framed(&r));
        let cut = 50;
        let frames = [
            tcp(CLIENT, SERVER, 40100, 53, 1000, &fq),
            // The response in two segments, the first sent twice (a retransmission).
            tcp(SERVER, CLIENT, 53, 40100, 5000, &fr[..cut]),
            tcp(SERVER, CLIENT, 53, 40100, 5000, &fr[..cut]),
            tcp(SERVER, CLIENT, 53, 40100, 5000 + cut as u32, &fr[cut..]),
        ];
        let c = run(&pcap(&frames));
        assert_eq!(c.counts.dns_over_tcp, 2, "{:?} {:?}", c.bad, c.warnings);
        assert_eq!(c.events.len(), 1);
        let w = c.events[0].wire_dns().unwrap();
        assert_eq!(w.transport, Transport::Tcp);
        assert!(w.flags.aa);
        assert_eq!(w.records[0].size, Some(201));
        assert_eq!(w.records[0].data.len(), 200);
        assert!(c.bad.is_empty() && c.warnings.is_empty());
    }

    #[test]
    fn multicast_questions_pair_with_the_responder() {
        let q = build(0x42, 0x0000, b"\x04wpad\x00", 1, &[]);
        let r = build(0x42, 0x8000, b"\x04wpad\x00", 1, &[(b"\xc0\x0c", 1, &[10, 0, 0, 7])]);
        let frames = [udp(CLIENT, [224, 0, 0, 252], 51000, 5355, &q), udp([10, 0, 0, 7], CLIENT, 5355, 51000, &r)];
        let c = run(&pcap(&frames));
        assert_eq!(c.events.len(), 1, "one exchange, not an orphan and a timeout");
        let w = c.events[0].wire_dns().unwrap();
        assert_eq!((w.rcode, w.server.unwrap().ip.to_string()), (Some(0), "10.0.0.7".to_owned()));
    }

    #[test]
    fn a_tcp_gap_gives_up_the_stream_and_a_syn_starts_it_again() {
        let q = build(7, 0x0100, QNAME, 16, &[]);
        let mut framed = (q.len() as u16).to_be_bytes().to_vec();
        framed.extend_from_slice(&q);
        let frames = [
            tcp(CLIENT, SERVER, 40300, 53, 1000, &framed[..10]),
            // Bytes 10..20 were not captured.
            tcp(CLIENT, SERVER, 40300, 53, 1020, &framed[20..]),
            tcp(CLIENT, SERVER, 40300, 53, 1000 + framed.len() as u32, &framed),
        ];
        let c = run(&pcap(&frames));
        assert_eq!((c.counts.dns_over_tcp, c.bad.len()), (0, 1), "{:?}", c.bad);
        // A new connection (SYN) on the same ports is read from its start.
        let mut frames = frames.to_vec();
        let mut syn = Vec::new();
        PacketBuilder::ethernet2([1; 6], [2; 6])
            .ipv4(CLIENT, SERVER, 64)
            .tcp(40300, 53, 5000, 1024)
            .syn()
            .write(&mut syn, &[])
            .unwrap();
        frames.push(syn);
        frames.push(tcp(CLIENT, SERVER, 40300, 53, 5001, &framed));
        let c = run(&pcap(&frames));
        assert_eq!(c.counts.dns_over_tcp, 1, "{:?}", c.bad);
    }

    #[test]
    fn damage_is_counted_and_reading_goes_on() {
        let q = build(9, 0x0100, QNAME, 1, &[]);
        let mut frames = vec![udp(CLIENT, SERVER, 40200, 53, &[1, 2, 3]), udp(CLIENT, SERVER, 40201, 53, &q)];
        // An IPv4 header that claims more than the frame holds.
        let mut cut = udp(CLIENT, SERVER, 40202, 53, &q);
        cut.truncate(20);
        frames.push(cut);
        let mut bytes = pcap(&frames);
        // The capture ends inside a packet record.
        bytes.extend_from_slice(&[0, 0, 0]);
        let c = run(&bytes);
        assert_eq!(c.events.len(), 1);
        assert_eq!(c.bad.len(), 3, "{:?}", c.bad);
        assert!(
            c.bad[0].contains("test.pcap record 1") && c.bad[0].contains("shorter than its 12-byte header"),
            "{:?}",
            c.bad
        );
        // Not a capture at all.
        let c = run(b"\xd4\xc3\xb2\xa1");
        assert_eq!(c.events.len(), 0);
        assert_eq!(c.bad.len(), 1);
    }
}
