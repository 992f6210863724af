#!/usr/bin/env python3
"""Writes the @peertap/invite vectors from docs/spec/15-invitations.md alone.

An independent implementation, sharing no code with src/: BLAKE3 is the
`b3sum` tool (the BLAKE3 team's Rust implementation, Debian package b3sum),
base32 is Python's base64 module, HPKE (RFC 9180, the suite of
docs/spec/06-hpke.md) is written out below over the `cryptography` package's
X25519 and AES-256-GCM and the standard library's HMAC-SHA256, and checked
first against @peertap/crypto's own PeerTap HPKE vectors. Expected refusal
reasons and book and pool outcomes are written by hand from the spec; where
this script also models them, it stops unless its model agrees.

Run from the repository root:
    python3 packages/invite/test/vectors/generate.py
It rewrites codes.json, join.json, book.json and addresses.json in this folder;
the output must not change.
"""
import base64
import hashlib
import hmac
import json
import os
import struct
import subprocess
import unicodedata

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives import serialization

HERE = os.path.dirname(os.path.abspath(__file__))


# ---------------------------------------------------------------- BLAKE3

def derive_key(context, material, length=32):
    out = subprocess.run(['b3sum', '--derive-key', context, '--length', str(length), '--no-names', '--raw', '-'],
                         input=material, capture_output=True, check=True)
    return out.stdout


def label(s):
    return derive_key('PeerTap v1 test vectors', s.encode())


def ed25519_peer(s):
    return bytes.fromhex('002408011220') + label('peer ' + s)


def sha256_peer(s):
    return bytes.fromhex('1220') + label('sha ' + s)


def vlan_id(owner, name):
    return derive_key('PeerTap v1 VLAN-ID', owner + b'\x00' + unicodedata.normalize('NFC', name).encode())


B58 = '123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz'


def base58(data):
    n = int.from_bytes(data, 'big')
    out = ''
    while n:
        n, r = divmod(n, 58)
        out = B58[r] + out
    return '1' * (len(data) - len(data.lstrip(b'\x00'))) + out


def pattern(length, seed):
    return bytes((i * 131 + seed * 7 + (i >> 8)) & 0xFF for i in range(length))


# ---------------------------------------------------------------- §15.1, §15.2 codes

PREFIX = 'peertap-invite:'


def payload_of(inv, version=1):
    name = inv['name'].encode()
    out = bytes([version]) + inv['vlanId'] + bytes([len(name)]) + name
    founder = inv.get('founder', b'')  # absent: the owner founded the VLAN, written as length 0
    out += bytes([len(inv['owner'])]) + inv['owner'] + bytes([len(founder)]) + founder + inv['ownerHpkeKey']
    out += bytes([len(inv['addresses'])])
    for a in inv['addresses']:
        b = a.encode()
        out += bytes([len(b)]) + b
    out += inv['secret'] + struct.pack('>I', inv['expiresAt']) + struct.pack('>H', len(inv['ticket'])) + inv['ticket']
    return out


def b32(data):
    return base64.b32encode(data).decode().rstrip('=').lower()


def code_of_payload(payload):
    return PREFIX + b32(payload + derive_key('PeerTap v1 invitation code checksum', payload, 5))


def inv_json(inv):
    out = {'vlanId': inv['vlanId'].hex(), 'name': inv['name'], 'owner': inv['owner'].hex()}
    if 'founder' in inv:
        out['founder'] = inv['founder'].hex()
    out.update({
        'ownerHpkeKey': inv['ownerHpkeKey'].hex(), 'addresses': inv['addresses'], 'secret': inv['secret'].hex(),
        'expiresAt': inv['expiresAt'], 'ticket': inv['ticket'].hex(),
    })
    return out


def invitation(owner, name, founder=None, **fields):
    inv = {
        'vlanId': vlan_id(founder or owner, name), 'name': name, 'owner': owner,
        'ownerHpkeKey': label('hpke ' + name), 'addresses': [], 'secret': label('secret ' + name)[:16],
        'expiresAt': 1_800_000_000, 'ticket': b'',
    }
    if founder is not None:
        inv['founder'] = founder
    inv.update(fields)
    return inv


alice = ed25519_peer('alice')
bob = ed25519_peer('bob')
carol = ed25519_peer('carol')
relay = ed25519_peer('relay')
alice_text = base58(alice)
relay_text = base58(relay)

long_name = ('\u00e9' * 32)  # 64 bytes of UTF-8 in NFC
assert len(long_name.encode()) == 64
long_address = '/dns4/' + 'a' * (255 - len('/dns4/') - len('/tcp/7400')) + '/tcp/7400'
assert len(long_address.encode()) == 255

