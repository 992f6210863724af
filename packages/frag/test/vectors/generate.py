#!/usr/bin/env python3
"""Writes frag.json from docs/spec/05-fragmentation.md alone.

An independent implementation of the sender (§5.3) in a few lines of Python,
sharing no code with src/. The receive cases' expected outcomes are written by
hand from §5.4, step by step, not computed by any implementation.
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

print(json.dumps({
    'spec': 'docs/spec/05-fragmentation.md',
    'splits': splits,
    'receives': receives,
}, indent=1))
