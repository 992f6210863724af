#!/usr/bin/env python3
"""Writes frag.json from docs/spec/05-fragmentation.md alone.

An independent implementation of the sender (§5.3) in a few lines of Python,
sharing no code with src/. The receive cases' expected outcomes are written by
hand from §5.4, step by step, not computed by any implementation. The sender's
refusals (§5.3 rule 1) and invalid configurations are written by hand too, and
this script stops unless its own sender (send() below) agrees with every one.
Run: python3 test/vectors/generate.py > test/vectors/frag.json
"""
import json
import struct


def pattern(length, seed):
    # Deterministic bytes: not all zero, not periodic at small strides.
    return bytes((i * 131 + seed * 7 + (i >> 8)) & 0xFF for i in range(length))


def header(ident, total, offset):
    # id u32 | total u24 | offset u24, big-endian (§5.2)
    return struct.pack('>I', ident) + total.to_bytes(3, 'big') + offset.to_bytes(3, 'big')


def split(datagram, max_fragment_bytes, ident):
    p = max_fragment_bytes - 10
    return [header(ident, len(datagram), o) + datagram[o:o + p] for o in range(0, len(datagram), p)]


split_cases = [
    ('one byte, smallest fragment size', 1, 11, 0),
    ('64 bytes at 32-byte fragments', 64, 32, 1),
    ('exact multiple of the payload size', 44, 32, 0x01020304),
    ('1400 bytes at 576-byte fragments', 1400, 576, 0xDEADBEEF),
    ('9000 bytes at 1400, id about to wrap', 9000, 1400, 0xFFFFFFFF),
    ('fits one 1400-byte fragment', 1390, 1400, 7),
    ('largest default datagram (66560) at 9000: totals above 16 bits', 66560, 9000, 0x80000000),
]

splits = []
for seed, (name, length, mfb, ident) in enumerate(split_cases):
    d = pattern(length, seed)
    splits.append({
        'name': name,
        'maxFragmentBytes': mfb,
        'id': ident,
        'datagram': d.hex(),
        'fragments': [f.hex() for f in split(d, mfb, ident)],
    })

# Receive cases: fragments pushed in order under one source, with the
# outcome §5.4 gives each, and the datagram if one completes.
a = pattern(30, 100)  # a 30-byte datagram in 3 fragments of 10
f0, f1, f2 = (header(5, 30, o) + a[o:o + 10] for o in (0, 10, 20))


def h(b):
    return b.hex()