valid_cases = [
    ('smallest: no address, no ticket', invitation(alice, 'lab')),
    ('typical: a direct address and a relay circuit, a 64-byte ticket',
     invitation(alice, 'office', addresses=[
         f'/ip4/10.1.0.2/tcp/7400/p2p/{alice_text}',
         f'/ip4/198.51.100.9/tcp/4001/p2p/{relay_text}/p2p-circuit/p2p/{alice_text}',
     ], ticket=pattern(64, 1), expiresAt=1_800_086_400)),
    ('limits: 64-byte non-ASCII name, sha2-256 owner, 8 addresses one of 255 bytes, 1024-byte ticket, last u32 second',
     invitation(sha256_peer('dave'), long_name, addresses=[long_address] + [f'/ip6/2001:db8::{i}/udp/7400/quic-v1' for i in range(1, 8)],
                ticket=pattern(1024, 2), expiresAt=0xFFFF_FFFF)),
    ('expired long ago: decoding does not look at the time', invitation(bob, 'old', expiresAt=0)),
    ('handed over: bob owns alice\'s lab (the VLAN-ID is alice\'s), a direct address',
     invitation(bob, 'lab', founder=alice, addresses=['/ip4/10.1.0.3/tcp/7400'])),
    ('handed over to a sha2-256 owner by an Ed25519 founder, no address',
     invitation(sha256_peer('dave'), 'office', founder=carol)),
]

valid = []
for comment, inv in valid_cases:
    p = payload_of(inv)
    valid.append({'comment': comment, 'invitation': inv_json(inv), 'payload': p.hex(),
                  'checksum': derive_key('PeerTap v1 invitation code checksum', p, 5).hex(), 'code': code_of_payload(p)})

base_inv = valid_cases[1][1]
base_code = valid[1]['code']
body = base_code[len(PREFIX):]

# Texts a person may paste that decode to the same invitation.
variants = [
    ('upper case', base_code.upper()),
    ('prefix in mixed case, spaces around', '  PeerTap-Invite:' + body + ' \n'),
    ('wrapped at 76 columns with CRLF, as mail does', '\r\n'.join(
        [base_code[i:i + 76] for i in range(0, len(base_code), 76)])),
    ('hyphens every 5 characters and a tab', PREFIX + '\t' + '-'.join(body[i:i + 5] for i in range(0, len(body), 5))),
    ('whitespace inside the prefix', 'peertap-\n invite:' + body),
]
accepted = [{'comment': c, 'text': t, 'payload': valid[1]['payload']} for c, t in variants]


def change_char(text, index):
    c = text[index]
    repl = 'a' if c != 'a' else 'b'
    return text[:index] + repl + text[index + 1:]


def with_payload(p):
    return code_of_payload(p)


def field_payload(**over):
    inv = dict(base_inv)
    inv.update(over)
    return payload_of(inv)


