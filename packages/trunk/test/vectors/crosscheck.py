#!/usr/bin/env python3
"""Independent cross-check of datagram.json (README.md beside this file).

Recomputes every value from docs/spec/13-datagram-link.md with no PeerTap or
JavaScript code:
  HKDF-SHA256   pyca/cryptography's HKDF (salt None = HashLen zeros, which
                RFC 5869 makes the same as an empty salt), and the OpenSSL CLI
                (`openssl kdf ... HKDF`, extract-and-expand, no salt; and
                mode:EXTRACT_ONLY for the PRK)
  AES-256-GCM   pyca/cryptography's AESGCM
  offers        struct and the ipaddress module
  receiving     the order of checks of spec 13 §2.3 and a replay window kept
                as a set, written here again
Run (from packages/trunk): python3 test/vectors/crosscheck.py
(prints one line per check, exits 1 on a mismatch)
"""
import ipaddress, json, os, struct, subprocess, sys
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

here = os.path.dirname(os.path.abspath(__file__))
v = json.load(open(os.path.join(here, "datagram.json")))
LABEL = b"PeerTap v1 datagram path key"
LIMIT = 2**31 - 1
failures = 0

def check(what, got, want):
    global failures
    ok = got == want
    failures += not ok
    print(("ok   " if ok else "FAIL ") + what + ("" if ok else f"\n     got  {got}\n     want {want}"))

def openssl_kdf(*opts):
    out = subprocess.run(["openssl", "kdf", "-keylen", "32", "-kdfopt", "digest:SHA256", *opts, "HKDF"],
                         capture_output=True, check=True, text=True).stdout
    return out.strip().replace(":", "").lower()

# ---------------------------------------------------------------- path keys (§3)
def path_key(sender_hex, receiver_hex):
    ikm = bytes.fromhex(sender_hex) + bytes.fromhex(receiver_hex)
    return HKDF(hashes.SHA256(), 32, None, LABEL).derive(ikm).hex()

for k in v["pathKeys"]:
    ikm = k["senderPathKey"] + k["receiverPathKey"]
    check(f"path key {k['name']} (pyca HKDF)", path_key(k["senderPathKey"], k["receiverPathKey"]), k["key"])
    check(f"path key {k['name']} (openssl kdf)", openssl_kdf("-kdfopt", "hexkey:" + ikm, "-kdfopt", "info:" + LABEL.decode()), k["key"])
    check(f"path key {k['name']} PRK (openssl kdf EXTRACT_ONLY)", openssl_kdf("-kdfopt", "mode:EXTRACT_ONLY", "-kdfopt", "hexkey:" + ikm), k["prk"])
    check(f"path key {k['name']} ikm", ikm, k["ikm"])

peers = v["peers"]
keys = {("A", "B"): path_key(peers["A"]["pathKey"], peers["B"]["pathKey"]),
        ("B", "A"): path_key(peers["B"]["pathKey"], peers["A"]["pathKey"])}

# ---------------------------------------------------------------- offers (§4)
def encode_offer(o):
    out = struct.pack(">BI", 1, o["receiverIndex"]) + bytes.fromhex(o["pathKey"]) + struct.pack(">HB", o["port"], len(o["addresses"]))
    for a in o["addresses"]:
        ip = ipaddress.ip_address(a)
        out += bytes([ip.version]) + ip.packed
    return out

def decode_offer(b):
    if len(b) < 40 or b[0] != 1:
        return None
    index, = struct.unpack(">I", b[1:5])
    port, count = struct.unpack(">HB", b[37:40])
    if index == 0 or port == 0 or count > 8:
        return None
    at, addresses = 40, []
    for _ in range(count):
        n = {4: 4, 6: 16}.get(b[at] if at < len(b) else -1)
        if n is None or at + 1 + n > len(b):
            return None
        addresses.append(str(ipaddress.ip_address(b[at + 1:at + 1 + n])))
        at += 1 + n
    if at != len(b):
        return None
    return {"receiverIndex": index, "pathKey": b[5:37].hex(), "port": port, "addresses": addresses}

for o in v["offers"]["valid"]:
    check(f"offer {o['name']} (encode)", encode_offer(o["offer"]).hex(), o["hex"])
    d = decode_offer(bytes.fromhex(o["hex"]))
    want = dict(o["offer"], addresses=[str(ipaddress.ip_address(a)) for a in o["offer"]["addresses"]])
    check(f"offer {o['name']} (decode)", d, want)
