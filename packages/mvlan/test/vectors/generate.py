#!/usr/bin/env python3
"""Writes the @peertap/mvlan vectors from docs/spec/16-fabric.md alone.

An independent implementation, sharing no code with src/: BLAKE3 is the
`b3sum` tool (the BLAKE3 team's Rust implementation, Debian package b3sum),
Ed25519 is the `cryptography` package (OpenSSL), the layouts are written
below with `struct`. Expected refusals are written by hand from the spec;
where this script also has a model (its own decoder), it stops unless the
model agrees.

Run from the repository root:
    python3 packages/mvlan/test/vectors/generate.py
It rewrites keys.json, statements.json, presence.json, frames.json and
directory.json in this folder; the output must not change.
"""
import json
import os
import struct
import subprocess
import unicodedata

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives import serialization

HERE = os.path.dirname(os.path.abspath(__file__))


# ---------------------------------------------------------------- primitives

def derive_key(context, material, length=32):
    out = subprocess.run(['b3sum', '--derive-key', context, '--length', str(length), '--no-names', '--raw', '-'],
                         input=material, capture_output=True, check=True)
    return out.stdout


def label(s):
    return derive_key('PeerTap v1 test vectors', s.encode())


def public_key(seed):
    return Ed25519PrivateKey.from_private_bytes(seed).public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def sign(seed, message):
    return Ed25519PrivateKey.from_private_bytes(seed).sign(message)


def ed25519_identity(name):
    seed = label('seed ' + name)
    return seed, bytes.fromhex('002408011220') + public_key(seed)


def h(b):
    return b.hex()


# ---------------------------------------------------------------- §16.1 keys

def fabric_keys(secret):
    auth_seed = derive_key('PeerTap v1 PSK relay-auth', secret)
    return {
        'secret': h(secret),
        'mvlanId': h(derive_key('PeerTap v1 MVLAN-ID', secret)),
        'frameBase': h(derive_key('PeerTap v1 PSK frame', secret)),
        'vftKey': h(derive_key('PeerTap v1 PSK vft', secret)),
        'hpKey': h(derive_key('PeerTap v1 PSK header', secret)),
        'credentialSeed': h(auth_seed),
        'credentialKey': h(public_key(auth_seed)),
    }


def port_mac(peer_id):
    mac = bytearray(derive_key('PeerTap v1 MVLAN MAC', peer_id, 6))
    mac[0] = (mac[0] | 0x02) & 0xFE
    return bytes(mac)


# ---------------------------------------------------------------- §16.2 statements

STATEMENT_LABEL = b'PeerTap v1 fabric epoch'


def statement(root_seed, epoch, credential_key, issued_at):
    body = b'\x01' + public_key(root_seed) + struct.pack('>I', epoch) + credential_key + struct.pack('>Q', issued_at)
    assert len(body) == 77
    return body + sign(root_seed, STATEMENT_LABEL + body)


def statement_verifies(b):
    """The script's own model of §16.2: decode, then verify."""
    if len(b) != 141 or b[0] != 1 or struct.unpack('>Q', b[69:77])[0] >= 2 ** 53:
        return 'malformed'
    try:
        Ed25519PrivateKey  # noqa: the import is the verifier's too
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
        Ed25519PublicKey.from_public_bytes(b[1:33]).verify(b[77:], STATEMENT_LABEL + b[:77])
        return 'ok'
    except Exception:
        return 'bad-signature'


# ---------------------------------------------------------------- §16.3 presence records

PRESENCE_LABEL = b'PeerTap v1 presence'


def record_body(role, peer_id, seq, issued_at, expires_at, addresses, vlans, load,
                version=1, address_count=None, vlan_count=None):
    out = bytes([version, role, len(peer_id)]) + peer_id + struct.pack('>QII', seq, issued_at, expires_at)
    out += bytes([len(addresses) if address_count is None else address_count])
    for a in addresses:
        out += bytes([len(a)]) + a
    out += bytes([len(vlans) if vlan_count is None else vlan_count])
    for vlan_id, name in vlans:
        out += vlan_id + bytes([len(name)]) + name
    return out + struct.pack('>H', load)


def record(seed, *args, **kwargs):
    body = record_body(*args, **kwargs)
    return body + sign(seed, PRESENCE_LABEL + body)


