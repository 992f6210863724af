#include "cipher.h"

#include <openssl/crypto.h>

#include <cstdlib>
#include <cstring>

namespace peertap {

Aes256::Impl Aes256::Default() {
  static const Impl impl = [] {
    const char* v = std::getenv("PEERTAP_AES");
    if (v != nullptr && std::strcmp(v, "evp") == 0) return Impl::kEvp;
    return ni::Supported() ? Impl::kNi : Impl::kEvp;
  }();
  return impl;
}

std::unique_ptr<Aes256> Aes256::New(Use use, const uint8_t* key, Impl impl) {
  if (impl == Impl::kAuto) impl = Default();
  if (impl == Impl::kNi && !ni::Supported()) return nullptr;
  std::unique_ptr<Aes256> a(new Aes256());
  a->use_ = use;
  if (impl == Impl::kNi) {
    ni::Init(&a->ni_, key);
    return a;
  }
  a->evp_ = EVP_CIPHER_CTX_new();
  if (a->evp_ == nullptr ||
      EVP_CipherInit_ex(a->evp_, use == Use::kBlocks ? EVP_aes_256_ecb() : EVP_aes_256_gcm(),
                        nullptr, key, nullptr, use == Use::kOpen ? 0 : 1) != 1 ||
      EVP_CIPHER_CTX_set_padding(a->evp_, 0) != 1) {
    return nullptr;
  }
  return a;
}

Aes256::~Aes256() {
  EVP_CIPHER_CTX_free(evp_);  // frees and cleanses its key schedule
  ni::Wipe(&ni_);
}

namespace {

// Nonce, AADs and text through a GCM context of its own direction.
bool EvpGcm(EVP_CIPHER_CTX* c, const uint8_t* nonce, const uint8_t* a1, size_t a1_len,
            const uint8_t* a2, size_t a2_len, const uint8_t* in, size_t len, uint8_t* out) {
  int n = 0;
  return EVP_CipherInit_ex(c, nullptr, nullptr, nullptr, nonce, -1) == 1 &&
         (a1_len == 0 || EVP_CipherUpdate(c, nullptr, &n, a1, static_cast<int>(a1_len)) == 1) &&
         (a2_len == 0 || EVP_CipherUpdate(c, nullptr, &n, a2, static_cast<int>(a2_len)) == 1) &&
         (len == 0 || EVP_CipherUpdate(c, out, &n, in, static_cast<int>(len)) == 1);
}

// Both implementations take the same lengths: each below 2^31 bytes (EVP's
// int lengths; GCM's own limit is far above).
bool Fits(size_t a1_len, size_t a2_len, size_t len) {
  return a1_len <= 0x7fffffff && a2_len <= 0x7fffffff && len <= 0x7fffffff;
}

}  // namespace

bool Aes256::Seal(const uint8_t* nonce, const uint8_t* a1, size_t a1_len, const uint8_t* a2,
                  size_t a2_len, const uint8_t* in, size_t len, uint8_t* out, uint8_t* tag) {
  if (use_ != Use::kSeal || !Fits(a1_len, a2_len, len)) return false;
  if (evp_ == nullptr) {
    ni::Seal(ni_, nonce, a1, a1_len, a2, a2_len, in, len, out, tag);
    return true;
  }
  int n = 0;
  return EvpGcm(evp_, nonce, a1, a1_len, a2, a2_len, in, len, out) &&
         EVP_EncryptFinal_ex(evp_, tag, &n) == 1 &&
         EVP_CIPHER_CTX_ctrl(evp_, EVP_CTRL_GCM_GET_TAG, 16, tag) == 1;
}

bool Aes256::Open(const uint8_t* nonce, const uint8_t* a1, size_t a1_len, const uint8_t* a2,
                  size_t a2_len, const uint8_t* in, size_t len, uint8_t* out,
                  const uint8_t* tag) {
  bool ok = false;
  if (use_ != Use::kOpen || !Fits(a1_len, a2_len, len)) {
    ok = false;
  } else if (evp_ == nullptr) {
    ok = ni::Open(ni_, nonce, a1, a1_len, a2, a2_len, in, len, out, tag);
  } else {
    uint8_t t[16];
    std::memcpy(t, tag, 16);  // out may overlap the tag's bytes
    int n = 0;
    ok = EvpGcm(evp_, nonce, a1, a1_len, a2, a2_len, in, len, out) &&
         EVP_CIPHER_CTX_ctrl(evp_, EVP_CTRL_GCM_SET_TAG, 16, t) == 1 &&
         EVP_DecryptFinal_ex(evp_, out + len, &n) == 1;
  }
  if (!ok && len > 0) OPENSSL_cleanse(out, len);
  return ok;
}

bool Aes256::Blocks(const uint8_t* in, size_t blocks, uint8_t* out) {
  if (use_ != Use::kBlocks || blocks > 0x7ffffff) return false;
  if (evp_ == nullptr) {
    ni::Blocks(ni_, in, blocks, out);
    return true;
  }
  int w = 0;
  int want = static_cast<int>(16 * blocks);
  return EVP_EncryptUpdate(evp_, out, &w, in, want) == 1 && w == want;
}

}  // namespace peertap
