#!/usr/bin/env python3
"""Writes the @peertap/tun-l2 vectors from docs/spec/17-tun-l2.md alone.

An independent implementation, sharing no code with src/: BLAKE3 is the
`b3sum` tool (the BLAKE3 team's Rust implementation, Debian package b3sum),
Ed25519 public keys (for PeerIds) come from the `cryptography` package
(OpenSSL), SHA-256 from hashlib, and every frame is laid out below with
`struct` from the tables of §17.3; checksums are RFC 1071 written here.
Next hops and DHCP steps come from this script's own model of §17.5 and
§17.7.

Run from the repository root:
    python3 packages/tun-l2/test/vectors/generate.py
It rewrites mac.json, frames.json and mapping.json in this folder; the
output must not change.
"""
import hashlib
import ipaddress
import json
import os
import struct
import subprocess

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

HERE = os.path.dirname(os.path.abspath(__file__))


# ---------------------------------------------------------------- primitives

def derive_key(context, material, length=32):
    out = subprocess.run(['b3sum', '--derive-key', context, '--length', str(length), '--no-names', '--raw', '-'],
                         input=material, capture_output=True, check=True)
    assert len(out.stdout) == length
    return out.stdout


def label(s):
    """Deterministic test input: derive_key("PeerTap v1 test vectors", label)."""
    return derive_key('PeerTap v1 test vectors', s.encode())


def ed25519_peer_id(name):
    seed = label('seed ' + name)
    key = Ed25519PrivateKey.from_private_bytes(seed).public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return bytes.fromhex('002408011220') + key


def sha256_peer_id(name):
    return bytes.fromhex('1220') + hashlib.sha256(name.encode()).digest()


def vlan_id(owner, name):
    """01-identifiers.md §1.2."""
    return derive_key('PeerTap v1 VLAN-ID', owner + b'\x00' + name.encode('utf-8'))


def psk_vlan_id(secret):
    """01-identifiers.md §1.5."""
    return derive_key('PeerTap v1 PSK VLAN-ID', secret)


def tun_mac(peer_id, vid):
    """§17.2."""
    assert len(peer_id) > 0 and len(vid) == 32
    mac = bytearray(derive_key('PeerTap v1 TUN MAC', peer_id + vid)[:6])
    mac[0] = (mac[0] | 0x02) & 0xFE
    return bytes(mac)


def h(b):
    return b.hex()


def ip(text):
    return ipaddress.ip_address(text).packed


def ones_sum(data, total=0):
    if len(data) % 2:
        data = data + b'\x00'
    for (word,) in struct.iter_unpack('!H', data):
        total += word
    return total


def checksum(data, total=0):
    s = ones_sum(data, total)
    while s > 0xFFFF:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


# ---------------------------------------------------------------- §17.5 mappings

BROADCAST = b'\xff' * 6


def mac4(g):
    return bytes([0x01, 0x00, 0x5E, g[1] & 0x7F, g[2], g[3]])


def mac6(g):
    return bytes([0x33, 0x33]) + g[12:16]


def solicited(a):
    return bytes.fromhex('ff0200000000000000000001ff') + a[13:16]


def eui64(mac):
    return bytes([mac[0] ^ 0x02, mac[1], mac[2], 0xFF, 0xFE, mac[3], mac[4], mac[5]])


def link_local(mac):
    return bytes.fromhex('fe80000000000000') + eui64(mac)


ALL_NODES = ip('ff02::1')
ALL_ROUTERS = ip('ff02::2')


# ---------------------------------------------------------------- §17.3 frames

def ethernet(dst, src, ethertype, payload):
    return dst + src + struct.pack('!H', ethertype) + payload


def arp(op, eth_dst, sha, spa, tha, tpa):
    """§17.3.1."""
    packet = struct.pack('!HHBBH', 1, 0x0800, 6, 4, op) + sha + spa + tha + tpa
    assert len(packet) == 28
    return ethernet(eth_dst, sha, 0x0806, packet)