good = payload_of(base_inv)
handed_inv = valid_cases[4][1]
mid = len(PREFIX) + len(body) // 2
damaged = [
    ('wrong prefix', 'peertap:' + body, 'not-a-code'),
    ('the body alone', body, 'not-a-code'),
    ('empty text', '', 'not-a-code'),
    ('longer than 32768 characters', PREFIX + 'a' * 32_768, 'too-long'),
    ('a digit 1 in the body', base_code[:mid] + '1' + base_code[mid + 1:], 'bad-character', mid),
    ('a digit 0 (not the letter o)', base_code[:-3] + '0' + base_code[-2:], 'bad-character', len(base_code) - 3),
    ('base32 padding', base_code + '=', 'bad-character', len(base_code)),
    ('a non-ASCII letter', base_code[:20] + '\u00e9' + base_code[21:], 'bad-character', 20),
    ('nothing after the prefix', PREFIX, 'truncated'),
    ('9 characters: 5 bytes, not even a checksum and a version', PREFIX + body[:9], 'truncated'),
    ('one character changed in the middle', change_char(base_code, mid), 'checksum'),
    ('one character changed at the start of the body', change_char(base_code, len(PREFIX)), 'checksum'),
    ('one character changed at the end', change_char(base_code, len(base_code) - 1), 'checksum'),
    ('two neighbours swapped', base_code[:mid] + base_code[mid + 1] + base_code[mid] + base_code[mid + 2:], 'checksum'),
    ('one character missing', base_code[:mid] + base_code[mid + 1:], 'checksum'),
    ('one character too many', base_code[:mid] + 'q' + base_code[mid:], 'checksum'),
    ('cut short by mail (the last 40 characters lost)', base_code[:-40], 'checksum'),
    ('version 2', with_payload(bytes([2]) + good[1:]), 'unknown-version'),
    ('version 0', with_payload(bytes([0]) + good[1:]), 'unknown-version'),
    ('payload cut inside the owner key, checksum recomputed', with_payload(good[:60]), 'truncated'),
    ('payload cut inside the ticket', with_payload(good[:-1]), 'truncated'),
    ('a byte after the ticket', with_payload(good + b'\x00'), 'trailing-bytes'),
    ('name length 0', with_payload(good[:33] + b'\x00' + good[33 + 1 + len('office'):]), 'bad-field'),
    ('name not in NFC (e + U+0301)', with_payload(field_payload(name='cafe\u0301', vlanId=vlan_id(alice, 'caf\u00e9'))), 'bad-field'),
    ('name with a newline', with_payload(field_payload(name='lab\n')), 'bad-field'),
    ('name not UTF-8', with_payload(good[:33] + b'\x02\xc3\x28' + good[33 + 1 + len('office'):]), 'bad-field'),
    ('founder not a multihash (length byte says 33, 32 follow)',
     with_payload(field_payload(founder=bytes.fromhex('0021') + bytes(32))), 'bad-field'),
    ('founder length 1: not a multihash',
     with_payload(field_payload(founder=b'\x00')), 'bad-field'),
    ('founder written out equal to the owner',
     with_payload(field_payload(founder=alice)), 'bad-field'),
    ('payload cut inside the founder', with_payload(payload_of(handed_inv)[:100]), 'truncated'),
    ('a founder, but the VLAN-ID of the owner and the name',
     with_payload(field_payload(founder=carol)), 'vlan-id-mismatch'),
    ('a founder dropped from a handed-over code: the VLAN-ID is the founder\'s',
     with_payload(payload_of({k: v for k, v in handed_inv.items() if k != 'founder'})), 'vlan-id-mismatch'),
    ('owner not a multihash (length byte says 33, 32 follow)',
     with_payload(field_payload(owner=bytes.fromhex('0021') + bytes(32))), 'bad-field'),
    ('an empty address', with_payload(field_payload(addresses=[''])), 'bad-field'),
    ('an address not starting with /', with_payload(field_payload(addresses=['ip4/10.0.0.1/tcp/1'])), 'bad-field'),
    ('an address with a space', with_payload(field_payload(addresses=['/dns4/a b/tcp/1'])), 'bad-field'),
    ('9 addresses', with_payload(field_payload(addresses=['/ip4/10.0.0.1/tcp/1'] * 9)), 'bad-field'),
    ('a ticket of 1025 bytes', with_payload(field_payload(ticket=bytes(1025))), 'bad-field'),
    ('the VLAN-ID of another name', with_payload(field_payload(vlanId=vlan_id(alice, 'lab'))), 'vlan-id-mismatch'),
    ('the VLAN-ID of another owner', with_payload(field_payload(vlanId=vlan_id(bob, 'office'))), 'vlan-id-mismatch'),
]
# The address-not-UTF-8 case is built by hand: one address of bytes ff fe.
p = bytearray(payload_of(dict(base_inv, addresses=['/x'])))
at = p.index(b'\x02/x')
p[at + 1:at + 3] = b'\xff\xfe'
damaged.append(('an address not UTF-8', with_payload(bytes(p)), 'bad-field'))

damaged_json = []
for entry in damaged:
    assert entry[1] != base_code, entry[0]
    item = {'comment': entry[0], 'text': entry[1], 'reason': entry[2]}
    if len(entry) > 3:
        item['position'] = entry[3]
    damaged_json.append(item)

with open(os.path.join(HERE, 'codes.json'), 'w') as f:
    json.dump({'valid': valid, 'accepted': accepted, 'damaged': damaged_json}, f, indent=2, ensure_ascii=False)
    f.write('\n')


# ---------------------------------------------------------------- HPKE (RFC 9180, 06-hpke.md)

def hkdf_extract(salt, ikm):
    return hmac.new(salt or bytes(32), ikm, hashlib.sha256).digest()


def hkdf_expand(prk, info, length):
    out, t, i = b'', b'', 1
    while len(out) < length:
        t = hmac.new(prk, t + info + bytes([i]), hashlib.sha256).digest()
        out += t
        i += 1
    return out[:length]


KEM_SUITE = b'KEM' + struct.pack('>H', 0x0020)
HPKE_SUITE = b'HPKE' + struct.pack('>HHH', 0x0020, 0x0001, 0x0002)


def labeled_extract(suite, salt, lbl, ikm):
    return hkdf_extract(salt, b'HPKE-v1' + suite + lbl + ikm)


def labeled_expand(suite, prk, lbl, info, length):
    return hkdf_expand(prk, struct.pack('>H', length) + b'HPKE-v1' + suite + lbl + info, length)


