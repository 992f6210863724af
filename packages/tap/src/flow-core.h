// The protocol core of the fast path (docs/spec/18-fast-path.md): the byte
// layouts the flow cache seals and opens on the reader threads, and the
// counters and replay windows it shares with TypeScript. Plain C++ over
// AES-256 keys prepared once (cipher.h), with no Node-API, so that the fuzz
// targets (fuzz/) build it alone with AddressSanitizer.
//
// Every function here is a transcription of a TypeScript reference that
// stays the specification: the sealed payload of @peertap/crypto
// (docs/spec/04-sealed-payload.md), the DATA datagram of @peertap/trunk
// (docs/spec/13-datagram-link.md §2.1, §2.3), and ReplayWindow
// (04-sealed-payload.md §6). test/flow-core.test.ts checks them byte for
// byte against the same vectors.
#pragma once

#include <cstddef>
#include <cstdint>

#include "cipher.h"

namespace peertap {
namespace flow {

constexpr size_t kKeyBytes = 32;
constexpr size_t kSaltBytes = 12;
constexpr size_t kKidBytes = 8;
constexpr size_t kVftBytes = 16;
constexpr size_t kTagBytes = 16;

// ---------------------------------------------------------------------------
// Shared cells: 32-bit words in memory that the reader threads and
// JavaScript (Atomics on an Int32Array over the same bytes, src/flow.ts)
// both use. The layouts are normative in docs/spec/18-fast-path.md §3.

// A counter cell is one word: the next counter to use.
// Takes the next counter below `limit`, or -1 when the cell has reached it
// (the cell then stays at `limit`: a spent key is never used again).
int64_t CounterTake(int32_t* cell, uint32_t limit);

// A replay window cell (04-sealed-payload.md §6): lock word, newest
// accepted counter (-1 before the first), then the ring of 65 words.
constexpr size_t kWindowWords = 68;
constexpr uint32_t kWindowSize = 2048;
enum class Replay : int { kFresh = 0, kReplay = 1, kTooOld = 2 };
// Whether `counter` may be accepted, without taking the lock or changing
// anything: the cheap check made before the AEAD. Advisory only, since the
// other side may accept the same counter meanwhile; WindowAccept decides.
Replay WindowCheck(const int32_t* cell, uint32_t counter);
// Under the cell's lock: checks `counter` again and, if fresh, marks it.
// Called after the AEAD verified, so a forged datagram never moves it.
Replay WindowAccept(int32_t* cell, uint32_t counter);
// Forgets every counter (a key that changed).
void WindowReset(int32_t* cell);

// ---------------------------------------------------------------------------
// The sealed payload (04-sealed-payload.md), one frame under one sender key.

struct SenderKeyRef {
  Aes256* gcm;          // GCM seal with the sender key
  Aes256* hp;           // blocks with the epoch's hpKey
  const uint8_t* salt;  // 12 bytes
  const uint8_t* kid;   // 8 bytes
};

// Bytes a sealed payload adds to a plaintext with this counter.
size_t SealedOverhead(uint64_t counter);
// Seals `plaintext[0, len)` (len >= 1) under `counter` (< 2^56) and the VFT
// into `out`, which has room for len + SealedOverhead(counter) bytes and may
// not overlap the plaintext. Returns the sealed length, 0 if the cipher failed.
size_t SealPayload(const SenderKeyRef& key, const uint8_t* vft, uint64_t counter,
                   const uint8_t* plaintext, size_t len, uint8_t* out);

// The first rules of 04-sealed-payload.md §5 (1 to 5): unmasks the header.
enum class PayloadDrop : int {
  kNone = 0,
  kShort = 1,
  kBadConfig = 2,
  kNonMinimalCtr = 3,
  kCtrLimit = 4,
  kAuth = 5,
};
struct PayloadHeader {
  uint8_t header[16];  // the header in the clear (9 + ctrLen bytes)
  size_t length = 0;   // 9 + ctrLen
  uint64_t kid = 0;    // big-endian value of the 8 KID bytes
  uint64_t counter = 0;
};
PayloadDrop ParsePayload(Aes256* hp, const uint8_t* sealed, size_t len,
                         PayloadHeader* out);
// Rule 8: opens the ciphertext after the header into `out` (len - header -
// 16 bytes; may be the ciphertext's own bytes). kAuth when the tag fails;
// `out` is then zeroed.
PayloadDrop OpenPayload(Aes256* gcm_open, const uint8_t* salt, const uint8_t* vft,
                        const PayloadHeader& h, const uint8_t* sealed, size_t len, uint8_t* out);

// ---------------------------------------------------------------------------
// The DATA datagram of the datagram link (13-datagram-link.md §2.1).

constexpr size_t kDataHeaderBytes = 9;
constexpr size_t kDataOverhead = kDataHeaderBytes + 1 + kVftBytes + kTagBytes;  // 42
constexpr uint8_t kTypeData = 0x01;
constexpr uint32_t kDataCounterMax = 0x7fffffff;  // the highest a receiver takes

// Writes DATA = header ‖ GCM(hopLimit ‖ VFT) ‖ tag ‖ sealed into `out`
// (room for kDataOverhead + sealed_len; `sealed` may already sit at
// out + kDataOverhead, in place). Returns the datagram length, 0 if the
// cipher failed.
size_t SealData(Aes256* gcm, uint32_t receiver_index, uint32_t counter, uint8_t hop_limit,
                const uint8_t* vft, const uint8_t* sealed, size_t sealed_len, uint8_t* out);

// The checks of 13-datagram-link.md §2.3 from 3 on, for a datagram the
// fast path handles. PING and PONG (and any other type) are not DATA:
// kNotData, for the caller to hand to JavaScript untouched.
enum class DataDrop : int {
  kNone = 0,
  kMalformed = 1,
  kUnknownType = 2,
  kNotData = 3,
  kAuth = 4,
};
struct DataHeader {
  uint32_t receiver_index = 0;
  uint32_t counter = 0;
};
// Checks 3 to 6 (length, counter, type): no key needed.
DataDrop ParseData(const uint8_t* datagram, size_t len, DataHeader* out);
// Check 8: verifies the tag and decrypts hopLimit ‖ VFT into hop_limit and
// vft (16 bytes). The sealed payload is datagram[kDataOverhead, len).
DataDrop OpenData(Aes256* gcm_open, const uint8_t* datagram, size_t len,
                  uint8_t* hop_limit, uint8_t* vft);

}  // namespace flow
}  // namespace peertap