# §16.3: white space is ECMAScript's \s (the characters below), as 15-invitations.md §15.1's addresses.
WHITE_SPACE = set('\t\n\v\f\r \u00a0\u1680\u2028\u2029\u202f\u205f\u3000\ufeff') | {chr(c) for c in range(0x2000, 0x200B)}


def has_control(text):
    return any(unicodedata.category(c) == 'Cc' for c in text)


def multihash_ok(b):
    """01-identifiers.md §1.2: minimal varint code, minimal varint length 1..64, exactly that many bytes."""
    i = 0

    def varint():
        nonlocal i
        value, shift = 0, 0
        while True:
            if i >= len(b) or shift >= 28:
                return None
            byte = b[i]
            i += 1
            if byte == 0 and shift > 0:
                return None
            value |= (byte & 0x7F) << shift
            if byte & 0x80 == 0:
                return value
            shift += 7
    code = varint()
    length = varint()
    return code is not None and length is not None and 1 <= length <= 64 and i + length == len(b)


def decode_record(b):
    """The script's own model of §16.3 decoding: a dict, or None (malformed)."""
    if len(b) > 1200 or len(b) < 64 + 23:
        return None
    end = len(b) - 64
    if b[0] != 1 or b[1] not in (0, 1):
        return None
    n = b[2]
    at = 3
    if n == 0 or at + n + 17 > end or not multihash_ok(b[at:at + n]):
        return None
    peer_id = b[at:at + n]
    at += n
    seq, issued, expires = struct.unpack('>QII', b[at:at + 16])
    at += 16
    if expires <= issued:
        return None
    count = b[at]
    at += 1
    if count > 8:
        return None
    addresses = []
    for _ in range(count):
        if at >= end:
            return None
        length = b[at]
        at += 1
        if length == 0 or at + length > end:
            return None
        try:
            text = b[at:at + length].decode('utf-8')
        except UnicodeDecodeError:
            return None
        if not text.startswith('/') or any(c in WHITE_SPACE for c in text) or has_control(text):
            return None
        addresses.append(text)
        at += length
    if at >= end:
        return None
    count = b[at]
    at += 1
    if count > 32:
        return None
    vlans, seen = [], set()
    for _ in range(count):
        if at + 33 > end:
            return None
        vlan_id = b[at:at + 32]
        at += 32
        if vlan_id in seen:
            return None
        seen.add(vlan_id)
        length = b[at]
        at += 1
        if length > 64 or at + length > end:
            return None
        try:
            name = b[at:at + length].decode('utf-8')
        except UnicodeDecodeError:
            return None
        if unicodedata.normalize('NFC', name) != name or has_control(name):
            return None
        vlans.append((vlan_id, name))
        at += length
    if at + 2 != end:
        return None
    return {'role': b[1], 'peerId': peer_id, 'seq': seq, 'issuedAt': issued, 'expiresAt': expires, 'addresses': addresses,
            'vlans': vlans, 'load': struct.unpack('>H', b[at:at + 2])[0]}


def record_verifies(b):
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
    r = decode_record(b)
    if r is None:
        return 'malformed'
    peer_id = r['peerId']
    if len(peer_id) != 38 or peer_id[:6] != bytes.fromhex('002408011220'):
        return 'bad-signature'
    try:
        Ed25519PublicKey.from_public_bytes(peer_id[6:]).verify(b[-64:], PRESENCE_LABEL + b[:-64])
        return 'ok'
    except Exception:
        return 'bad-signature'


# ---------------------------------------------------------------- §16.4 frames and batches

def frame(dst, src, rec):
    return dst + src + struct.pack('>H', 0x88B5) + b'\x01' + rec


def batch(records):
    return b'\x01' + struct.pack('>H', len(records)) + b''.join(struct.pack('>H', len(r)) + r for r in records)


# ---------------------------------------------------------------- the vectors

def write(name, data):
    with open(os.path.join(HERE, name), 'w') as f:
        json.dump(data, f, indent=2, ensure_ascii=False)
        f.write('\n')