def derive_key_pair(ikm):
    sk = labeled_expand(KEM_SUITE, labeled_extract(KEM_SUITE, b'', b'dkp_prk', ikm), b'sk', b'', 32)
    pk = X25519PrivateKey.from_private_bytes(sk).public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return sk, pk


def seal(pk_r, info, aad, pt, ikm_e):
    sk_e, pk_e = derive_key_pair(ikm_e)
    dh = X25519PrivateKey.from_private_bytes(sk_e).exchange(X25519PublicKey.from_public_bytes(pk_r))
    kem_context = pk_e + pk_r
    shared = labeled_expand(KEM_SUITE, labeled_extract(KEM_SUITE, b'', b'eae_prk', dh), b'shared_secret', kem_context, 32)
    ctx = b'\x00' + labeled_extract(HPKE_SUITE, b'', b'psk_id_hash', b'') + labeled_extract(HPKE_SUITE, b'', b'info_hash', info)
    secret = labeled_extract(HPKE_SUITE, shared, b'secret', b'')
    key = labeled_expand(HPKE_SUITE, secret, b'key', ctx, 32)
    nonce = labeled_expand(HPKE_SUITE, secret, b'base_nonce', ctx, 12)
    return pk_e + AESGCM(key).encrypt(nonce, pt, aad)


# Check this HPKE against @peertap/crypto's PeerTap vectors before using it.
with open(os.path.join(HERE, '..', '..', '..', 'crypto', 'test', 'vectors', 'hpke.json')) as f:
    for v in json.load(f)['peertap']['vectors']:
        sk, pk = derive_key_pair(bytes.fromhex(v['ikmR']))
        assert sk.hex() == v['skRm'] and pk.hex() == v['pkRm'], v['name']
        got = seal(pk, bytes.fromhex(v['info']), bytes.fromhex(v['aad']), bytes.fromhex(v['pt']), bytes.fromhex(v['ikmE']))
        assert got.hex() == v['sealed'], v['name']


# ---------------------------------------------------------------- §15.4, §15.5 join request and verdict

def aad_of(vid, joiner, owner):
    return vid + bytes([len(joiner)]) + joiner + bytes([len(owner)]) + owner


def join_request(vid, pk_r, owner, joiner, secret, key_package, ikm_e):
    return b'\x01' + vid + seal(pk_r, b'PeerTap v1 join-request', aad_of(vid, joiner, owner), secret + key_package, ikm_e)


requests = []
request_cases = [
    ('alice invites bob to lab; a 3-byte stand-in key package', alice, 'lab', bob, pattern(3, 5)),
    ('alice invites carol to office; a 600-byte key package', alice, 'office', carol, pattern(600, 6)),
    ('a sha2-256 owner; the smallest key package (1 byte)', sha256_peer('dave'), 'lab', bob, b'\x00'),
]
for i, (comment, owner, name, joiner, kp) in enumerate(request_cases):
    ikm_r = label(f'hpke owner {i}')
    ikm_e = label(f'hpke ephemeral {i}')
    _, pk_r = derive_key_pair(ikm_r)
    vid = vlan_id(owner, name)
    secret = label(f'join secret {i}')[:16]
    payload = join_request(vid, pk_r, owner, joiner, secret, kp, ikm_e)
    requests.append({'comment': comment, 'ikmR': ikm_r.hex(), 'ikmE': ikm_e.hex(), 'ownerHpkeKey': pk_r.hex(),
                     'owner': owner.hex(), 'joiner': joiner.hex(), 'vlanId': vid.hex(), 'secret': secret.hex(),
                     'keyPackage': kp.hex(), 'aad': aad_of(vid, joiner, owner).hex(), 'payload': payload.hex()})

r0 = requests[0]
p0 = bytes.fromhex(r0['payload'])
request_refusals = [
    ('sent over a link from carol, not bob: the aad differs', p0.hex(), carol.hex(), 'not-opened'),
    ('opened as another owner (carol): the aad differs', p0.hex(), bob.hex(), 'not-opened', carol.hex()),
    ('a bit flipped in the ciphertext', (p0[:40] + bytes([p0[40] ^ 1]) + p0[41:]).hex(), bob.hex(), 'not-opened'),
    ('a bit flipped in the clear VLAN-ID (it is in the aad)', (p0[:1] + bytes([p0[1] ^ 0x80]) + p0[2:]).hex(), bob.hex(), 'not-opened'),
    ('a byte appended', (p0 + b'\x00').hex(), bob.hex(), 'not-opened'),
    ('one byte short of the smallest request (97 bytes)', p0[:97].hex(), bob.hex(), 'truncated'),
    ('only the type', '01', bob.hex(), 'truncated'),
    ('empty', '', bob.hex(), 'truncated'),
    ('a verdict on the request path', '02' + p0[1:].hex(), bob.hex(), 'unknown-type'),
]
refusals_json = []
for entry in request_refusals:
    item = {'comment': entry[0], 'payload': entry[1], 'from': entry[2], 'reason': entry[3]}
    if len(entry) > 4:
        item['ownerOverride'] = entry[4]
    refusals_json.append(item)