def icmpv6(eth_dst, eth_src, src, dst, message):
    """§17.3.2: IPv6 header (hop limit 255) and the message with its checksum."""
    pseudo = src + dst + struct.pack('!I', len(message)) + b'\x00\x00\x00' + bytes([58])
    zeroed = message[:2] + b'\x00\x00' + message[4:]
    c = checksum(pseudo + zeroed)
    message = message[:2] + struct.pack('!H', c) + message[4:]
    header = struct.pack('!IHBB', 0x60000000, len(message), 58, 255) + src + dst
    return ethernet(eth_dst, eth_src, 0x86DD, header + message)


def ns(mac, src, target, dst_mac=None):
    """A DAD NS when src is None; unicast to dst_mac/target when given."""
    body = struct.pack('!BBHI', 135, 0, 0, 0) + target
    if src is not None:
        body += bytes([1, 1]) + mac
    group = solicited(target)
    return icmpv6(dst_mac if dst_mac is not None else mac6(group), mac,
                  src if src is not None else bytes(16),
                  target if dst_mac is not None else group, body)


def na(mac, target, flags, dst=None, dst_mac=None):
    body = struct.pack('!BBHB3x', 136, 0, 0, flags) + target + bytes([2, 1]) + mac
    return icmpv6(dst_mac if dst_mac is not None else mac6(ALL_NODES), mac, target,
                  dst if dst is not None else ALL_NODES, body)


def rs(mac, src):
    body = struct.pack('!BBHI', 133, 0, 0, 0) + bytes([1, 1]) + mac
    return icmpv6(mac6(ALL_ROUTERS), mac, src, ALL_ROUTERS, body)


def udp4(eth_dst, eth_src, src, dst, sport, dport, payload):
    """§17.3.3."""
    length = 8 + len(payload)
    total = 20 + length
    header = struct.pack('!BBHHHBBH', 0x45, 0, total, 0, 0, 64, 17, 0) + src + dst
    header = header[:10] + struct.pack('!H', checksum(header)) + header[12:]
    pseudo = src + dst + struct.pack('!BBH', 0, 17, length)
    udp = struct.pack('!HHHH', sport, dport, length, 0) + payload
    c = checksum(pseudo + udp) or 0xFFFF
    udp = udp[:6] + struct.pack('!H', c) + udp[8:]
    return ethernet(eth_dst, eth_src, 0x0800, header + udp)


# DHCP (§17.3.4)
PARAMETERS = bytes([1, 3, 6, 15, 26, 51, 54, 58, 59])
COOKIE = bytes.fromhex('63825363')


def bootp(op, xid, secs, ciaddr, yiaddr, chaddr, options):
    fixed = struct.pack('!BBBBIHH', op, 1, 6, 0, xid, secs, 0) + ciaddr + yiaddr + bytes(8)
    fixed += chaddr + bytes(10) + bytes(64 + 128)
    assert len(fixed) == 236
    body = fixed + COOKIE
    for code, value in options:
        body += bytes([code, len(value)]) + value
    body += b'\xff'
    if len(body) < 300:
        body += bytes(300 - len(body))
    return body


def common_options(mtype, mac, hostname):
    options = [(53, bytes([mtype])), (61, b'\x01' + mac)]
    if hostname is not None:
        options.append((12, hostname.encode('ascii')))
    options += [(55, PARAMETERS), (57, struct.pack('!H', 1500))]
    return options


# ---------------------------------------------------------------- mac.json