def main():
    secrets = [b'\x00', b'PeerTap test fabric secret', label('fabric secret one'), label('fabric secret two') * 3]
    alice_seed, alice = ed25519_identity('alice')
    bob_seed, bob = ed25519_identity('bob')
    sha_peer = bytes.fromhex('1220') + label('sha carol')
    keys = {
        'fabrics': [fabric_keys(s) for s in secrets],
        'portMacs': [{'peerId': h(p), 'mac': h(port_mac(p))} for p in
                     [alice, bob, sha_peer] + [ed25519_identity('member %d' % i)[1] for i in range(8)]],
    }
    # Every first-byte bit combination of the hash is covered by some PeerId.
    assert len({derive_key('PeerTap v1 MVLAN MAC', bytes.fromhex(m['peerId']), 1)[0] & 3 for m in keys['portMacs']}) == 4
    write('keys.json', keys)

    root_seed = label('fabric root')
    other_root = label('fabric root other')
    cred = public_key(label('fabric secret one'))
    valid_statements = []
    for epoch, key, issued in [(0, bytes.fromhex(fabric_keys(secrets[2])['credentialKey']), 1_800_000_000),
                               (1, bytes.fromhex(fabric_keys(secrets[3])['credentialKey']), 1_800_086_400),
                               (0xFFFFFFFF, cred, 2 ** 53 - 1)]:
        s = statement(root_seed, epoch, key, issued)
        assert statement_verifies(s) == 'ok'
        valid_statements.append({'rootSeed': h(root_seed), 'rootKey': h(public_key(root_seed)), 'epoch': epoch,
                                 'credentialKey': h(key), 'issuedAt': issued, 'statement': h(s)})
    good = bytes.fromhex(valid_statements[0]['statement'])
    malformed_statements = {
        'empty': b'',
        'one byte short': good[:140],
        'one byte long': good + b'\x00',
        'version 2': b'\x02' + good[1:],
        'issuedAt 2^53': good[:69] + struct.pack('>Q', 2 ** 53) + good[77:],
    }
    forged_statements = {
        'rootKey bit flipped': good[:1] + bytes([good[1] ^ 1]) + good[2:],
        'epoch changed': good[:33] + struct.pack('>I', 1) + good[37:],
        'credentialKey bit flipped': good[:37] + bytes([good[37] ^ 0x80]) + good[38:],
        'issuedAt changed': good[:76] + bytes([good[76] ^ 1]) + good[77:],
        'R bit flipped': good[:77] + bytes([good[77] ^ 1]) + good[78:],
        'S bit flipped': good[:140] + bytes([good[140] ^ 0x01]),
        'signed by another root': (lambda s: s[:1] + public_key(root_seed) + s[33:])(statement(other_root, 0, cred, 1_800_000_000)),
    }
    for name, s in malformed_statements.items():
        assert statement_verifies(s) == 'malformed', name
    for name, s in forged_statements.items():
        assert statement_verifies(s) == 'bad-signature', name
    write('statements.json', {
        'valid': valid_statements,
        'malformed': [{'name': k, 'statement': h(v)} for k, v in malformed_statements.items()],
        'forged': [{'name': k, 'statement': h(v)} for k, v in forged_statements.items()],
    })

    vlan_a = derive_key('PeerTap v1 VLAN-ID', alice + b'\x00' + 'lab'.encode())
    vlan_b = derive_key('PeerTap v1 VLAN-ID', bob + b'\x00' + 'café'.encode())
    valid_inputs = [
        {'role': 'node', 'seed': alice_seed, 'peerId': alice, 'seq': 1, 'issuedAt': 1_800_000_000,
         'expiresAt': 1_800_000_900, 'addresses': [], 'vlans': [], 'load': 0},
        {'role': 'relay', 'seed': bob_seed, 'peerId': bob, 'seq': 0x0102030405060708, 'issuedAt': 1_800_000_000,
         'expiresAt': 1_800_003_600,
         'addresses': ['/ip4/198.51.100.9/udp/4001/quic-v1', '/dns4/relay.example.org/tcp/4001'],
         'vlans': [(vlan_a, 'lab'), (vlan_b, 'café'), (bytes(32), '')], 'load': 513},
        {'role': 'node', 'seed': alice_seed, 'peerId': alice, 'seq': 2 ** 64 - 1, 'issuedAt': 2 ** 32 - 2,
         'expiresAt': 2 ** 32 - 1, 'addresses': ['/' + 'a' * 254, '/' + 'é' * 127, '/' + 'b' * 254, '/' + 'c' * 254,
                                                 '/' + 'd' * 49], 'vlans': [], 'load': 65535},
        {'role': 'node', 'seed': alice_seed, 'peerId': alice, 'seq': 7, 'issuedAt': 1_800_000_000,
         'expiresAt': 1_800_000_001, 'addresses': ['/ip6/::1/udp/1'],
         'vlans': [(bytes([i]) * 32, '') for i in range(32)], 'load': 1},
    ]
    valid_records = []
    for v in valid_inputs:
        vlans = [(i, n.encode()) for i, n in v['vlans']]
        rec = record(v['seed'], 0 if v['role'] == 'node' else 1, v['peerId'], v['seq'], v['issuedAt'], v['expiresAt'],
                     [a.encode() for a in v['addresses']], vlans, v['load'])
        assert len(rec) <= 1200 and record_verifies(rec) == 'ok'
        valid_records.append({
            'seed': h(v['seed']), 'role': v['role'], 'peerId': h(v['peerId']), 'seq': str(v['seq']),
            'issuedAt': v['issuedAt'], 'expiresAt': v['expiresAt'], 'addresses': v['addresses'],
            'vlans': [{'vlanId': h(i), **({'name': n} if n else {})} for i, n in v['vlans']],
            'load': v['load'], 'record': h(rec)})
    assert len(bytes.fromhex(valid_records[2]['record'])) == 1200

    def m(**kw):
        base = dict(role=0, peer_id=alice, seq=1, issued_at=1_800_000_000, expires_at=1_800_000_900,
                    addresses=[b'/a'], vlans=[(vlan_a, b'n')], load=0)
        base.update(kw)
        return record(alice_seed, base.pop('role'), base.pop('peer_id'), base.pop('seq'), base.pop('issued_at'),
                      base.pop('expires_at'), base.pop('addresses'), base.pop('vlans'), base.pop('load'), **base)

    ok = m()
    malformed_records = {
        'version 2': m(version=2),
        'role 2': m(role=2),
        'peerId empty': m(peer_id=b''),
        'peerId not a multihash': m(peer_id=bytes.fromhex('0024080112')),
        'expiresAt equal to issuedAt': m(issued_at=5, expires_at=5),
        'expiresAt before issuedAt': m(issued_at=6, expires_at=5),
        '9 addresses': m(addresses=[b'/a'] * 9),
        'address count past the addresses': m(address_count=2),
        'address empty': m(addresses=[b'']),
        'address not starting with /': m(addresses=[b'a/']),
        'address with a space': m(addresses=[b'/a b']),
        'address with a tab': m(addresses=[b'/a\tb']),
        'address with DEL': m(addresses=[b'/a\x7f']),
        'address with U+FEFF': m(addresses=['/a\ufeff'.encode()]),
        'address with U+3000': m(addresses=['/a\u3000'.encode()]),
        'address not UTF-8': m(addresses=[b'/\xc3']),
        '33 VLANs': m(vlans=[(bytes([i]) * 32, b'') for i in range(33)]),
        'VLAN count past the VLANs': m(vlan_count=2),
        'VLAN listed twice': m(vlans=[(vlan_a, b''), (vlan_a, b'')]),
        'name of 65 bytes': m(vlans=[(vlan_a, b'a' * 65)]),
        'name not NFC': m(vlans=[(vlan_a, 'e\u0301'.encode())]),
        'name with U+0085': m(vlans=[(vlan_a, '\u0085'.encode())]),
        'name not UTF-8': m(vlans=[(vlan_a, b'\xff')]),
        'a byte left over': ok[:-64] + b'\x00' + ok[-64:],
        'signature cut': ok[:-1],
        'over 1200 bytes': m(addresses=[b'/' + b'a' * 254] * 5),
        'empty': b'',
    }
    for name, rec in malformed_records.items():
        assert record_verifies(rec) == 'malformed', name
    forged_records = {
        'signed by another key': record(bob_seed, 0, alice, 1, 1_800_000_000, 1_800_000_900, [], [], 0),
        'seq changed': (lambda r: r[:41 + 7] + bytes([r[48] ^ 1]) + r[49:])(ok),
        'load changed': ok[:-66] + bytes([ok[-66] ^ 1]) + ok[-65:],
        'S bit flipped': ok[:-1] + bytes([ok[-1] ^ 1]),
        'PeerId not Ed25519': record(alice_seed, 0, sha_peer, 1, 1_800_000_000, 1_800_000_900, [], [], 0),
    }
    for name, rec in forged_records.items():
        assert record_verifies(rec) == 'bad-signature', name
    write('presence.json', {
        'valid': valid_records,
        'malformed': [{'name': k, 'record': h(v)} for k, v in malformed_records.items()],
        'forged': [{'name': k, 'record': h(v)} for k, v in forged_records.items()],
    })

    records = [bytes.fromhex(r['record']) for r in valid_records]
    broadcast = b'\xff' * 6
    frames = [{'dst': h(broadcast), 'src': h(port_mac(alice)), 'record': h(records[0]),
               'frame': h(frame(broadcast, port_mac(alice), records[0]))},
              {'dst': h(port_mac(alice)), 'src': h(port_mac(bob)), 'record': h(records[1]),
               'frame': h(frame(port_mac(alice), port_mac(bob), records[1]))}]
    f0 = frame(broadcast, port_mac(alice), records[0])
    bad_frames = {
        'empty': b'',
        'header and type only': f0[:15],
        'IPv4 ethertype': f0[:12] + b'\x08\x00' + f0[14:],
        'type byte 2': f0[:14] + b'\x02' + f0[15:],
        'record of 1201 bytes': f0[:15] + bytes(1201),
    }
    batches = [{'records': [], 'batch': h(batch([]))},
               {'records': [h(r) for r in records[:1]], 'batch': h(batch(records[:1]))},
               {'records': [h(r) for r in records], 'batch': h(batch(records))}]
    b2 = batch(records[:2])
    bad_batches = {
        'empty': b'',
        'two bytes': b'\x01\x00',
        'version 2': b'\x02' + b2[1:],
        'count past the records': b'\x01\x00\x03' + b2[3:],
        'count under the records': b'\x01\x00\x01' + b2[3:],
        'truncated': b2[:-1],
        'a byte left over': b2 + b'\x00',
        'a zero-length record': b'\x01\x00\x01\x00\x00',
        'a record of 1201 bytes': b'\x01\x00\x01\x04\xb1' + bytes(1201),
        '4097 records': b'\x01\x10\x01' + b'\x00\x01\x07' * 4097,
    }
    write('frames.json', {
        'frames': frames,
        'badFrames': [{'name': k, 'frame': h(v)} for k, v in bad_frames.items()],
        'batches': batches,
        'badBatches': [{'name': k, 'batch': h(v)} for k, v in bad_batches.items()],
    })

    write('directory.json', directory_vectors())