lab = vlan_id(alice, 'lab')
VERDICTS = {'accepted': 0, 'refused': 1, 'expired': 2, 'used-up': 3, 'revoked': 4, 'busy': 5, 'vlan-unknown': 6}


def ipv4_bytes(text):
    return bytes(int(x) for x in text.split('.'))


verdicts = []
for name, details, extra in [
    ('accepted', bytes([24]) + ipv4_bytes('10.77.0.2'), {'ipv4': {'address': '10.77.0.2', 'prefixLength': 24}}),
    ('accepted', bytes([10]) + ipv4_bytes('100.64.0.9'), {'ipv4': {'address': '100.64.0.9', 'prefixLength': 10}}),
    ('accepted', bytes(5), {}),
    ('refused', b'', {}), ('expired', b'', {}), ('used-up', b'', {}), ('revoked', b'', {}),
    ('busy', struct.pack('>H', 30), {'retryAfterSeconds': 30}),
    ('busy', struct.pack('>H', 0), {'retryAfterSeconds': 0}),
    ('vlan-unknown', b'', {}),
]:
    verdict = {'vlanId': lab.hex(), 'verdict': name}
    verdict.update(extra)
    verdicts.append({'verdict': verdict, 'payload': (b'\x02' + lab + bytes([VERDICTS[name]]) + details).hex()})

head = b'\x02' + lab
verdict_refusals = [
    ('empty', b'', 'truncated'),
    ('no verdict byte', head, 'truncated'),
    ('a request on the verdict path', b'\x01' + lab + b'\x00', 'unknown-type'),
    ('verdict 7', head + b'\x07', 'unknown-verdict'),
    ('accepted without its 5 bytes', head + b'\x00' + bytes([24]) + ipv4_bytes('10.77.0.2')[:3], 'truncated'),
    ('accepted with a byte more', head + b'\x00' + bytes([24]) + ipv4_bytes('10.77.0.2') + b'\x00', 'trailing-bytes'),
    ('refused with a byte more', head + b'\x01\x00', 'trailing-bytes'),
    ('busy without its u16', head + b'\x05\x00', 'truncated'),
    ('a public address (8.8.8.8/24)', head + b'\x00' + bytes([24]) + ipv4_bytes('8.8.8.8'), 'bad-field'),
    ('the network address', head + b'\x00' + bytes([24]) + ipv4_bytes('10.77.0.0'), 'bad-field'),
    ('the broadcast address', head + b'\x00' + bytes([24]) + ipv4_bytes('10.77.0.255'), 'bad-field'),
    ('prefix 31', head + b'\x00' + bytes([31]) + ipv4_bytes('10.77.0.2'), 'bad-field'),
    ('prefix 0 with an address', head + b'\x00' + bytes([0]) + ipv4_bytes('10.77.0.2'), 'bad-field'),
    ('prefix 33', head + b'\x00' + bytes([33]) + ipv4_bytes('10.77.0.2'), 'bad-field'),
    ('a /8 reaching outside 172.16.0.0/12', head + b'\x00' + bytes([8]) + ipv4_bytes('172.16.0.1'), 'bad-field'),
]

with open(os.path.join(HERE, 'join.json'), 'w') as f:
    json.dump({'requests': requests, 'requestRefusals': refusals_json, 'verdicts': verdicts,
               'verdictRefusals': [{'comment': c, 'payload': p.hex(), 'reason': r} for c, p, r in verdict_refusals]},
              f, indent=2)
    f.write('\n')


# ---------------------------------------------------------------- §15.6 the book

def inv_hash(secret):
    return derive_key('PeerTap v1 invitation secret', secret)


