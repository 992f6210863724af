// AES-256-GCM and AES-256 blocks with the x86-64 instructions AES-NI and
// PCLMULQDQ, in a few hundred bytes of code and one small key structure.
//
// Why not OpenSSL's EVP here: the fast path's reader threads seal or open
// one frame after sleeping in poll(2), and on this kind of machine
// (a KVM guest) code and data untouched for 10 ms have left the caches and
// TLBs. One EVP GCM seal of 100 bytes then takes about 26 µs (0.5 µs warm):
// it walks OpenSSL's provider dispatch across many pages. This code takes
// about 2.4 µs cold (0.3 µs warm). Measured in docs/spec/18-fast-path.md
// §18.4.10. OpenSSL stays the reference and the fallback
// (cipher.h): test/cipher.test.ts and the fuzz target `aes` compare the two
// byte for byte.
//
// The algorithms are NIST SP 800-38D (GCM with a 96-bit IV) over FIPS 197
// (AES-256). GHASH works on byte-reflected blocks: the carry-less product
// is shifted left by one bit and reduced modulo x^128 + x^7 + x^2 + x + 1,
// the method of Gueron and Kounavis, "Intel Carry-Less Multiplication
// Instruction and its Usage for Computing the GCM Mode" (2010), §5 and
// Algorithm 5. Eight blocks at a time are multiplied by H^8 .. H with
// Karatsuba's three products and reduced once; CTR runs eight blocks at a
// time so that their AES rounds overlap. Every step is constant-time: no table lookups, no branches on
// secrets; the tag is compared with CRYPTO_memcmp.
#pragma once

#include <cstddef>
#include <cstdint>

namespace peertap {
namespace ni {

// The AES-256 round keys, H to H^8 (byte-reflected), and each power's two
// halves XORed (the middle factor of a Karatsuba product) of one key.
struct alignas(16) Key {
  uint8_t rk[15][16];
  uint8_t h[8][16];
  uint8_t hk[8][16];
};

// Whether this build and CPU have the instructions (x86-64 with AES-NI,
// PCLMULQDQ, SSSE3 and SSE4.1). The functions below need it true.
bool Supported();

void Init(Key* k, const uint8_t* key);  // key: 32 bytes
// Cleanses the key's bytes (they are the key schedule).
void Wipe(Key* k);

// GCM with a 12-byte nonce and the AAD a1 ‖ a2 (either may be empty):
// writes len bytes of ciphertext to out (which may be in) and the 16-byte tag.
void Seal(const Key& k, const uint8_t* nonce, const uint8_t* a1, size_t a1_len,
          const uint8_t* a2, size_t a2_len, const uint8_t* in, size_t len, uint8_t* out,
          uint8_t* tag);
// Verifies the tag over a1 ‖ a2 and the ciphertext first; only then writes
// the plaintext to out (which may be in). False: out is not written
// (Aes256::Open then zeroes it). `in` is read twice, so it must not change
// meanwhile (the reader threads' slots do not).
bool Open(const Key& k, const uint8_t* nonce, const uint8_t* a1, size_t a1_len,
          const uint8_t* a2, size_t a2_len, const uint8_t* in, size_t len, uint8_t* out,
          const uint8_t* tag);
// AES-256 of `blocks` 16-byte blocks (ECB).
void Blocks(const Key& k, const uint8_t* in, size_t blocks, uint8_t* out);

}  // namespace ni
}  // namespace peertap
