#!/usr/bin/env python3
"""Writes vnet.json: virtio-net header ‖ frame inputs as a Linux TAP with
TSO/USO hands them over (seeded partial checksum, NEEDS_CSUM), and the plain
frames a device without the header must get, segmented here in Python from
the kernel's rules (tcp_gso_segment, __udp_gso_segment, inet_gso_segment,
skb_checksum_help) without PeerTap or any JavaScript. Then it writes the
outputs to a pcap and has tcpdump verify every IPv4 header, TCP and UDP
checksum. Run from packages/switch: python3 test/vectors/vnet-crosscheck.py
"""
import json, os, random, struct, subprocess, tempfile

random.seed(20261125)
here = os.path.dirname(os.path.abspath(__file__))


def fold(b):
    if len(b) % 2:
        b += b'\0'
    s = sum(struct.unpack('!%dH' % (len(b) // 2), b))
    while s >> 16:
        s = (s & 0xffff) + (s >> 16)
    return s


def cksum(b):
    return 0xffff ^ fold(b)


def vnet(flags, gso, hdr_len, gso_size, start, off):
    return struct.pack('<BBHHHH', flags, gso, hdr_len, gso_size, start, off)


MACS = bytes.fromhex('02000000000b02000000000a')
SRC4, DST4 = bytes([192, 168, 10, 1]), bytes([192, 168, 10, 2])
SRC6 = bytes.fromhex('fd000000000000000000000000000001')
DST6 = bytes.fromhex('fd0000000000000000000000000abcde')
TS = bytes.fromhex('0101080a0001e2400000d431')


def pseudo(ip, proto, length):
    if ip == 4:
        return SRC4 + DST4 + struct.pack('!BBH', 0, proto, length)
    return SRC6 + DST6 + struct.pack('!I3xB', length, proto)


def ip_header(ip, proto, l4_length, ident):
    if ip == 4:
        h = struct.pack('!BBHHHBBH4s4s', 0x45, 0, 20 + l4_length, ident, 0x4000, 64, proto, 0, SRC4, DST4)
        return h[:10] + struct.pack('!H', cksum(h)) + h[12:]
    return struct.pack('!IHBB16s16s', 0x60000000, l4_length, proto, 64, SRC6, DST6)


def eth(ip, tag):
    et = struct.pack('!H', 0x0800 if ip == 4 else 0x86dd)
    return MACS + (struct.pack('!HH', tag, 100) if tag else b'') + et


def tcp(ip, tag, payload, seq, flags, ident, csum):
    """A TCP/IP frame; csum 'seed' leaves Linux's ~csum_tcpudp_magic() in the field."""
    th = struct.pack('!HHIIBBHHH', 40000, 5201, seq, 0x55667788, 8 << 4, flags, 502, 0, 0) + TS
    ps = pseudo(ip, 6, len(th) + len(payload))
    c = fold(ps) if csum == 'seed' else cksum(ps + th + payload)
    th = th[:16] + struct.pack('!H', c) + th[18:]
    return eth(ip, tag) + ip_header(ip, 6, len(th) + len(payload), ident) + th + payload


def udp(ip, tag, payload, ident, csum):
    uh = struct.pack('!HHHH', 40000, 4433, 8 + len(payload), 0)
    ps = pseudo(ip, 17, len(uh) + len(payload))
    c = fold(ps) if csum == 'seed' else (cksum(ps + uh + payload) or 0xffff)
    uh = uh[:6] + struct.pack('!H', c)
    return eth(ip, tag) + ip_header(ip, 17, len(uh) + len(payload), ident) + uh + payload


def rand(n):
    return bytes(random.getrandbits(8) for _ in range(n))


cases = []


def tcp_case(name, ip, tag, n, mss, flags, seq, ident):
    payload = rand(n)
    frame = tcp(ip, tag, payload, seq, flags, ident, 'seed')
    l4 = len(eth(ip, tag)) + (20 if ip == 4 else 40)
    gso = (1 if ip == 4 else 4) if mss else 0
    inp = vnet(1, gso, l4 + 32, mss, l4, 16) + frame
    out = []
    chunks = [payload[i:i + mss] for i in range(0, len(payload), mss)] if mss else [payload]
    for i, chunk in enumerate(chunks or [b'']):
        f = flags
        if i < len(chunks) - 1:
            f &= ~0x09  # FIN, PSH on the last only
        if i > 0:
            f &= ~0x80  # CWR on the first only
        out.append(tcp(ip, tag, chunk, (seq + i * (mss or 0)) & 0xffffffff, f, (ident + i) & 0xffff, 'full'))
    cases.append({'name': name, 'input': inp, 'output': out})


def udp_case(name, ip, tag, n, size, ident):
    payload = rand(n)
    frame = udp(ip, tag, payload, ident, 'seed')
    l4 = len(eth(ip, tag)) + (20 if ip == 4 else 40)
    inp = vnet(1, 5, l4 + 8, size, l4, 6) + frame
    out = [udp(ip, tag, payload[i:i + size], (ident + k) & 0xffff, 'full')
           for k, i in enumerate(range(0, len(payload), size))]
    cases.append({'name': name, 'input': inp, 'output': out})


tcp_case('TCPV4, 4000 bytes at MSS 1348, ID and sequence wrap', 4, None, 4000, 1348, 0x18, 0xfffffc00, 0xffff)
tcp_case('TCPV6 802.1Q, 3001 bytes at MSS 1428, FIN PSH CWR', 6, 0x8100, 3001, 1428, 0x99, 7, 0)
tcp_case('NEEDS_CSUM only, IPv4/TCP, 1001 bytes', 4, None, 1001, 0, 0x18, 1, 1)
udp_case('UDP_L4 IPv4, 2500 bytes in 1200-byte datagrams', 4, None, 2500, 1200, 0x1234)
udp_case('UDP_L4 IPv6 802.1ad, 1501 bytes in 700-byte datagrams', 6, 0x88a8, 1501, 700, 0)

# tcpdump's own view of every output frame.
frames = [f for c in cases for f in c['output']]
with tempfile.NamedTemporaryFile(suffix='.pcap') as pcap:
    pcap.write(struct.pack('<IHHiIII', 0xa1b2c3d4, 2, 4, 0, 0, 262144, 1))
    for i, f in enumerate(frames):
        pcap.write(struct.pack('<IIII', 1700000000, i, len(f), len(f)) + f)
    pcap.flush()
    dump = subprocess.run(['tcpdump', '-nn', '-vv', '-r', pcap.name], capture_output=True, text=True).stdout
good = dump.count('(correct)') + dump.count('[udp sum ok]')
bad = dump.count('incorrect') + dump.count('bad udp cksum') + dump.count('bad cksum')
assert good == len(frames) and bad == 0, (good, bad, len(frames), dump)
print(f'{len(frames)} frames, tcpdump: {good} checksums correct, {bad} bad')

with open(os.path.join(here, 'vnet.json'), 'w') as fh:
    json.dump({
        'description': 'README.md: vnet.json',
        'cases': [{'name': c['name'], 'input': c['input'].hex(), 'output': [f.hex() for f in c['output']]}
                  for c in cases],
    }, fh, indent=2)
    fh.write('\n')
