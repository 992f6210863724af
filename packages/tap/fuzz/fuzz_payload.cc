// Fuzz target `payload`: the sealed payload (docs/spec/04-sealed-payload.md),
// ParsePayload and OpenPayload of src/flow-core.cc over any bytes, with one
// fixed sender key, salt, KID, hpKey and VFT.
//
// Checks, beyond memory safety (the plaintext goes to a heap block of
// exactly its length, so a write past it is reported):
// - a header ParsePayload takes is well formed: 9 + ctrLen bytes with
//   ctrLen 1 to 8, room for a plaintext byte and the tag, a minimal counter
//   below 2^23, and the KID and counter are the header's;
// - a payload OpenPayload accepts is authentic: SealPayload with the same
//   KID, counter and plaintext makes it again, byte for byte;
// - opening in place (the plaintext over the ciphertext) gives the same
//   result; a refused payload leaves the plaintext zeroed;
// - a seed (made by SealPayload) always opens, also right after a forgery
//   failed on the same context;
// - every input, taken as a plaintext, round-trips through SealPayload and
//   ParsePayload + OpenPayload under a counter taken from it.
#include <openssl/evp.h>

#include <cstring>
#include <set>

#include "../src/flow-core.h"
#include "fuzz.h"
#include "keys.h"

namespace {

namespace flow = peertap::flow;
using flow::PayloadDrop;
using flow::PayloadHeader;
using namespace fuzzkeys;

struct State {
  Ctx gcm{peertap::Aes256::Use::kSeal, kSenderKey};
  Ctx hp{peertap::Aes256::Use::kBlocks, kHpKey};
  Ctx open{peertap::Aes256::Use::kOpen, kSenderKey};
  Ctx open_ni{peertap::Aes256::Use::kOpen, kSenderKey, fuzzkeys::Ni()};
  std::set<fuzz::Bytes> seeds;
};

State& S() {
  static State s;
  return s;
}

fuzz::Bytes Seal(uint64_t counter, const uint8_t* pt, size_t len, const uint8_t* kid = kKid) {
  fuzz::Bytes out(len + flow::SealedOverhead(counter));
  size_t n = flow::SealPayload({S().gcm.c, S().hp.c, kSalt, kid}, kVft, counter, pt, len,
                               out.data());
  FUZZ_CHECK(n == out.size(), "SealPayload made a payload of the expected length");
  return out;
}

}  // namespace

const char* const fuzz::kTargetName = "payload";

