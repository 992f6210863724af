// AES-256 with a key prepared once, as the fast path uses it
// (docs/spec/18-fast-path.md §18.8): GCM in one direction, or single blocks
// (the header protection mask, a peek's keystream). Two implementations
// give the same bytes: aes-ni.h where the CPU has AES-NI and PCLMULQDQ,
// OpenSSL's EVP (the one Node links) everywhere else. The environment
// variable PEERTAP_AES=evp makes a process use EVP (a diagnostic switch:
// the benchmarks' before and after).
#pragma once

#include <openssl/evp.h>

#include <cstddef>
#include <cstdint>
#include <memory>

#include "aes-ni.h"

namespace peertap {

class Aes256 {
 public:
  enum class Use { kSeal, kOpen, kBlocks };
  enum class Impl { kAuto, kEvp, kNi };

  // nullptr when OpenSSL fails, or kNi is asked for where it is not Supported().
  static std::unique_ptr<Aes256> New(Use use, const uint8_t* key, Impl impl = Impl::kAuto);
  // What kAuto picks in this process.
  static Impl Default();

  ~Aes256();
  Aes256(const Aes256&) = delete;
  Aes256& operator=(const Aes256&) = delete;

  Impl impl() const { return evp_ != nullptr ? Impl::kEvp : Impl::kNi; }

  // GCM (a kSeal key) with a 12-byte nonce and the AAD a1 ‖ a2: len bytes
  // of ciphertext to out (which may be in) and the 16-byte tag. False if a
  // length is 2^31 or more, or OpenSSL failed.
  bool Seal(const uint8_t* nonce, const uint8_t* a1, size_t a1_len, const uint8_t* a2,
            size_t a2_len, const uint8_t* in, size_t len, uint8_t* out, uint8_t* tag);
  // GCM (a kOpen key): the plaintext to out (which may be in) if `tag`
  // verifies. False if it does not (or OpenSSL failed): out is then zeroed.
  bool Open(const uint8_t* nonce, const uint8_t* a1, size_t a1_len, const uint8_t* a2,
            size_t a2_len, const uint8_t* in, size_t len, uint8_t* out, const uint8_t* tag);
  // AES-256 of `blocks` 16-byte blocks (a kBlocks key).
  bool Blocks(const uint8_t* in, size_t blocks, uint8_t* out);

 private:
  Aes256() = default;
  Use use_ = Use::kSeal;
  EVP_CIPHER_CTX* evp_ = nullptr;  // the EVP implementation; else ni_
  ni::Key ni_;
};

using Cipher = std::unique_ptr<Aes256>;

}  // namespace peertap