receives = [
    {'name': 'reordered and duplicated', 'options': {}, 'steps': [
        {'now': 0, 'fragment': h(f2), 'outcome': 'pending'},
        {'now': 1, 'fragment': h(f0), 'outcome': 'pending'},
        {'now': 2, 'fragment': h(f2), 'outcome': 'duplicate'},
        {'now': 3, 'fragment': h(f1), 'outcome': 'complete', 'datagram': h(a)},
    ]},
    {'name': 'duplicate with different bytes keeps the first copy', 'options': {}, 'steps': [
        {'now': 0, 'fragment': h(f0), 'outcome': 'pending'},
        {'now': 0, 'fragment': h(header(5, 30, 0) + bytes(10)), 'outcome': 'duplicate'},
        {'now': 0, 'fragment': h(f1), 'outcome': 'pending'},
        {'now': 0, 'fragment': h(f2), 'outcome': 'complete', 'datagram': h(a)},
    ]},
    {'name': 'malformed: short, zero total, payload past total', 'options': {}, 'steps': [
        {'now': 0, 'fragment': h(header(5, 30, 0)), 'outcome': 'malformed'},
        {'now': 0, 'fragment': h(header(5, 0, 0) + b'\x01'), 'outcome': 'malformed'},
        {'now': 0, 'fragment': h(header(5, 30, 25) + a[:6]), 'outcome': 'malformed'},
        {'now': 0, 'fragment': '', 'outcome': 'malformed'},
    ]},
    {'name': 'oversize total', 'options': {}, 'steps': [
        {'now': 0, 'fragment': h(header(9, 66561, 0) + b'\x00'), 'outcome': 'oversize'},
        {'now': 0, 'fragment': h(header(9, 66560, 0) + b'\x00'), 'outcome': 'pending'},
    ]},
    {'name': 'single-fragment datagram needs no state', 'options': {}, 'steps': [
        {'now': 0, 'fragment': h(header(1, 3, 0) + b'abc'), 'outcome': 'complete', 'datagram': h(b'abc')},
    ]},
    {'name': 'overlap abandons the datagram, stragglers dropped', 'options': {}, 'steps': [
        {'now': 0, 'fragment': h(f0), 'outcome': 'pending'},
        {'now': 0, 'fragment': h(header(5, 30, 5) + a[5:15]), 'outcome': 'overlap'},
        {'now': 0, 'fragment': h(f1), 'outcome': 'abandoned'},
        {'now': 0, 'fragment': h(f2), 'outcome': 'abandoned'},
    ]},
    {'name': 'inconsistent total abandons the datagram', 'options': {}, 'steps': [
        {'now': 0, 'fragment': h(f0), 'outcome': 'pending'},
        {'now': 0, 'fragment': h(header(5, 40, 10) + a[10:20]), 'outcome': 'inconsistent'},
        {'now': 0, 'fragment': h(f2), 'outcome': 'abandoned'},
    ]},
    {'name': 'too many fragments', 'options': {'maxFragmentsPerDatagram': 2}, 'steps': [
        {'now': 0, 'fragment': h(f0), 'outcome': 'pending'},
        {'now': 0, 'fragment': h(f1), 'outcome': 'tooManyFragments'},
        {'now': 0, 'fragment': h(f2), 'outcome': 'abandoned'},
    ]},
    {'name': 'abandoned slot expires, then the id is fresh', 'options': {'timeoutMs': 100},
     'events': {'expired': 0, 'evicted': 0}, 'steps': [
        {'now': 0, 'fragment': h(f0), 'outcome': 'pending'},
        {'now': 10, 'fragment': h(header(5, 31, 10) + a[10:20]), 'outcome': 'inconsistent'},
        {'now': 99, 'fragment': h(f1), 'outcome': 'abandoned'},
        {'now': 100, 'fragment': h(f1), 'outcome': 'pending'},
        {'now': 150, 'fragment': h(f0), 'outcome': 'pending'},
        {'now': 199, 'fragment': h(f2), 'outcome': 'complete', 'datagram': h(a)},
    ]},
    {'name': 'expiry at exactly timeoutMs', 'options': {'timeoutMs': 100},
     'events': {'expired': 1, 'evicted': 0}, 'steps': [
        {'now': 0, 'fragment': h(f0), 'outcome': 'pending'},
        {'now': 100, 'fragment': h(f1), 'outcome': 'pending'},
        {'now': 100, 'fragment': h(f2), 'outcome': 'pending'},
        {'now': 101, 'fragment': h(f0), 'outcome': 'complete', 'datagram': h(a)},
    ]},
    {'name': 'eviction of the oldest under maxReassemblies', 'options': {'maxReassemblies': 1},
     'events': {'expired': 0, 'evicted': 2}, 'steps': [
        {'now': 0, 'fragment': h(f0), 'outcome': 'pending'},
        {'now': 0, 'fragment': h(header(6, 30, 0) + a[:10]), 'outcome': 'pending'},
        {'now': 0, 'fragment': h(f1), 'outcome': 'pending'},
        {'now': 0, 'fragment': h(f2), 'outcome': 'pending'},
    ]},
    {'name': 'eviction under maxBytes', 'options': {'maxDatagramBytes': 30, 'maxBytes': 50},
     'events': {'expired': 0, 'evicted': 1}, 'steps': [
        {'now': 0, 'fragment': h(header(1, 30, 0) + a[:10]), 'outcome': 'pending'},
        {'now': 0, 'fragment': h(header(2, 20, 0) + a[:10]), 'outcome': 'pending'},
        {'now': 0, 'fragment': h(header(3, 20, 0) + a[:10]), 'outcome': 'pending'},
        {'now': 0, 'fragment': h(header(2, 20, 10) + a[10:20]), 'outcome': 'complete', 'datagram': h(a[:20])},
        {'now': 0, 'fragment': h(header(1, 30, 10) + a[10:20]), 'outcome': 'pending'},
    ]},
]


# Sender refusals (§5.3 rule 1): datagram lengths pushed in order through one
# sender, each with the outcome written by hand. A refused datagram's content
# does not matter (rule 1 reads only its length), so refused steps give only
# the length. A sent datagram is pattern(length, 200 + step index) and gives
# the id its fragments carry and their count, plus the fragments themselves
# when the datagram is at most 256 bytes.
DEFAULTS = {'maxDatagramBytes': 66560, 'maxFragmentsPerDatagram': 128, 'firstId': 0}


