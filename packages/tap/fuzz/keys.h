// Fixed keys, and keys prepared for the fuzz targets of flow-core.cc
// (src/cipher.h): by default sealing with AES-NI (where the CPU has it,
// whatever PEERTAP_AES says), opening and masking with OpenSSL's EVP, so
// that each round trip also compares the two.
#pragma once

#include "../src/cipher.h"

#include <cstdint>
#include <cstdio>
#include <cstdlib>

namespace fuzzkeys {

// AES-NI where the CPU has it, else EVP.
inline peertap::Aes256::Impl Ni() {
  return peertap::ni::Supported() ? peertap::Aes256::Impl::kNi : peertap::Aes256::Impl::kEvp;
}

struct Ctx {
  peertap::Cipher key;
  peertap::Aes256* c;
  Ctx(peertap::Aes256::Use use, const uint8_t* bytes)
      : Ctx(use, bytes, use == peertap::Aes256::Use::kSeal ? Ni() : peertap::Aes256::Impl::kEvp) {}
  Ctx(peertap::Aes256::Use use, const uint8_t* bytes, peertap::Aes256::Impl impl)
      : key(peertap::Aes256::New(use, bytes, impl)), c(key.get()) {
    if (c == nullptr) {
      std::fprintf(stderr, "peertap-fuzz: could not prepare a key\n");
      std::exit(2);
    }
  }
};

#define FUZZKEY(name, base)                                                               \
  inline constexpr uint8_t name[32] = {                                                   \
      base + 0,  base + 1,  base + 2,  base + 3,  base + 4,  base + 5,  base + 6,  base + 7,  \
      base + 8,  base + 9,  base + 10, base + 11, base + 12, base + 13, base + 14, base + 15, \
      base + 16, base + 17, base + 18, base + 19, base + 20, base + 21, base + 22, base + 23, \
      base + 24, base + 25, base + 26, base + 27, base + 28, base + 29, base + 30, base + 31}

FUZZKEY(kHopKey, 0x00);
FUZZKEY(kHopKey2, 0x20);
FUZZKEY(kSenderKey, 0x40);
FUZZKEY(kSenderKey2, 0x60);
FUZZKEY(kSenderKey3, 0x80);
FUZZKEY(kHpKey, 0xa0);
FUZZKEY(kHpKey2, 0xc0);
#undef FUZZKEY

inline constexpr uint8_t kSalt[12] = {0x5a, 0x17, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
inline constexpr uint8_t kSalt2[12] = {0x5a, 0x27, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20};
inline constexpr uint8_t kSalt3[12] = {0x5a, 0x37, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30};
inline constexpr uint8_t kKid[8] = {0x4b, 0x49, 0x44, 0, 0, 0, 0, 1};
inline constexpr uint8_t kKid2[8] = {0x4b, 0x49, 0x44, 0, 0, 0, 0, 2};
inline constexpr uint8_t kKid3[8] = {0x4b, 0x49, 0x44, 0, 0, 0, 0, 3};
inline constexpr uint8_t kVft[16] = {0x56, 0x46, 0x54, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13};
inline constexpr uint8_t kVft2[16] = {0x56, 0x46, 0x54, 2, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13};

}  // namespace fuzzkeys