# ---------------------------------------------------------------- §16.5 the directory

B58 = '123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz'


def base58(data):
    n = int.from_bytes(data, 'big')
    out = ''
    while n:
        n, r = divmod(n, 58)
        out = B58[r] + out
    return '1' * (len(data) - len(data.lstrip(b'\x00'))) + out


class Directory:
    """§16.5's checks in order; a table that is full drops every expired entry (of both tables) and looks again."""

    def __init__(self, max_peers, max_relays, rate, max_lifetime, skew, own=None):
        self.limits = {0: max_peers, 1: max_relays}
        self.rate, self.max_lifetime, self.skew, self.own = rate, max_lifetime, skew, own
        self.entries = {}  # peerId bytes -> dict(role, seq, expiresAt, times)

    def count(self, role):
        return sum(1 for e in self.entries.values() if e['role'] == role)

    def offer(self, rec, now, role=None):
        r = decode_record(rec)
        if r is None:
            return {'reason': 'malformed'}
        if r['expiresAt'] - r['issuedAt'] > self.max_lifetime:
            return {'reason': 'lifetime'}
        if r['expiresAt'] <= now:
            return {'reason': 'expired'}
        if r['issuedAt'] > now + self.skew:
            return {'reason': 'future'}
        if role is not None and r['role'] != role:
            return {'reason': 'role'}
        peer = r['peerId']
        if peer == self.own:
            return {'reason': 'stale'}
        held = self.entries.get(peer)
        if held is not None and r['seq'] <= held['seq']:
            return {'reason': 'stale'}
        if held is not None and len([t for t in held['times'] if t > now - 60]) >= self.rate:
            return {'reason': 'rate'}
        if held is None or held['role'] != r['role']:
            if self.count(r['role']) >= self.limits[r['role']]:
                self.entries = {k: v for k, v in self.entries.items() if v['expiresAt'] > now}
                if self.count(r['role']) >= self.limits[r['role']]:
                    return {'reason': 'full'}
        if record_verifies(rec) != 'ok':
            return {'reason': 'bad-signature'}
        held = self.entries.get(peer)
        times = [] if held is None else [t for t in held['times'] if t > now - 60]
        self.entries[peer] = {'role': r['role'], 'seq': r['seq'], 'expiresAt': r['expiresAt'], 'times': times + [now]}
        return {'change': 'new' if held is None else 'updated'}