class Sender:
    """§5.3: rule 1 (its three checks in the order of the spec), then an id, then rule 3."""

    def __init__(self, options):
        o = dict(DEFAULTS, **options)
        self.mfb, self.max_d, self.max_f = o['maxFragmentBytes'], o['maxDatagramBytes'], o['maxFragmentsPerDatagram']
        self.next_id = o['firstId']
        self.counters = dict(datagrams=0, fragments=0, bytes=0, empty=0, oversize=0, tooManyFragments=0)

    def send(self, datagram):
        n = len(datagram)
        p = self.mfb - 10
        refusal = ('empty' if n == 0 else 'oversize' if n > self.max_d
                   else 'tooManyFragments' if -(-n // p) > self.max_f else None)
        if refusal:
            self.counters[refusal] += 1
            return refusal, None, []
        ident, self.next_id = self.next_id, (self.next_id + 1) % 2**32
        fragments = split(datagram, self.mfb, ident)
        self.counters['datagrams'] += 1
        self.counters['fragments'] += len(fragments)
        self.counters['bytes'] += n
        return 'sent', ident, fragments


refusal_cases = [
    ('small bounds: each refusal, the order of the checks, no id taken',
     {'maxFragmentBytes': 20, 'maxDatagramBytes': 100, 'maxFragmentsPerDatagram': 3, 'firstId': 0xFFFFFFFE}, [
         (0, 'empty'),
         (31, 'tooManyFragments'),          # ceil(31 / 10) = 4 > 3
         (101, 'oversize'),                 # also 11 fragments > 3: oversize is checked first
         (30, 'sent', 0xFFFFFFFE, 3),       # the refusals took no id
         (0, 'empty'),
         (100, 'tooManyFragments'),         # not oversize (100 <= 100), but 10 fragments > 3
         (1, 'sent', 0xFFFFFFFF, 1),
         (21, 'sent', 0, 3),                # the id wraps
     ]),
    ('default bounds at 1400-byte fragments', {'maxFragmentBytes': 1400, 'firstId': 7}, [
        (66561, 'oversize'),               # 48 fragments would do, but 66561 > 66560
        (0, 'empty'),
        (3, 'sent', 7, 1),
        (66560, 'sent', 8, 48),
    ]),
    ('default bounds at 500-byte fragments: 128 fragments of 490 bytes hold 62720', {'maxFragmentBytes': 500}, [
        (62721, 'tooManyFragments'),
        (66560, 'tooManyFragments'),
        (66561, 'oversize'),
        (62720, 'sent', 0, 128),
    ]),
    ('one payload byte per fragment, one fragment per datagram',
     {'maxFragmentBytes': 11, 'maxFragmentsPerDatagram': 1, 'firstId': 0x12345678}, [
         (2, 'tooManyFragments'),
         (1, 'sent', 0x12345678, 1),
         (0, 'empty'),
         (1, 'sent', 0x12345679, 1),
     ]),
]

refusals = []
for name, options, cases in refusal_cases:
    sender = Sender(options)
    steps = []
    for i, case in enumerate(cases):
        length, want = case[0], case[1]
        datagram = pattern(length, 200 + i)
        got, ident, fragments = sender.send(datagram)
        assert got == want, (name, i, got, want)
        if want != 'sent':
            steps.append({'length': length, 'outcome': want})
            continue
        assert (ident, len(fragments)) == case[2:], (name, i, ident, len(fragments))
        step = {'length': length, 'outcome': 'sent', 'id': ident, 'fragmentCount': len(fragments)}
        if length <= 256:
            step['datagram'] = h(datagram)
            step['fragments'] = [h(f) for f in fragments]
        steps.append(step)
    refusals.append({'name': name, 'options': options, 'steps': steps, 'counters': sender.counters})

# Sender configurations (§5.3, §5.5): each either valid, or refused with the
# error code @peertap/frag throws (an API error, nothing on the wire).
BAD = 'ERR_FRAG_INVALID_OPTIONS'
option_cases = [
    ({'maxFragmentBytes': 11}, None),
    ({'maxFragmentBytes': 10}, BAD),
    ({'maxFragmentBytes': 0}, BAD),
    ({'maxFragmentBytes': 10 + 0xFFFFFF}, None),
    ({'maxFragmentBytes': 11 + 0xFFFFFF}, BAD),
    ({'maxFragmentBytes': 1400.5}, BAD),
    ({'maxFragmentBytes': 1400, 'maxDatagramBytes': 1}, None),
    ({'maxFragmentBytes': 1400, 'maxDatagramBytes': 0}, BAD),
    ({'maxFragmentBytes': 1400, 'maxDatagramBytes': 0xFFFFFF}, None),
    ({'maxFragmentBytes': 1400, 'maxDatagramBytes': 0x1000000}, BAD),
    ({'maxFragmentBytes': 1400, 'maxFragmentsPerDatagram': 1}, None),
    ({'maxFragmentBytes': 1400, 'maxFragmentsPerDatagram': 0}, BAD),
    ({'maxFragmentBytes': 1400, 'maxFragmentsPerDatagram': 0xFFFFFF}, None),
    ({'maxFragmentBytes': 1400, 'maxFragmentsPerDatagram': 0x1000000}, BAD),
    ({'maxFragmentBytes': 1400, 'firstId': 0xFFFFFFFF}, None),
    ({'maxFragmentBytes': 1400, 'firstId': 0x100000000}, BAD),
    ({'maxFragmentBytes': 1400, 'firstId': -1}, BAD),
]


def options_valid(o):
    """§5.3 and §5.5: the bounds a sender's configuration must be within."""
    o = dict(DEFAULTS, **o)
    ok = lambda v, lo, hi: isinstance(v, int) and lo <= v <= hi
    return (ok(o['maxFragmentBytes'], 11, 10 + 0xFFFFFF) and ok(o['maxDatagramBytes'], 1, 0xFFFFFF)
            and ok(o['maxFragmentsPerDatagram'], 1, 0xFFFFFF) and ok(o['firstId'], 0, 0xFFFFFFFF))


for o, code in option_cases:
    assert options_valid(o) == (code is None), o
sender_options = [{'options': o, 'error': code} for o, code in option_cases]

print(json.dumps({
    'spec': 'docs/spec/05-fragmentation.md',
    'splits': splits,
    'receives': receives,
    'refusals': refusals,
    'senderOptions': sender_options,
}, indent=1))