void fuzz::FuzzSeeds(std::vector<fuzz::Bytes>* seeds) {
  uint64_t s = 0x9a710ad;
  const uint64_t counters[] = {0, 1, 255, 256, 0xffff, 0x10000, 0x7fffff};
  const size_t sizes[] = {1, 2, 15, 61, 1401, 1515, 2006 - 28};
  for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
    fuzz::Bytes pt = fuzz::Random(&s, sizes[i]);
    fuzz::Bytes sealed = Seal(counters[i], pt.data(), pt.size());
    seeds->push_back(sealed);
    S().seeds.insert(sealed);
  }
  // Counters at and past the limit (rule 5), up to a 7-byte counter, and
  // another KID: authentic bytes the parser must refuse or open as told.
  for (uint64_t c : {uint64_t{0x800000}, uint64_t{0xffffffff}, uint64_t{1} << 48}) {
    fuzz::Bytes pt = fuzz::Random(&s, 64);
    seeds->push_back(Seal(c, pt.data(), pt.size()));
  }
  fuzz::Bytes pt = fuzz::Random(&s, 64);
  seeds->push_back(Seal(7, pt.data(), pt.size(), kKid2));
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* d, size_t len) {
  State& st = S();
  PayloadHeader h;
  PayloadDrop drop = flow::ParsePayload(st.hp.c, d, len, &h);
  bool seed = st.seeds.count(fuzz::Bytes(d, d + len)) != 0;
  FUZZ_CHECK(drop != PayloadDrop::kAuth, "ParsePayload fails only on OpenSSL");
  if (drop == PayloadDrop::kNone) {
    size_t ctr_len = h.length - 9;
    FUZZ_CHECK(ctr_len >= 1 && ctr_len <= 8, "ctrLen 1 to 8");
    FUZZ_CHECK(len >= h.length + 1 + flow::kTagBytes, "room for the header, a byte and the tag");
    FUZZ_CHECK(h.counter < (1u << 23), "counter below 2^23 (rule 5)");
    FUZZ_CHECK(ctr_len == 1 || h.header[9] != 0, "a minimal counter (rule 4)");
    FUZZ_CHECK(h.header[0] >= 0xf8 && h.header[0] != 0xff && (h.header[0] & 7u) + 1 == ctr_len,
               "the config byte names ctrLen (rule 2)");
    uint64_t kid = 0, counter = 0;
    for (int i = 0; i < 8; i++) kid = kid << 8 | h.header[1 + i];
    for (size_t i = 0; i < ctr_len; i++) counter = counter << 8 | h.header[9 + i];
    FUZZ_CHECK(kid == h.kid && counter == h.counter, "KID and counter are the header's");

    size_t pt_len = len - h.length - flow::kTagBytes;
    auto* pt = static_cast<uint8_t*>(std::malloc(pt_len));  // exact: a write past it is caught
    std::memset(pt, 0xa5, pt_len);
    PayloadDrop open = flow::OpenPayload(st.open.c, kSalt, kVft, h, d, len, pt);
    FUZZ_CHECK(open == PayloadDrop::kNone || open == PayloadDrop::kAuth, "OpenPayload: none or auth");
    // In place, as a receiver that opens into the datagram's own bytes.
    auto* copy = static_cast<uint8_t*>(std::malloc(len));
    std::memcpy(copy, d, len);
    PayloadDrop open2 =
        flow::OpenPayload(st.open.c, kSalt, kVft, h, copy, len, copy + h.length);
    FUZZ_CHECK(open2 == open, "opening in place decides the same");
    // AES-NI's Open (the cache's), separately and in place: the same verdict
    // and plaintext as OpenSSL's.
    auto* pt_ni = static_cast<uint8_t*>(std::malloc(pt_len));
    std::memset(pt_ni, 0x5a, pt_len);
    FUZZ_CHECK(flow::OpenPayload(st.open_ni.c, kSalt, kVft, h, d, len, pt_ni) == open &&
                   std::memcmp(pt_ni, pt, pt_len) == 0,
               "AES-NI and OpenSSL open to the same verdict and bytes");
    std::memcpy(copy, d, len);
    FUZZ_CHECK(flow::OpenPayload(st.open_ni.c, kSalt, kVft, h, copy, len, copy + h.length) == open &&
                   std::memcmp(copy + h.length, pt, pt_len) == 0,
               "AES-NI in place: the same verdict and bytes");
    std::free(pt_ni);
    if (open == PayloadDrop::kNone) {
      FUZZ_CHECK(std::memcmp(copy + h.length, pt, pt_len) == 0, "opening in place, same plaintext");
      fuzz::Bytes again = Seal(h.counter, pt, pt_len, h.header + 1);
      FUZZ_CHECK(again.size() == len && std::memcmp(again.data(), d, len) == 0,
                 "a payload OpenPayload accepts is the one SealPayload makes (authentic)");
    } else {
      bool zero = true;
      for (size_t i = 0; i < pt_len; i++) zero = zero && pt[i] == 0;
      FUZZ_CHECK(zero, "a refused payload leaves the plaintext zeroed");
    }
    FUZZ_CHECK(!seed || open == PayloadDrop::kNone, "a payload SealPayload made opens");
    std::free(copy);
    std::free(pt);
  } else {
    FUZZ_CHECK(!seed, "a payload SealPayload made parses");
  }

  // The input as a plaintext: seal, parse, open, compare.
  if (len >= 1 && len <= 2048) {
    uint64_t counter = 0;
    for (size_t i = 0; i < 3 && i < len; i++) counter = counter << 8 | d[i];
    counter >>= (d[0] & 7) * 3;  // short and long counters alike, all below 2^23
    counter &= 0x7fffff;
    fuzz::Bytes sealed = Seal(counter, d, len);
    PayloadHeader h2;
    FUZZ_CHECK(flow::ParsePayload(st.hp.c, sealed.data(), sealed.size(), &h2) == PayloadDrop::kNone &&
                   h2.counter == counter && h2.length == sealed.size() - len - flow::kTagBytes,
               "a sealed payload parses to its counter");
    fuzz::Bytes pt(len);
    FUZZ_CHECK(flow::OpenPayload(st.open.c, kSalt, kVft, h2, sealed.data(), sealed.size(),
                                 pt.data()) == PayloadDrop::kNone &&
                   std::memcmp(pt.data(), d, len) == 0,
               "a sealed payload opens to its plaintext");
  }
  return 0;
}