def directory_vectors():
    t = 1_800_000_000
    ids = {name: ed25519_identity(name) for name in ['alice', 'bob', 'carol', 'dave', 'erin', 'self']}

    def rec(name, seq, issued=t, lifetime=900, role=0, signer=None, vlans=()):
        seed, peer = ids[name]
        return record(ids[signer][0] if signer else seed, role, peer, seq, issued, issued + lifetime,
                      [b'/ip4/192.0.2.1/udp/7400'], list(vlans), 0)

    limits = {'maxPeers': 2, 'maxRelays': 1, 'recordsPerPeerPerMinute': 2, 'maxLifetimeSeconds': 1800,
              'clockSkewSeconds': 60}
    d = Directory(2, 1, 2, 1800, 60, own=ids['self'][1])
    steps = []

    def step(what, rec_bytes, now, role=None):
        expected = d.offer(rec_bytes, now, None if role is None else {'node': 0, 'relay': 1}[role])
        steps.append({'what': what, 'record': h(rec_bytes), 'now': now, **({'role': role} if role else {}),
                      'expect': expected})

    step('alice, new', rec('alice', 10), t)
    step('alice again: a replay', rec('alice', 10), t + 1)
    step('alice, a lower seq', rec('alice', 9), t + 1)
    step('alice, seq 11: updated', rec('alice', 11), t + 2)
    step('alice, seq 12: the third in a minute', rec('alice', 12), t + 3)
    step('alice, seq 12 once the first left the window', rec('alice', 12), t + 60)
    step('bob, forged by carol', rec('bob', 1, signer='carol'), t + 61)
    step('bob, a lifetime over the limit', rec('bob', 1, lifetime=1801), t + 61)
    step('bob, expired', rec('bob', 1, issued=t - 900), t + 61)
    step('bob, issued beyond the skew', rec('bob', 1, issued=t + 122), t + 61)
    step('bob, issued at the skew', rec('bob', 1, issued=t + 121), t + 61)
    step('carol: the node table is full', rec('carol', 1), t + 62)
    step('carol as a relay, where nodes are required', rec('carol', 1, role=1), t + 62, 'node')
    step('carol, a relay: the relay table has room', rec('carol', 1, role=1), t + 62)
    step('dave, a relay: the relay table is full', rec('dave', 1, role=1), t + 63)
    step('our own record', rec('self', 1), t + 63)
    step('a forged replay of alice is stale, not bad-signature', rec('alice', 12, signer='bob'), t + 64)
    step('garbage', b'\x01\x00', t + 64)
    # alice's seq 12 expires at t + 960; bob's at t + 1021.
    step('alice, a lower seq after hers expired, not yet pruned: stale', rec('alice', 5, issued=t + 961), t + 961)
    step('erin: the node table is full of bob and an expired alice; pruned, then new',
         rec('erin', 1, issued=t + 961), t + 961)
    step('alice, pruned, so new: but the node table is full', rec('alice', 5, issued=t + 961), t + 962)
    step('alice as a relay: carol expired and was pruned, so there is room', rec('alice', 6, issued=t + 961, role=1),
         t + 963)
    live = sorted((base58(p), e) for p, e in d.entries.items())
    return {'limits': limits, 'self': h(ids['self'][1]), 'steps': steps,
            'final': [{'peerId': k, 'role': 'node' if e['role'] == 0 else 'relay', 'seq': str(e['seq'])}
                      for k, e in live]}


if __name__ == '__main__':
    main()