def mac_vectors():
    owner = ed25519_peer_id('alice')
    peers = [('alice', owner), ('bob', ed25519_peer_id('bob')), ('carol', ed25519_peer_id('carol')),
             ('dave (sha2-256)', sha256_peer_id('dave'))]
    cases = []
    seen = set()
    # VLANs owned by alice, named lab, home, and then lab-N until the first
    # byte of the hash has taken all four values of its two low bits.
    names = ['lab', 'home', 'café']
    n = 0
    while True:
        for pname, pid in peers:
            for vname in names:
                vid = vlan_id(owner, vname)
                raw = derive_key('PeerTap v1 TUN MAC', pid + vid)
                low = raw[0] & 3
                if len(cases) < 8 or low not in seen:
                    seen.add(low)
                    mac = tun_mac(pid, vid)
                    assert mac[0] & 3 == 2
                    cases.append({'peer': pname, 'peerId': h(pid), 'vlan': vname, 'vlanId': h(vid),
                                  'hashFirstByte': raw[0], 'mac': h(mac)})
        if len(seen) == 4 and len(cases) >= 8:
            break
        names = ['lab-%d' % n]
        n += 1
    psk = []
    for desc, secret in [('1 byte', b'\x07'), ('ASCII phrase', b'correct horse battery staple'),
                         ('32 bytes', label('psk secret')), ('64 bytes', label('psk a') + label('psk b'))]:
        vid = psk_vlan_id(secret)
        psk.append({'secret': h(secret), 'description': desc, 'pskVlanId': h(vid),
                    'peerId': h(owner), 'mac': h(tun_mac(owner, vid))})
    return {
        'origin': 'generate.py from docs/spec/17-tun-l2.md §17.2 and 01-identifiers.md §1.2, §1.5; BLAKE3 is b3sum',
        'macs': cases,
        'psk': psk,
    }


# ---------------------------------------------------------------- frames.json

OWNER = ed25519_peer_id('alice')
VLAN = vlan_id(OWNER, 'lab')
PORT_MAC = tun_mac(OWNER, VLAN)
PEER_MAC = tun_mac(ed25519_peer_id('bob'), VLAN)
PORT4 = ip('10.99.0.7')
PEER4 = ip('10.99.0.2')
PORT6 = ip('fd00:99::7')
PEER6 = ip('fd00:99::2')
PORT_LL = link_local(PORT_MAC)