office = vlan_id(alice, 'office')
secrets = [label(f'book secret {i}')[:16] for i in range(4)]
T = 1_800_000_000
# Steps and their outcomes, written by hand from §15.6.
steps = [
    {'op': 'create', 'vlanId': lab.hex(), 'uses': 1, 'now': T, 'secret': secrets[0].hex(), 'expiresAt': T + 86_400},
    {'op': 'create', 'vlanId': lab.hex(), 'uses': 2, 'now': T + 10, 'secret': secrets[1].hex(), 'expiresAt': T + 3_600},
    {'op': 'create', 'vlanId': office.hex(), 'uses': 1, 'now': T + 20, 'secret': secrets[2].hex(), 'expiresAt': T + 86_400},
    {'op': 'create', 'vlanId': lab.hex(), 'uses': 5, 'now': T + 30, 'secret': secrets[3].hex(), 'expiresAt': T + 86_400},
    {'op': 'peek', 'vlanId': lab.hex(), 'secret': secrets[0].hex(), 'joiner': bob.hex(), 'now': T + 99, 'outcome': 'accepted'},
    {'op': 'peek', 'vlanId': office.hex(), 'secret': secrets[0].hex(), 'joiner': bob.hex(), 'now': T + 99, 'outcome': 'refused'},
    {'op': 'redeem', 'vlanId': lab.hex(), 'secret': secrets[0].hex(), 'joiner': bob.hex(), 'now': T + 100, 'outcome': 'accepted'},
    {'op': 'redeem', 'vlanId': lab.hex(), 'secret': secrets[0].hex(), 'joiner': bob.hex(), 'now': T + 101, 'outcome': 'again'},
    {'op': 'redeem', 'vlanId': lab.hex(), 'secret': secrets[0].hex(), 'joiner': carol.hex(), 'now': T + 102, 'outcome': 'used-up'},
    {'op': 'redeem', 'vlanId': office.hex(), 'secret': secrets[0].hex(), 'joiner': carol.hex(), 'now': T + 103, 'outcome': 'refused'},
    {'op': 'redeem', 'vlanId': lab.hex(), 'secret': label('never issued')[:16].hex(), 'joiner': carol.hex(), 'now': T + 104, 'outcome': 'refused'},
    {'op': 'redeem', 'vlanId': lab.hex(), 'secret': secrets[1].hex(), 'joiner': carol.hex(), 'now': T + 200, 'outcome': 'accepted'},
    {'op': 'redeem', 'vlanId': lab.hex(), 'secret': secrets[1].hex(), 'joiner': bob.hex(), 'now': T + 3_600, 'outcome': 'expired'},
    # An id names nothing in another VLAN; an id is matched in either case.
    {'op': 'revoke', 'vlanId': lab.hex(), 'id': inv_hash(secrets[2])[:8].hex(), 'now': T + 299, 'count': 0},
    {'op': 'revoke', 'vlanId': office.hex(), 'id': inv_hash(secrets[2])[:8].hex().upper(), 'now': T + 300, 'count': 1},
    {'op': 'redeem', 'vlanId': office.hex(), 'secret': secrets[2].hex(), 'joiner': bob.hex(), 'now': T + 301, 'outcome': 'revoked'},
    {'op': 'redeem', 'vlanId': lab.hex(), 'secret': secrets[3].hex(), 'joiner': carol.hex(), 'now': T + 400, 'outcome': 'accepted'},
    # A use taken and given back (its admission failed, §15.9): the record is as before it.
    {'op': 'redeem', 'vlanId': lab.hex(), 'secret': secrets[3].hex(), 'joiner': bob.hex(), 'now': T + 401, 'outcome': 'accepted'},
    {'op': 'unredeem', 'vlanId': lab.hex(), 'secret': secrets[3].hex(), 'joiner': bob.hex(), 'undone': True},
    {'op': 'unredeem', 'vlanId': lab.hex(), 'secret': secrets[3].hex(), 'joiner': bob.hex(), 'undone': False},
]
for s in steps:
    if s['op'] == 'create':
        s['id'] = inv_hash(bytes.fromhex(s['secret']))[:8].hex()


def entry(secret, vid, uses, left, created, expires, revoked, ended, joiners):
    return {'hash': inv_hash(secret).hex(), 'vlanId': vid.hex(), 'uses': uses, 'usesLeft': left, 'createdAt': created,
            'expiresAt': expires, 'revoked': revoked, 'endedAt': ended, 'joiners': [j.hex() for j in joiners]}


record = {'version': 1, 'invitations': [
    entry(secrets[0], lab, 1, 0, T, T + 86_400, False, T + 100, [bob]),
    entry(secrets[1], lab, 2, 1, T + 10, T + 3_600, False, None, [carol]),
    entry(secrets[2], office, 1, 1, T + 20, T + 86_400, True, T + 300, []),
    entry(secrets[3], lab, 5, 4, T + 30, T + 86_400, False, None, [carol]),
]}
record_text = json.dumps(record, separators=(',', ':'), ensure_ascii=False)
lists = {
    'now': T + 500,
    'lab': [{'id': inv_hash(secrets[i])[:8].hex(), 'state': st} for i, st in [(0, 'used-up'), (1, 'live'), (3, 'live')]],
    'office': [{'id': inv_hash(secrets[2])[:8].hex(), 'state': 'revoked'}],
}
# prune at T + 3600 + 86400: the second (expired at T + 3600) goes; the first (used up at T + 100) and the third (revoked at T + 300) went before.
prune = {'now': T + 3_600 + 86_400, 'dropped': 3, 'left': [inv_hash(secrets[3])[:8].hex()]}


