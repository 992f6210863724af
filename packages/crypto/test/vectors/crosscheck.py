#!/usr/bin/env python3
"""Independent cross-check of kdf.json and seal.json (README.md beside this file).

Shares no code with PeerTap or its JavaScript dependencies:
  BLAKE3 derive_key   the b3sum binary (Rust reference crate), secret written to a file
  HKDF-Expand-SHA256  `openssl kdf ... mode:EXPAND_ONLY ... HKDF` (OpenSSL CLI)
                      and pyca/cryptography's HKDFExpand
  AES-256-GCM         pyca/cryptography's AESGCM
  AES-256-ECB mask    `openssl enc -aes-256-ecb -nopad` (OpenSSL CLI)
Run: python3 test/vectors/crosscheck.py   (prints one line per vector, exits 1 on a mismatch)
"""
import json, os, subprocess, sys, tempfile
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDFExpand
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

here = os.path.dirname(os.path.abspath(__file__))
failures = 0

def check(what, got, want):
    global failures
    ok = got == want
    failures += not ok
    print(("ok   " if ok else "FAIL ") + what)

def b3sum_derive(context, material):
    with tempfile.NamedTemporaryFile() as f:
        f.write(material); f.flush()
        out = subprocess.run(["b3sum", "--derive-key", context, "--no-names", f.name],
                             capture_output=True, check=True, text=True).stdout
    return out.split()[0]

def openssl_expand(prk, info, length):
    out = subprocess.run(["openssl", "kdf", "-keylen", str(length), "-kdfopt", "digest:SHA256",
                          "-kdfopt", "mode:EXPAND_ONLY", "-kdfopt", "hexkey:" + prk.hex(),
                          "-kdfopt", "hexinfo:" + info.hex(), "HKDF"],
                         capture_output=True, check=True, text=True).stdout
    return out.strip().replace(":", "").lower()

def py_expand(prk, info, length):
    return HKDFExpand(hashes.SHA256(), length, info).derive(prk)

def openssl_ecb(key, block):
    return subprocess.run(["openssl", "enc", "-aes-256-ecb", "-nopad", "-K", key.hex()],
                          input=block, capture_output=True, check=True).stdout

def sender_key(frame_base, kid):
    secret = py_expand(frame_base, b"PeerTap v1 sender" + kid, 32)
    return secret, py_expand(secret, b"PeerTap v1 key", 32), py_expand(secret, b"PeerTap v1 salt", 12)

kdf = json.load(open(os.path.join(here, "kdf.json")))
for v in kdf["psk"]:
    secret = bytes.fromhex(v["secret"])
    for field, label in [("frameBase", "frame"), ("vftKey", "vft"), ("hpKey", "header"), ("authSeed", "relay-auth")]:
        check(f"kdf psk {v['name']} {field} (b3sum)", b3sum_derive("PeerTap v1 PSK " + label, secret), v[field])
for v in kdf["sender"]:
    fb, kid = bytes.fromhex(v["frameBase"]), bytes.fromhex(v["kid"])
    secret = openssl_expand(fb, b"PeerTap v1 sender" + kid, 32)
    check(f"kdf sender {v['name']} secret (openssl kdf)", secret, v["secret"])
    check(f"kdf sender {v['name']} key (openssl kdf)", openssl_expand(bytes.fromhex(secret), b"PeerTap v1 key", 32), v["key"])
    check(f"kdf sender {v['name']} salt (openssl kdf)", openssl_expand(bytes.fromhex(secret), b"PeerTap v1 salt", 12), v["salt"])
    s2, k2, n2 = sender_key(fb, kid)
    check(f"kdf sender {v['name']} (pyca HKDFExpand)", (s2.hex(), k2.hex(), n2.hex()), (v["secret"], v["key"], v["salt"]))

seal = json.load(open(os.path.join(here, "seal.json")))
secret = bytes.fromhex(seal["secret"])
check("seal frameBase (b3sum)", b3sum_derive("PeerTap v1 PSK frame", secret), seal["frameBase"])
check("seal hpKey (b3sum)", b3sum_derive("PeerTap v1 PSK header", secret), seal["hpKey"])
fb, hp = bytes.fromhex(seal["frameBase"]), bytes.fromhex(seal["hpKey"])
for c in seal["cases"]:
    kid, counter = bytes.fromhex(c["kid"]), c["counter"]
    vft, pt = bytes.fromhex(c["vft"]), bytes.fromhex(c["plaintext"])
    _, key, salt = sender_key(fb, kid)
    ctr = counter.to_bytes(max(1, (counter.bit_length() + 7) // 8), "big")
    header = bytes([0xF8 | (len(ctr) - 1)]) + kid + ctr
    nonce = bytes(a ^ b for a, b in zip(salt, counter.to_bytes(12, "big")))
    ct_tag = AESGCM(key).encrypt(nonce, pt, vft + header)
    mask = openssl_ecb(hp, ct_tag[-16:])
    sealed = bytes(a ^ b for a, b in zip(header, mask)) + ct_tag
    check(f"seal {c['name']} (pyca AESGCM + openssl enc ECB)", sealed.hex(), c["sealed"])

print(f"{failures} failure(s)")
sys.exit(1 if failures else 0)
