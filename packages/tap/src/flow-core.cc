// The fast path's protocol core (flow-core.h): shared cells, the sealed
// payload, the DATA datagram.
#include "flow-core.h"

#include <openssl/crypto.h>
#include <sched.h>

#include <cstring>

namespace peertap {
namespace flow {
namespace {

constexpr size_t kRingWords = kWindowSize / 32 + 1;  // 65, as ReplayWindow
constexpr int kLock = 0;
constexpr int kLast = 1;
constexpr int kRing = 2;
constexpr uint8_t kConfigBase = 0xf8;
constexpr uint64_t kCounterLimit = 1u << 23;  // 03-keys.md §4

int32_t Load(const int32_t* p) { return __atomic_load_n(p, __ATOMIC_ACQUIRE); }
void Store(int32_t* p, int32_t v) { __atomic_store_n(p, v, __ATOMIC_RELEASE); }

void Lock(int32_t* cell) {
  for (unsigned spins = 0;; spins++) {
    int32_t expected = 0;
    if (__atomic_compare_exchange_n(&cell[kLock], &expected, 1, false, __ATOMIC_ACQUIRE,
                                    __ATOMIC_RELAXED)) {
      return;
    }
    // The holder is the other thread, for a few dozen instructions; if it
    // was preempted meanwhile, give it the CPU instead of spinning on.
    if (spins >= 64) sched_yield();
  }
}

void Unlock(int32_t* cell) { __atomic_store_n(&cell[kLock], 0, __ATOMIC_RELEASE); }

Replay CheckLocked(const int32_t* cell, uint32_t counter) {
  int64_t last = Load(&cell[kLast]);
  if (int64_t{counter} > last) return Replay::kFresh;
  if (last - counter >= kWindowSize) return Replay::kTooOld;
  uint32_t word = static_cast<uint32_t>(Load(&cell[kRing + (counter >> 5) % kRingWords]));
  return (word >> (counter & 31)) & 1 ? Replay::kReplay : Replay::kFresh;
}

void PutU32(uint8_t* p, uint32_t v) {
  p[0] = static_cast<uint8_t>(v >> 24);
  p[1] = static_cast<uint8_t>(v >> 16);
  p[2] = static_cast<uint8_t>(v >> 8);
  p[3] = static_cast<uint8_t>(v);
}

uint32_t GetU32(const uint8_t* p) {
  return uint32_t{p[0]} << 24 | uint32_t{p[1]} << 16 | uint32_t{p[2]} << 8 | p[3];
}

// The shortest big-endian encoding's length (1 for counter 0).
size_t CtrLength(uint64_t counter) {
  size_t n = 1;
  while (n < 8 && (counter >> (8 * n)) != 0) n++;
  return n;
}

bool Mask(Aes256* hp, const uint8_t* tag, uint8_t* mask) { return hp->Blocks(tag, 1, mask); }

// nonce = salt XOR (0 × 5 ‖ counter as 7 bytes), 03-keys.md §6.
void FrameNonce(const uint8_t* salt, uint64_t counter, uint8_t* nonce) {
  std::memcpy(nonce, salt, kSaltBytes);
  for (int i = 0; i < 7; i++) nonce[11 - i] ^= static_cast<uint8_t>(counter >> (8 * i));
}

// nonce = 0 × 8 ‖ counter u32, 13-datagram-link.md §3.
void DataNonce(uint32_t counter, uint8_t* nonce) {
  std::memset(nonce, 0, 8);
  PutU32(nonce + 8, counter);
}

}  // namespace

int64_t CounterTake(int32_t* cell, uint32_t limit) {
  int32_t v = Load(cell);
  for (;;) {
    if (v < 0 || static_cast<uint32_t>(v) >= limit) return -1;
    if (__atomic_compare_exchange_n(cell, &v, v + 1, false, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
      return v;
    }
  }
}

Replay WindowCheck(const int32_t* cell, uint32_t counter) { return CheckLocked(cell, counter); }

Replay WindowAccept(int32_t* cell, uint32_t counter) {
  Lock(cell);
  Replay r = CheckLocked(cell, counter);
  if (r == Replay::kFresh) {
    int64_t last = Load(&cell[kLast]);
    int64_t index = counter >> 5;
    if (int64_t{counter} > last) {
      int64_t current = last >> 5;  // -1 before the first counter
      int64_t diff = index - current < int64_t{kRingWords} ? index - current : kRingWords;
      for (int64_t i = 1; i <= diff; i++) Store(&cell[kRing + (current + i) % kRingWords], 0);
      Store(&cell[kLast], static_cast<int32_t>(counter));
    }
    int32_t* word = &cell[kRing + index % kRingWords];
    Store(word, static_cast<int32_t>(static_cast<uint32_t>(Load(word)) | (1u << (counter & 31))));
  }
  Unlock(cell);
  return r;
}

void WindowReset(int32_t* cell) {
  Lock(cell);
  for (size_t i = 0; i < kRingWords; i++) Store(&cell[kRing + i], 0);
  Store(&cell[kLast], -1);
  Unlock(cell);
}

size_t SealedOverhead(uint64_t counter) { return 9 + CtrLength(counter) + kTagBytes; }

size_t SealPayload(const SenderKeyRef& key, const uint8_t* vft, uint64_t counter,
                   const uint8_t* plaintext, size_t len, uint8_t* out) {
  size_t ctr_len = CtrLength(counter);
  if (len == 0 || ctr_len > 7 || len > 0x7fffffff) return 0;
  size_t hlen = 9 + ctr_len;
  uint8_t header[16];
  header[0] = static_cast<uint8_t>(kConfigBase | (ctr_len - 1));
  std::memcpy(header + 1, key.kid, kKidBytes);
  for (size_t i = 0; i < ctr_len; i++) {
    header[9 + i] = static_cast<uint8_t>(counter >> (8 * (ctr_len - 1 - i)));
  }
  uint8_t nonce[kSaltBytes];
  FrameNonce(key.salt, counter, nonce);
  uint8_t* ct = out + hlen;
  uint8_t* tag = ct + len;
  uint8_t mask[kTagBytes];
  if (!key.gcm->Seal(nonce, vft, kVftBytes, header, hlen, plaintext, len, ct, tag) ||
      !Mask(key.hp, tag, mask)) {
    return 0;
  }
  for (size_t i = 0; i < hlen; i++) out[i] = header[i] ^ mask[i];
  return hlen + len + kTagBytes;
}

PayloadDrop ParsePayload(Aes256* hp, const uint8_t* sealed, size_t len,
                         PayloadHeader* out) {
  if (len < 27) return PayloadDrop::kShort;  // rule 1
  uint8_t mask[kTagBytes];
  if (!Mask(hp, sealed + len - kTagBytes, mask)) return PayloadDrop::kAuth;
  uint8_t config = sealed[0] ^ mask[0];
  if (config < kConfigBase || config == 0xff) return PayloadDrop::kBadConfig;  // rule 2
  size_t ctr_len = (config & 7u) + 1;
  if (len < 9 + ctr_len + 1 + kTagBytes) return PayloadDrop::kShort;  // rule 3
  size_t hlen = 9 + ctr_len;
  for (size_t i = 0; i < hlen; i++) out->header[i] = sealed[i] ^ mask[i];
  if (ctr_len > 1 && out->header[9] == 0) return PayloadDrop::kNonMinimalCtr;  // rule 4
  uint64_t kid = 0;
  for (size_t i = 0; i < kKidBytes; i++) kid = kid << 8 | out->header[1 + i];
  uint64_t counter = 0;
  for (size_t i = 0; i < ctr_len; i++) counter = counter << 8 | out->header[9 + i];
  out->length = hlen;
  out->kid = kid;
  out->counter = counter;
  if (counter >= kCounterLimit) return PayloadDrop::kCtrLimit;  // rule 5
  return PayloadDrop::kNone;
}

PayloadDrop OpenPayload(Aes256* gcm_open, const uint8_t* salt, const uint8_t* vft,
                        const PayloadHeader& h, const uint8_t* sealed, size_t len, uint8_t* out) {
  size_t ct_len = len - h.length - kTagBytes;
  uint8_t tag[kTagBytes];
  std::memcpy(tag, sealed + len - kTagBytes, kTagBytes);  // out may overlap
  uint8_t nonce[kSaltBytes];
  FrameNonce(salt, h.counter, nonce);
  // On failure Open has zeroed out.
  return gcm_open->Open(nonce, vft, kVftBytes, h.header, h.length, sealed + h.length, ct_len, out,
                        tag)
             ? PayloadDrop::kNone
             : PayloadDrop::kAuth;
}

size_t SealData(Aes256* gcm, uint32_t receiver_index, uint32_t counter, uint8_t hop_limit,
                const uint8_t* vft, const uint8_t* sealed, size_t sealed_len, uint8_t* out) {
  if (counter > kDataCounterMax || sealed_len > 0x7fffffff) return 0;
  uint8_t* body = out + kDataOverhead;
  if (sealed != body) std::memmove(body, sealed, sealed_len);
  out[0] = kTypeData;
  PutU32(out + 1, receiver_index);
  PutU32(out + 5, counter);
  uint8_t plain[1 + kVftBytes];
  plain[0] = hop_limit;
  std::memcpy(plain + 1, vft, kVftBytes);
  uint8_t nonce[12];
  DataNonce(counter, nonce);
  uint8_t* tag = out + kDataHeaderBytes + sizeof plain;
  if (!gcm->Seal(nonce, out, kDataHeaderBytes, body, sealed_len, plain, sizeof plain,
                 out + kDataHeaderBytes, tag)) {
    return 0;
  }
  return kDataOverhead + sealed_len;
}

DataDrop ParseData(const uint8_t* d, size_t len, DataHeader* out) {
  if (len < kDataHeaderBytes + kTagBytes) return DataDrop::kMalformed;  // check 3
  uint32_t counter = GetU32(d + 5);
  if (counter > kDataCounterMax) return DataDrop::kMalformed;  // check 4
  if (d[0] < 0x01 || d[0] > 0x03) return DataDrop::kUnknownType;  // check 5
  if (d[0] != kTypeData) return DataDrop::kNotData;
  if (len < kDataOverhead + 27) return DataDrop::kMalformed;  // check 6
  out->receiver_index = GetU32(d + 1);
  out->counter = counter;
  return DataDrop::kNone;
}

DataDrop OpenData(Aes256* gcm_open, const uint8_t* d, size_t len, uint8_t* hop_limit,
                  uint8_t* vft) {
  uint8_t nonce[12];
  DataNonce(GetU32(d + 5), nonce);
  uint8_t plain[1 + kVftBytes];
  if (!gcm_open->Open(nonce, d, kDataHeaderBytes, d + kDataOverhead, len - kDataOverhead,
                      d + kDataHeaderBytes, sizeof plain, plain,
                      d + kDataHeaderBytes + sizeof plain)) {
    return DataDrop::kAuth;
  }
  *hop_limit = plain[0];
  std::memcpy(vft, plain + 1, kVftBytes);
  OPENSSL_cleanse(plain, sizeof plain);
  return DataDrop::kNone;
}

}  // namespace flow
}  // namespace peertap