for o in v["offers"]["invalid"]:
    check(f"offer {o['name']} (decodes: {o['decodes']})", decode_offer(bytes.fromhex(o["hex"])) is not None, o["decodes"])

# ---------------------------------------------------------------- datagrams (§2, §3)
TYPES = {"data": 1, "ping": 2, "pong": 3}

def seal(key_hex, type_, index, counter, plaintext, sealed=b""):
    header = struct.pack(">BII", type_, index, counter)
    nonce = bytes(8) + struct.pack(">I", counter)
    ct_tag = AESGCM(bytes.fromhex(key_hex)).encrypt(nonce, plaintext, header + sealed)
    return header, nonce, ct_tag[:-16], ct_tag[-16:], header + ct_tag + sealed

class Window:
    def __init__(self):
        self.last, self.seen = -1, set()
    def check(self, c):
        if c > self.last: return None
        if self.last - c >= 2048: return "too-old"
        return "replay" if c in self.seen else None
    def accept(self, c):
        self.seen.add(c); self.last = max(self.last, c)

def receive(d, index, key_hex, window):
    if len(d) < 9 or struct.unpack(">I", d[1:5])[0] != index: return "unknown-index"
    if len(d) < 25: return "malformed"
    t, counter = d[0], struct.unpack(">I", d[5:9])[0]
    if counter > LIMIT: return "malformed"
    if t not in (1, 2, 3): return "unknown-type"
    if (t == 1 and len(d) < 69) or (t == 2 and len(d) < 33) or (t == 3 and len(d) != 35): return "malformed"
    seen = window.check(counter)
    if seen: return seen
    end = 26 if t == 1 else len(d) - 16
    sealed = d[42:] if t == 1 else b""
    try:
        plain = AESGCM(bytes.fromhex(key_hex)).decrypt(bytes(8) + d[5:9], d[9:end] + d[end:end + 16], d[:9] + sealed)
    except InvalidTag:
        return "auth"
    window.accept(counter)
    nonce = str(int.from_bytes(plain[:8], "big"))
    if t == 1: return {"type": "data", "counter": counter, "hopLimit": plain[0], "vft": plain[1:17].hex(), "sealed": sealed.hex()}
    if t == 2: return {"type": "ping", "counter": counter, "nonce": nonce, "size": len(d)}
    return {"type": "pong", "counter": counter, "nonce": nonce, "size": int.from_bytes(plain[8:10], "big")}

for x in v["datagrams"]["valid"]:
    m, key = x["message"], keys[(x["from"], x["to"])]
    if m["type"] == "data":
        plain, sealed = bytes([m["hopLimit"]]) + bytes.fromhex(m["vft"]), bytes.fromhex(m["sealed"])
    elif m["type"] == "ping":
        pad = bytes.fromhex(m["padding"]) if "padding" in m else bytes(m["size"] - 33)
        plain, sealed = int(m["nonce"]).to_bytes(8, "big") + pad, b""
    else:
        plain, sealed = int(m["nonce"]).to_bytes(8, "big") + m["size"].to_bytes(2, "big"), b""
    index = peers[x["to"]]["receiverIndex"]
    header, nonce, ct, tag, d = seal(key, TYPES[m["type"]], index, x["counter"], plain, sealed)
    check(f"datagram {x['name']} (pyca AESGCM)",
          (key, header.hex(), nonce.hex(), (header + sealed).hex(), plain.hex(), ct.hex(), tag.hex(), d.hex()),
          (x["key"], x["header"], x["gcmNonce"], x["aad"], x["plaintext"], x["ciphertext"], x["tag"], x["hex"]))
    want = dict(type=m["type"], counter=x["counter"], **({k: m[k] for k in ("hopLimit", "vft", "sealed")} if m["type"] == "data" else {"nonce": m["nonce"], "size": m["size"]}))
    check(f"datagram {x['name']} (receive)", receive(bytes.fromhex(x["hex"]), index, key, Window()), want)

B = peers["B"]["receiverIndex"]
for x in v["datagrams"]["invalid"]:
    check(f"invalid {x['name']}", receive(bytes.fromhex(x["hex"]), B, keys[("A", "B")], Window()), x["reason"])
for s in v["datagrams"]["sequences"]:
    w = Window()
    for st in s["steps"]:
        r = receive(bytes.fromhex(st["hex"]), B, keys[("A", "B")], w)
        check(f"sequence {s['name']}: {st['note']}", r if isinstance(r, str) else ("accepted", r),
              st["outcome"] if st["outcome"] != "accepted" else ("accepted", st["opened"]))

print(f"{failures} failures")
sys.exit(1 if failures else 0)