def bad(comment, text, reason):
    return {'comment': comment, 'record': text, 'reason': reason}


r = json.loads(record_text)
damaged_records = [
    bad('not JSON (cut short)', record_text[:-1], 'not-json'),
    bad('version 2', record_text.replace('"version":1', '"version":2'), 'unknown-version'),
    bad('an extra key', record_text.replace('"version":1,', '"version":1,"x":0,'), 'bad-field'),
    bad('a hash of 63 digits', record_text.replace(inv_hash(secrets[0]).hex(), inv_hash(secrets[0]).hex()[:63]), 'bad-field'),
    bad('an upper-case hash', record_text.replace(inv_hash(secrets[0]).hex(), inv_hash(secrets[0]).hex().upper()), 'bad-field'),
    bad('usesLeft above uses', record_text.replace('"uses":2,"usesLeft":1', '"uses":2,"usesLeft":3'), 'bad-field'),
    bad('a use taken without its joiner', record_text.replace('"uses":5,"usesLeft":4', '"uses":5,"usesLeft":3'), 'bad-field'),
    bad('used up without endedAt', record_text.replace(f'"endedAt":{T + 100}', '"endedAt":null'), 'bad-field'),
    bad('expiresAt not after createdAt', record_text.replace(f'"createdAt":{T},"expiresAt":{T + 86_400}', f'"createdAt":{T},"expiresAt":{T}'), 'bad-field'),
    bad('a fractional uses', record_text.replace('"uses":5', '"uses":5.5'), 'bad-field'),
    bad('revoked as a string', record_text.replace('"revoked":true', '"revoked":"true"'), 'bad-field'),
    bad('a joiner that is not a PeerId', record_text.replace(carol.hex(), 'abcd', 1), 'bad-field'),
    bad('out of creation order', json.dumps({'version': 1, 'invitations': [r['invitations'][1], r['invitations'][0]]}, separators=(',', ':')), 'bad-field'),
    bad('the same hash twice', json.dumps({'version': 1, 'invitations': [r['invitations'][1], r['invitations'][1]]}, separators=(',', ':')), 'duplicate'),
    bad('not UTF-8', None, 'not-json'),
]
damaged_records[-1]['recordHex'] = (b'\xff' + record_text.encode()).hex()
del damaged_records[-1]['record']

with open(os.path.join(HERE, 'book.json'), 'w') as f:
    json.dump({'secrets': [s.hex() for s in secrets], 'steps': steps, 'record': record_text, 'list': lists,
               'prune': prune, 'damaged': damaged_records}, f, indent=2, ensure_ascii=False)
    f.write('\n')


# ---------------------------------------------------------------- §15.7 addresses

def reserved(iid):
    v = int.from_bytes(iid, 'big')
    return v == 0 or 0xFDFF_FFFF_FFFF_FF80 <= v <= 0xFDFF_FFFF_FFFF_FFFF or 0x0200_5EFF_FE00_0000 <= v <= 0x0200_5EFF_FEFF_FFFF


def ula_prefix(vid):
    return b'\xfd' + derive_key('PeerTap v1 ULA prefix', vid, 5) + b'\x00\x00'


def ula_address(vid, peer):
    stream = derive_key('PeerTap v1 ULA interface', vid + peer, 32)
    for g in range(4):
        if not reserved(stream[8 * g:8 * g + 8]):
            return ula_prefix(vid) + stream[8 * g:8 * g + 8]
    raise SystemExit('all four groups reserved: extend the stream')


def ipv6_text(b):
    import ipaddress
    return str(ipaddress.IPv6Address(b))


ula = []
for owner, name in [(alice, 'lab'), (alice, 'office'), (sha256_peer('dave'), 'lab')]:
    vid = vlan_id(owner, name)
    pre = ula_prefix(vid)
    for p in [alice, bob, carol, sha256_peer('dave')]:
        assert not reserved(derive_key('PeerTap v1 ULA interface', vid + p, 8)), 'the README says k = 0 throughout'
    ula.append({'vlanId': vid.hex(), 'prefix': pre.hex(), 'prefixText': ipv6_text(pre + bytes(8)) + '/64',
                'members': [{'peerId': p.hex(), 'address': ula_address(vid, p).hex(), 'text': ipv6_text(ula_address(vid, p))}
                            for p in [alice, bob, carol, sha256_peer('dave')]]})