def frame_vectors():
    port = {'mac': h(PORT_MAC), 'addresses': ['10.99.0.7/24', 'fd00:99::7/64'], 'linkLocal': h(PORT_LL),
            'peerMac': h(PEER_MAC), 'peer4': '10.99.0.2', 'peer6': 'fd00:99::2'}
    z6 = bytes(6)
    z4 = bytes(4)
    arps = []

    def add_arp(name, op, eth_dst, sha, spa, tha, tpa):
        arps.append({'name': name, 'op': op, 'ethDst': h(eth_dst), 'sha': h(sha), 'spa': h(spa),
                     'tha': h(tha), 'tpa': h(tpa), 'frame': h(arp(op, eth_dst, sha, spa, tha, tpa))})

    add_arp('request', 1, BROADCAST, PORT_MAC, PORT4, z6, PEER4)
    add_arp('request, unicast probe of a stale entry', 1, PEER_MAC, PORT_MAC, PORT4, z6, PEER4)
    add_arp('reply', 2, PEER_MAC, PORT_MAC, PORT4, PEER_MAC, PEER4)
    add_arp('reply to a probe', 2, PEER_MAC, PORT_MAC, PORT4, PEER_MAC, z4)
    add_arp('probe', 1, BROADCAST, PORT_MAC, z4, z6, PORT4)
    add_arp('announcement', 1, BROADCAST, PORT_MAC, PORT4, z6, PORT4)

    nd = []

    def add(name, kind, fields, frame):
        nd.append(dict({'name': name, 'kind': kind}, **fields, frame=h(frame)))

    add('DAD NS for fd00:99::7', 'ns', {'mac': h(PORT_MAC), 'src': None, 'target': h(PORT6), 'dstMac': None},
        ns(PORT_MAC, None, PORT6))
    add('DAD NS for the link-local address', 'ns', {'mac': h(PORT_MAC), 'src': None, 'target': h(PORT_LL),
                                                    'dstMac': None}, ns(PORT_MAC, None, PORT_LL))
    add('resolution NS with SLL', 'ns', {'mac': h(PORT_MAC), 'src': h(PORT6), 'target': h(PEER6), 'dstMac': None},
        ns(PORT_MAC, PORT6, PEER6))
    add('resolution NS from the link-local address', 'ns',
        {'mac': h(PORT_MAC), 'src': h(PORT_LL), 'target': h(ip('fe80::1')), 'dstMac': None},
        ns(PORT_MAC, PORT_LL, ip('fe80::1')))
    add('probe NS, unicast', 'ns', {'mac': h(PORT_MAC), 'src': h(PORT6), 'target': h(PEER6), 'dstMac': h(PEER_MAC)},
        ns(PORT_MAC, PORT6, PEER6, PEER_MAC))
    add('solicited NA', 'na', {'mac': h(PORT_MAC), 'target': h(PORT6), 'flags': 0x60, 'dst': h(PEER6),
                               'dstMac': h(PEER_MAC)}, na(PORT_MAC, PORT6, 0x60, PEER6, PEER_MAC))
    add('unsolicited NA', 'na', {'mac': h(PORT_MAC), 'target': h(PORT6), 'flags': 0x20, 'dst': None, 'dstMac': None},
        na(PORT_MAC, PORT6, 0x20))
    add('unsolicited NA for the link-local address', 'na',
        {'mac': h(PORT_MAC), 'target': h(PORT_LL), 'flags': 0x20, 'dst': None, 'dstMac': None},
        na(PORT_MAC, PORT_LL, 0x20))
    add('RS', 'rs', {'mac': h(PORT_MAC), 'src': h(PORT_LL)}, rs(PORT_MAC, PORT_LL))

    # What the peer sends, for the scenarios of the test (checksums filled in).
    peer_frames = {
        'arpRequest': h(arp(1, BROADCAST, PEER_MAC, PEER4, z6, PORT4)),
        'arpProbe': h(arp(1, BROADCAST, PEER_MAC, z4, z6, PORT4)),
        'arpReply': h(arp(2, PORT_MAC, PEER_MAC, PEER4, PORT_MAC, PORT4)),
        'ns': h(ns(PEER_MAC, PEER6, PORT6)),
        'dadNs': h(ns(PEER_MAC, None, PORT6)),
        'na': h(na(PEER_MAC, PEER6, 0x60, PORT6, PORT_MAC)),
    }
    for f in arps + nd:
        assert_checksums(bytes.fromhex(f['frame']))
    return {
        'origin': 'generate.py from docs/spec/17-tun-l2.md §17.3; BLAKE3 (the MACs) is b3sum',
        'port': port,
        'arp': arps,
        'nd': nd,
        'peerFrames': peer_frames,
        'dhcp': dhcp_vectors(),
    }


def assert_checksums(frame):
    if frame[12:14] == b'\x86\xdd':
        length = struct.unpack('!H', frame[18:20])[0]
        pseudo = frame[22:54] + struct.pack('!I', length) + b'\x00\x00\x00' + bytes([58])
        assert checksum(pseudo + frame[54:54 + length]) == 0


# ---------------------------------------------------------------- DHCP (§17.7 model)

SERVER_MAC = bytes.fromhex('02d4c0000001')
SERVER = ip('10.99.0.1')
OFFERED = ip('10.99.0.7')


def reply(xid, mac, mtype, yiaddr, lease, dst_ip, extra=()):
    options = [(53, bytes([mtype])), (54, SERVER), (51, struct.pack('!I', lease)), (1, ip('255.255.255.0')),
               (3, SERVER), (6, SERVER + ip('10.99.0.53'))] + list(extra)
    body = struct.pack('!BBBBIHH', 2, 1, 6, 0, xid, 0, 0) + bytes(4) + yiaddr + SERVER + bytes(4)
    body += mac + bytes(10) + bytes(192) + COOKIE
    for code, value in options:
        body += bytes([code, len(value)]) + value
    body += b'\xff'
    return udp4(mac, SERVER_MAC, SERVER, dst_ip, 67, 68, body)


