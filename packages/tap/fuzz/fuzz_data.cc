// Fuzz target `data`: the DATA datagram of the datagram link
// (docs/spec/13-datagram-link.md §2.1, §2.3), ParseData and OpenData of
// src/flow-core.cc over any datagram, with one fixed hop key.
//
// Checks, beyond memory safety:
// - ParseData's decision is the one of §2.3's checks 3 to 6, in that order
//   (a reference written from the table);
// - a datagram that OpenData accepts is authentic: SealData with the same
//   key, index, counter, hopLimit, VFT and sealed bytes makes it again,
//   byte for byte (GCM is deterministic for a nonce);
// - a seed (a datagram SealData made) always opens, also right after a
//   forgery failed on the same context;
// - every input, taken as a sealed payload, round-trips through SealData
//   (in a separate buffer and in place) and ParseData + OpenData.
#include <openssl/evp.h>

#include <cstring>
#include <set>

#include "../src/flow-core.h"
#include "fuzz.h"
#include "keys.h"

namespace {

using peertap::flow::DataDrop;
using peertap::flow::DataHeader;
namespace flow = peertap::flow;

struct State {
  fuzzkeys::Ctx seal{peertap::Aes256::Use::kSeal, fuzzkeys::kHopKey};
  fuzzkeys::Ctx open{peertap::Aes256::Use::kOpen, fuzzkeys::kHopKey};
  fuzzkeys::Ctx open_ni{peertap::Aes256::Use::kOpen, fuzzkeys::kHopKey, fuzzkeys::Ni()};
  std::set<fuzz::Bytes> seeds;
};

State& S() {
  static State s;
  return s;
}

uint32_t U32(const uint8_t* p) {
  return uint32_t{p[0]} << 24 | uint32_t{p[1]} << 16 | uint32_t{p[2]} << 8 | p[3];
}

// 13-datagram-link.md §2.3, checks 3 to 6, for DATA only.
DataDrop Reference(const uint8_t* d, size_t len) {
  if (len < 25) return DataDrop::kMalformed;
  if (U32(d + 5) > 0x7fffffffu) return DataDrop::kMalformed;
  if (d[0] < 1 || d[0] > 3) return DataDrop::kUnknownType;
  if (d[0] != 1) return DataDrop::kNotData;
  if (len < 9 + 17 + 16 + 27) return DataDrop::kMalformed;
  return DataDrop::kNone;
}

fuzz::Bytes Seal(uint32_t index, uint32_t counter, uint8_t hop, const uint8_t* vft,
                 const fuzz::Bytes& sealed) {
  fuzz::Bytes out(flow::kDataOverhead + sealed.size());
  size_t n = flow::SealData(S().seal.c, index, counter, hop, vft, sealed.data(), sealed.size(),
                            out.data());
  FUZZ_CHECK(n == out.size(), "SealData made a datagram of the expected length");
  return out;
}

}  // namespace

const char* const fuzz::kTargetName = "data";

void fuzz::FuzzSeeds(std::vector<fuzz::Bytes>* seeds) {
  uint64_t s = 0xda7a;
  const size_t sizes[] = {27, 28, 43, 100, 1400, 1472 - 42, 2048 - 42};
  const uint32_t counters[] = {0, 1, 255, 256, 0x10000, 0x7ffffffe, 0x7fffffff};
  for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
    uint8_t vft[16];
    fuzz::Fill(&s, vft, 16);
    fuzz::Bytes sealed = fuzz::Random(&s, sizes[i]);
    fuzz::Bytes d = Seal(static_cast<uint32_t>(fuzz::Mix(&s)),
                         counters[i % (sizeof counters / sizeof counters[0])],
                         static_cast<uint8_t>(i * 37), vft, sealed);
    seeds->push_back(d);
    S().seeds.insert(d);
  }
  // PING (type 2, at least 33 bytes) and PONG (type 3, 35 bytes) shapes,
  // and an unknown type: not DATA, for the caller to hand up.
  for (uint8_t type : {2, 3, 4}) {
    fuzz::Bytes d = fuzz::Random(&s, type == 2 ? 64 : 35);
    d[0] = type;
    d[5] &= 0x7f;
    seeds->push_back(d);
  }
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* d, size_t len) {
  State& st = S();
  DataHeader h;
  DataDrop drop = flow::ParseData(d, len, &h);
  FUZZ_CHECK(drop == Reference(d, len), "ParseData decides as 13-datagram-link.md §2.3, checks 3-6");
  bool seed = st.seeds.count(fuzz::Bytes(d, d + len)) != 0;
  if (drop == DataDrop::kNone) {
    FUZZ_CHECK(h.receiver_index == U32(d + 1) && h.counter == U32(d + 5), "header fields");
    uint8_t hop = 0, vft[16];
    DataDrop open = flow::OpenData(st.open.c, d, len, &hop, vft);
    FUZZ_CHECK(open == DataDrop::kNone || open == DataDrop::kAuth, "OpenData: none or auth");
    uint8_t hop_ni = 0, vft_ni[16] = {0};
    DataDrop open_ni = flow::OpenData(st.open_ni.c, d, len, &hop_ni, vft_ni);
    FUZZ_CHECK(open_ni == open && (open != DataDrop::kNone ||
                                   (hop_ni == hop && std::memcmp(vft_ni, vft, 16) == 0)),
               "AES-NI and OpenSSL open to the same verdict, hop limit and VFT");
    if (open == DataDrop::kNone) {
      fuzz::Bytes sealed(d + flow::kDataOverhead, d + len);
      fuzz::Bytes again = Seal(h.receiver_index, h.counter, hop, vft, sealed);
      FUZZ_CHECK(again.size() == len && std::memcmp(again.data(), d, len) == 0,
                 "a datagram OpenData accepts is the one SealData makes (authentic)");
    }
    FUZZ_CHECK(!seed || open == DataDrop::kNone, "a datagram SealData made opens");
  } else {
    FUZZ_CHECK(!seed, "a datagram SealData made parses");
  }

  // The input as a sealed payload: SealData, then ParseData + OpenData.
  if (len >= 27 && len <= 2048 - flow::kDataOverhead) {
    uint32_t counter = len >= 4 ? U32(d) & 0x7fffffff : 0;
    uint32_t index = len >= 8 ? U32(d + 4) : 0;
    uint8_t vft[16];
    for (int i = 0; i < 16; i++) vft[i] = d[(i * 7) % len];
    fuzz::Bytes sealed(d, d + len);
    fuzz::Bytes out = Seal(index, counter, d[len - 1], vft, sealed);
    // In place: the sealed payload already at out + 42.
    fuzz::Bytes inplace(flow::kDataOverhead + len);
    std::memcpy(inplace.data() + flow::kDataOverhead, d, len);
    size_t n = flow::SealData(st.seal.c, index, counter, d[len - 1], vft,
                              inplace.data() + flow::kDataOverhead, len, inplace.data());
    FUZZ_CHECK(n == out.size() && inplace == out, "SealData in place makes the same datagram");
    DataHeader h2;
    FUZZ_CHECK(flow::ParseData(out.data(), out.size(), &h2) == DataDrop::kNone &&
                   h2.receiver_index == index && h2.counter == counter,
               "a sealed DATA parses to its index and counter");
    uint8_t hop = 0, vft2[16];
    FUZZ_CHECK(flow::OpenData(st.open.c, out.data(), out.size(), &hop, vft2) == DataDrop::kNone &&
                   hop == d[len - 1] && std::memcmp(vft, vft2, 16) == 0,
               "a sealed DATA opens to its hopLimit and VFT");
  }
  return 0;
}