iids = [
    ('0000000000000000', True), ('0000000000000001', False), ('fdffffffffffff7f', False), ('fdffffffffffff80', True),
    ('fdffffffffffffff', True), ('02005efffe000000', True), ('02005efffe005213', True), ('02005efffeffffff', True),
    ('02005effff000000', False), ('02005efffdffffff', False), ('ffffffffffffffff', False),
]
for iid, want in iids:
    assert reserved(bytes.fromhex(iid)) == want, iid

# IPv4: steps on a /29 (6 hosts), outcomes by hand from §15.7.
peers = {n: ed25519_peer(n).hex() for n in ['alice', 'bob', 'carol', 'dave', 'erin', 'frank', 'grace', 'heidi']}
pool_steps = [
    {'op': 'reserve', 'peer': peers['alice'], 'address': '10.77.0.1', 'result': '10.77.0.1'},
    {'op': 'assign', 'peer': peers['bob'], 'result': '10.77.0.2'},
    {'op': 'assign', 'peer': peers['carol'], 'result': '10.77.0.3'},
    {'op': 'assign', 'peer': peers['bob'], 'result': '10.77.0.2'},
    {'op': 'release', 'peer': peers['bob'], 'result': True},
    {'op': 'assign', 'peer': peers['dave'], 'result': '10.77.0.2'},
    {'op': 'assign', 'peer': peers['erin'], 'result': '10.77.0.4'},
    {'op': 'assign', 'peer': peers['frank'], 'result': '10.77.0.5'},
    {'op': 'assign', 'peer': peers['grace'], 'result': '10.77.0.6'},
    {'op': 'assign', 'peer': peers['heidi'], 'error': 'pool-full'},
    {'op': 'reserve', 'peer': peers['heidi'], 'address': '10.77.0.3', 'error': 'address-taken'},
    {'op': 'reserve', 'peer': peers['heidi'], 'address': '10.77.0.7', 'error': 'invalid-argument'},
    {'op': 'release', 'peer': peers['heidi'], 'result': False},
]
members = sorted([(peers['alice'], '10.77.0.1'), (peers['dave'], '10.77.0.2'), (peers['carol'], '10.77.0.3'),
                  (peers['erin'], '10.77.0.4'), (peers['frank'], '10.77.0.5'), (peers['grace'], '10.77.0.6')],
                 key=lambda m: ipv4_bytes(m[1]))
pool_record = json.dumps({'version': 1, 'cidr': '10.77.0.0/29', 'members': [{'peer': p, 'address': a} for p, a in members]},
                         separators=(',', ':'))
cidrs = [
    ('10.77.0.0/24', True), ('10.0.0.0/8', True), ('172.16.0.0/12', True), ('172.31.255.252/30', True),
    ('192.168.1.0/24', True), ('100.64.0.0/10', True), ('10.77.0.0/30', True),
    ('10.77.0.1/24', False), ('10.77.0.0/31', False), ('10.0.0.0/7', False), ('172.0.0.0/8', False),
    ('8.8.8.0/24', False), ('192.168.0.0/15', False), ('100.0.0.0/8', False), ('10.77.0.0', False),
    ('10.77.00.0/24', False), ('10.77.0.0/024', False), ('10.77.0.256/24', False), (' 10.77.0.0/24', False),
]
pool_damaged = [
    ('not JSON', pool_record[:-2], 'not-json'),
    ('version 2', pool_record.replace('"version":1', '"version":2'), 'unknown-version'),
    ('a public range', pool_record.replace('10.77.0.0/29', '8.8.8.0/29'), 'bad-field'),
    ('a non-canonical range', pool_record.replace('10.77.0.0/29', '10.77.0.1/29'), 'bad-field'),
    ('an address outside the range', pool_record.replace('10.77.0.6', '10.77.0.9'), 'bad-field'),
    ('the broadcast address', pool_record.replace('10.77.0.6', '10.77.0.7'), 'bad-field'),
    ('out of order', pool_record.replace('"10.77.0.1"', '"10.77.0.9"').replace('/29', '/28'), 'bad-field'),
    ('a peer twice', pool_record.replace(peers['dave'], peers['alice']), 'duplicate'),
    ('a peer not in hex', pool_record.replace(peers['dave'], 'dave'), 'bad-field'),
]

with open(os.path.join(HERE, 'addresses.json'), 'w') as f:
    json.dump({'ula': ula, 'reservedInterfaceIds': [{'iid': i, 'reserved': r} for i, r in iids],
               'ipv4': {'cidr': '10.77.0.0/29', 'steps': pool_steps, 'record': pool_record,
                        'cidrs': [{'cidr': c, 'valid': v} for c, v in cidrs],
                        'damaged': [{'comment': c, 'record': t, 'reason': r} for c, t, r in pool_damaged]}},
              f, indent=2)
    f.write('\n')