def dhcp_vectors():
    random = bytes.fromhex('5eed0d1c')
    xid = struct.unpack('!I', random)[0]  # random(4) on every call: every xid is this one
    runs = []

    # Run 1: with a host name; DISCOVER, OFFER -> REQUEST, ACK, T1 -> renewing REQUEST,
    # a late tick at T2 -> rebinding REQUEST, ACK (renewed), release -> RELEASE.
    mac = PORT_MAC
    hostname = 'tun-node'
    lease_s = 3600
    steps = []
    t0 = 0
    steps.append({'do': 'start', 'atMs': t0, 'frames': [h(udp4(BROADCAST, mac, bytes(4), ip('255.255.255.255'), 68, 67,
                  bootp(1, xid, 0, bytes(4), bytes(4), mac, common_options(1, mac, hostname))))], 'state': 'selecting'})
    t_offer = 3500
    secs = (t_offer - t0) // 1000
    offer = reply(xid, mac, 2, OFFERED, lease_s, ip('255.255.255.255'))
    request = bootp(1, xid, secs, bytes(4), bytes(4), mac,
                    common_options(3, mac, hostname) + [(50, OFFERED), (54, SERVER)])
    steps.append({'do': 'receive', 'atMs': t_offer, 'input': h(offer),
                  'frames': [h(udp4(BROADCAST, mac, bytes(4), ip('255.255.255.255'), 68, 67, request))],
                  'state': 'requesting'})
    t_ack = 3600
    base = t_offer  # the request start: when the first REQUEST went out
    renew_at = base + lease_s * 1000 // 2
    rebind_at = base + lease_s * 1000 * 7 // 8
    expires_at = base + lease_s * 1000
    steps.append({'do': 'receive', 'atMs': t_ack, 'input': h(reply(xid, mac, 5, OFFERED, lease_s, OFFERED)),
                  'frames': [], 'state': 'bound',
                  'lease': {'address': '10.99.0.7', 'prefix': 24, 'router': '10.99.0.1',
                            'renewAtMs': renew_at, 'rebindAtMs': rebind_at, 'expiresAtMs': expires_at}})
    renewing = bootp(1, xid, 0, OFFERED, bytes(4), mac, common_options(3, mac, hostname))
    steps.append({'do': 'tick', 'atMs': renew_at,
                  'frames': [h(udp4(SERVER_MAC, mac, OFFERED, SERVER, 68, 67, renewing))], 'state': 'renewing'})
    renewal_start = renew_at
    # A tick late enough to skip the renewing retransmission
    # (renew_at + max(60 s, (rebind_at - renew_at) / 2)) lands at T2.
    assert renew_at + max(60000, (rebind_at - renew_at) // 2) < rebind_at
    rebinding = bootp(1, xid, (rebind_at - renewal_start) // 1000, OFFERED, bytes(4), mac,
                      common_options(3, mac, hostname))
    steps.append({'do': 'tick', 'atMs': rebind_at,
                  'frames': [h(udp4(BROADCAST, mac, OFFERED, ip('255.255.255.255'), 68, 67, rebinding))],
                  'state': 'rebinding'})
    t_ack2 = rebind_at + 250
    base2 = renewal_start  # a renewal's lease counts from when the renewal began
    steps.append({'do': 'receive', 'atMs': t_ack2, 'input': h(reply(xid, mac, 5, OFFERED, lease_s, OFFERED)),
                  'frames': [], 'state': 'bound',
                  'lease': {'address': '10.99.0.7', 'prefix': 24, 'router': '10.99.0.1',
                            'renewAtMs': base2 + lease_s * 500, 'rebindAtMs': base2 + lease_s * 875,
                            'expiresAtMs': base2 + lease_s * 1000}})
    release = bootp(1, xid, 0, OFFERED, bytes(4), mac, [(53, bytes([7])), (61, b'\x01' + mac), (54, SERVER)])
    steps.append({'do': 'release', 'atMs': t_ack2 + 1000,
                  'frames': [h(udp4(SERVER_MAC, mac, OFFERED, SERVER, 68, 67, release))], 'state': 'stopped'})
    runs.append({'name': 'with a host name: DORA, renew, rebind, release', 'mac': h(mac), 'hostname': hostname,
                 'random': h(random), 'steps': steps})

    # Run 2: no host name; DISCOVER, a DISCOVER retransmitted, OFFER -> REQUEST, ACK with
    # T1 and T2, decline -> DECLINE, 10 s later -> DISCOVER.
    mac = PEER_MAC
    steps = []
    disc = lambda s: h(udp4(BROADCAST, mac, bytes(4), ip('255.255.255.255'), 68, 67,
                            bootp(1, xid, s, bytes(4), bytes(4), mac, common_options(1, mac, None))))
    t0 = 1000
    steps.append({'do': 'start', 'atMs': t0, 'frames': [disc(0)], 'state': 'selecting'})
    # Jitter for random(2) = 5e ed: floor(0x5eed * 1001 / 65536) - 500.
    jitter = (0x5EED * 1001) // 65536 - 500
    t_re = t0 + 2000 + jitter
    steps.append({'do': 'tick', 'atMs': t_re - 1, 'frames': [], 'state': 'selecting'})
    steps.append({'do': 'tick', 'atMs': t_re, 'frames': [disc((t_re - t0) // 1000)], 'state': 'selecting'})
    t_offer = t_re + 2200
    offer = reply(xid, mac, 2, ip('10.99.0.8'), 600, ip('10.99.0.8'))
    request = bootp(1, xid, (t_offer - t0) // 1000, bytes(4), bytes(4), mac,
                    common_options(3, mac, None) + [(50, ip('10.99.0.8')), (54, SERVER)])
    steps.append({'do': 'receive', 'atMs': t_offer, 'input': h(offer),
                  'frames': [h(udp4(BROADCAST, mac, bytes(4), ip('255.255.255.255'), 68, 67, request))],
                  'state': 'requesting'})
    t1, t2 = 200, 500
    steps.append({'do': 'receive', 'atMs': t_offer + 40,
                  'input': h(reply(xid, mac, 5, ip('10.99.0.8'), 600, ip('10.99.0.8'),
                                   [(58, struct.pack('!I', t1)), (59, struct.pack('!I', t2))])),
                  'frames': [], 'state': 'bound',
                  'lease': {'address': '10.99.0.8', 'prefix': 24, 'router': '10.99.0.1',
                            'renewAtMs': t_offer + t1 * 1000, 'rebindAtMs': t_offer + t2 * 1000,
                            'expiresAtMs': t_offer + 600 * 1000}})
    t_decline = t_offer + 1000
    decline = bootp(1, xid, 0, bytes(4), bytes(4), mac,
                    [(53, bytes([4])), (61, b'\x01' + mac), (50, ip('10.99.0.8')), (54, SERVER)])
    steps.append({'do': 'decline', 'atMs': t_decline,
                  'frames': [h(udp4(BROADCAST, mac, bytes(4), ip('255.255.255.255'), 68, 67, decline))],
                  'state': 'init'})
    steps.append({'do': 'tick', 'atMs': t_decline + 9999, 'frames': [], 'state': 'init'})
    steps.append({'do': 'tick', 'atMs': t_decline + 10000, 'frames': [disc(0)], 'state': 'selecting'})
    runs.append({'name': 'no host name: a retransmitted DISCOVER, T1 and T2 options, decline, DISCOVER 10 s later',
                 'mac': h(mac), 'hostname': None, 'random': h(random), 'steps': steps})
    return {'note': 'random(n) returns the first n bytes of `random` on every call: every xid is its u32',
            'runs': runs}


# ---------------------------------------------------------------- mapping.json

def next_hop(port, dst_text):
    """§17.5's model: {'dst': mac} or {'resolve': address} or {'drop': 'noRoute'}."""
    d = ipaddress.ip_address(dst_text)
    if d.version == 4:
        if dst_text == '255.255.255.255':
            return {'dst': h(BROADCAST)}
        if d in ipaddress.ip_network('224.0.0.0/4'):
            return {'dst': h(mac4(d.packed))}
        for a in port['addresses']:
            iface = ipaddress.ip_interface(a)
            if iface.version != 4 or d not in iface.network:
                continue
            if iface.network.prefixlen <= 30 and d == iface.network.broadcast_address:
                return {'dst': h(BROADCAST)}
            return {'resolve': str(d)}
        gw = [g for g in port['gateways'] if ipaddress.ip_address(g).version == 4]
        return {'resolve': gw[0]} if gw else {'drop': 'noRoute'}
    if d in ipaddress.ip_network('ff00::/8'):
        return {'dst': h(mac6(d.packed))}
    if d in ipaddress.ip_network('fe80::/10'):
        return {'resolve': str(d)}
    for a in port['addresses']:
        iface = ipaddress.ip_interface(a)
        if iface.version == 6 and iface.network.prefixlen < 128 and d in iface.network:
            return {'resolve': str(d)}
    gw = [g for g in port['gateways'] if ipaddress.ip_address(g).version == 6]
    return {'resolve': gw[0]} if gw else {'drop': 'noRoute'}


def mapping_vectors():
    ipv4 = [{'group': g, 'mac': h(mac4(ip(g)))} for g in
            ['224.0.0.1', '224.0.0.251', '239.255.255.250', '224.128.1.2', '239.127.0.1', '238.255.255.255']]
    ipv6 = [{'group': g, 'mac': h(mac6(ip(g)))} for g in
            ['ff02::1', 'ff02::2', 'ff02::fb', 'ff05::1:3', 'ff02::1:ff00:7', 'ff0e::dead:beef']]
    sol = []
    for a in ['fd00:99::7', 'fe80::1', '2001:db8::abcd:ef12', str(ipaddress.ip_address(PORT_LL))]:
        g = solicited(ip(a))
        sol.append({'address': a, 'group': str(ipaddress.ip_address(g)), 'mac': h(mac6(g))})
    links = []
    for mac in [PORT_MAC, PEER_MAC, bytes.fromhex('021122334455'), bytes.fromhex('fefefefefefe')]:
        ll = link_local(mac)
        links.append({'mac': h(mac), 'eui64': h(eui64(mac)), 'linkLocal': str(ipaddress.ip_address(ll)),
                      'slaacPrefix': 'fd00:99::/64',
                      'slaac': str(ipaddress.ip_address(ip('fd00:99::')[:8] + eui64(mac)))})
    ports = [
        {'addresses': ['10.99.0.7/24', 'fd00:99::7/64'], 'gateways': [],
         'destinations': ['255.255.255.255', '10.99.0.255', '10.99.0.2', '10.99.0.0', '224.0.0.251',
                          '239.255.255.250', '192.0.2.9', 'fd00:99::2', 'fe80::1', 'fe80::ffff:1:2',
                          'ff02::fb', 'ff02::1:ff00:2', '2001:db8::1']},
        {'addresses': ['10.99.0.7/24', '172.16.0.1/30', '192.168.5.8/31', '198.51.100.9/32', 'fd00:99::7/64',
                       'fd00:aa::1/128'],
         'gateways': ['10.99.0.1', 'fd00:99::1'],
         'destinations': ['172.16.0.3', '172.16.0.2', '192.168.5.9', '198.51.100.10', '10.99.1.255',
                          '192.0.2.9', '2001:db8::1', 'fd00:aa::2', 'fd00:99::ffff', 'fe80::2']},
    ]
    for p in ports:
        p['results'] = [dict({'destination': d}, **next_hop(p, d)) for d in p['destinations']]
        del p['destinations']
    return {
        'origin': 'generate.py from docs/spec/17-tun-l2.md §17.5, §17.6.3; BLAKE3 (the MACs) is b3sum',
        'ipv4Multicast': ipv4,
        'ipv6Multicast': ipv6,
        'solicitedNode': sol,
        'linkLocal': links,
        'nextHops': ports,
    }


def write(name, data):
    with open(os.path.join(HERE, name), 'w') as f:
        json.dump(data, f, indent=2, ensure_ascii=False)
        f.write('\n')


if __name__ == '__main__':
    write('mac.json', mac_vectors())
    write('frames.json', frame_vectors())
    write('mapping.json', mapping_vectors())
