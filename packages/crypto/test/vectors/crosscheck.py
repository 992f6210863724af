#!/usr/bin/env python3
"""Independent cross-check of kdf.json, seal.json and receive.json (README.md beside this file).

Shares no code with PeerTap or its JavaScript dependencies:
  BLAKE3 derive_key   the b3sum binary (Rust reference crate), secret written to a file
  HKDF-Expand-SHA256  `openssl kdf ... mode:EXPAND_ONLY ... HKDF` (OpenSSL CLI)
                      and pyca/cryptography's HKDFExpand
  AES-256-GCM         pyca/cryptography's AESGCM
  AES-256-ECB mask    `openssl enc -aes-256-ecb -nopad` (OpenSSL CLI)
receive.json is replayed through a receiver written here from
docs/spec/04-sealed-payload.md §5 to §7 (pyca/cryptography AES-ECB and AESGCM).
Run: python3 test/vectors/crosscheck.py   (prints one line per vector, exits 1 on a mismatch)
"""
import json, os, subprocess, sys, tempfile
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDFExpand
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
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

# receive.json: the drop rules of 04-sealed-payload.md §5, the window of §6, the cache of §7.
def ecb(key, block):
    e = Cipher(algorithms.AES(key), modes.ECB()).encryptor()
    return e.update(block) + e.finalize()

def unprotect(hp, s):
    """Rules 1-4: (header, kid, counter) or the drop code."""
    if len(s) < 27: return "short"
    mask = ecb(hp, s[-16:])
    config = s[0] ^ mask[0]
    if not 0xF8 <= config <= 0xFE: return "bad-config"
    n = 9 + (config & 7) + 1
    if len(s) < n + 1 + 16: return "short"
    header = bytes(a ^ b for a, b in zip(s[:n], mask))
    if n > 10 and header[9] == 0: return "non-minimal-ctr"
    return header, header[1:9], int.from_bytes(header[9:], "big")

def decrypt(fb, kid, counter, header, vft, s):
    """Rule 8: the plaintext or None."""
    _, key, salt = sender_key(fb, kid)
    nonce = bytes(a ^ b for a, b in zip(salt, counter.to_bytes(12, "big")))
    try:
        return AESGCM(key).decrypt(nonce, s[len(header):], vft + header)
    except InvalidTag:
        return None

class Receiver:
    def __init__(self, fb, hp, cfg):
        self.fb, self.hp, self.cfg = fb, hp, cfg
        self.oldest = cfg["oldestHeldWindow"]
        self.cache = {}  # kid -> [last, set of accepted counters, lastWindow]

    def open(self, s, vft, window):
        u = unprotect(self.hp, s)
        if isinstance(u, str): return u
        header, kid, counter = u
        if counter >= 1 << 23: return "ctr-limit"
        e, victim = self.cache.get(kid), None
        if e is None:
            if self.cfg["kind"] == "mls":
                if kid[3] != self.cfg["epoch"] % 256: return "unknown-epoch"
                if "leaves" in self.cfg and int.from_bytes(kid[:3], "big") not in self.cfg["leaves"]:
                    return "unknown-sender"
            if len(self.cache) >= self.cfg["maxKids"]:
                old = sorted((v[2], k) for k, v in self.cache.items() if v[2] < self.oldest)
                if not old: return "kid-cache-full"
                if len(old) > 1 and old[0][0] == old[1][0]: raise Exception("eviction tie")
                victim = old[0][1]
        elif counter <= e[0]:
            if e[0] - counter >= 2048: return "too-old"
            if counter in e[1]: return "replay"
        pt = decrypt(self.fb, kid, counter, header, vft, s)
        if pt is None: return "auth"
        if e is None:
            if victim is not None: del self.cache[victim]
            self.cache[kid] = [counter, {counter}, window]
        else:
            e[0], e[2] = max(e[0], counter), max(e[2], window)
            e[1].add(counter)
        return pt

rv = json.load(open(os.path.join(here, "receive.json")))
check("receive key set is seal.json's", (rv["frameBase"], rv["hpKey"]), (seal["frameBase"], seal["hpKey"]))
fb, hp = bytes.fromhex(rv["frameBase"]), bytes.fromhex(rv["hpKey"])
for seq in rv["sequences"]:
    r, got, want = Receiver(fb, hp, seq["receiver"]), [], []
    for st in seq["steps"]:
        if "setOldestHeldWindow" in st:
            r.oldest = st["setOldestHeldWindow"]; continue
        out = r.open(bytes.fromhex(st["sealed"]), bytes.fromhex(st["vft"]), st["window"])
        got.append((out if isinstance(out, str) else "opened " + out.hex(), sorted(k.hex() for k in r.cache)))
        want.append((st["outcome"] + (" " + st["plaintext"] if "plaintext" in st else ""), st["kids"]))
    check(f"receive sequence '{seq['name']}' ({len(want)} frames)", got, want)
for c in rv["stateless"]:
    s, vft = bytes.fromhex(c["sealed"]), bytes.fromhex(c["vft"])
    u = unprotect(hp, s)
    if isinstance(u, str): out = u
    elif u[1].hex() != c["keyKid"]: out = "unknown-sender"
    else:
        pt = decrypt(fb, u[1], u[2], u[0], vft, s)
        out = "auth" if pt is None else "opened " + pt.hex()
    check(f"receive stateless '{c['note']}'", out, c["outcome"] + (" " + c["plaintext"] if "plaintext" in c else ""))

print(f"{failures} failure(s)")
sys.exit(1 if failures else 0)
