// AES-256-GCM and AES-256-ECB with a key prepared once, against the OpenSSL
// that Node itself links and exports to addons (<openssl/evp.h> from Node's
// headers; no second copy of OpenSSL is built or loaded).
//
// Why: node:crypto makes a cipher object per message (createCipheriv, then
// setAAD, update, final, getAuthTag: five calls into C++, each allocating),
// which costs more than the encryption of a small frame. Here a key holds one
// EVP_CIPHER_CTX per direction with its key schedule, and a message is one
// call: set the nonce, feed the AADs and the text, write ciphertext and tag.
// A pure primitive: nonces, AADs and layouts are the caller's (aead.ts).
#include "aead.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <cstdint>
#include <cstring>

namespace peertap {
namespace {

constexpr size_t kKeyBytes = 32;
constexpr size_t kNonceBytes = 12;
constexpr size_t kTagBytes = 16;

// Each key starts with its kind, so that a handle of the other kind (only
// reachable by calling the addon's private functions directly) is refused
// instead of being read as the wrong struct.
enum class Kind : uint32_t { kGcm = 0x67636d31, kEcb = 0x65636231 };

struct GcmKey {
  const Kind kind = Kind::kGcm;
  EVP_CIPHER_CTX* seal = nullptr;
  EVP_CIPHER_CTX* open = nullptr;
};

struct EcbKey {
  const Kind kind = Kind::kEcb;
  EVP_CIPHER_CTX* ctx = nullptr;
};

void FreeGcm(napi_env, void* data, void*) {
  auto* k = static_cast<GcmKey*>(data);
  EVP_CIPHER_CTX_free(k->seal);  // frees and cleanses the key schedule
  EVP_CIPHER_CTX_free(k->open);
  delete k;
}

void FreeEcb(napi_env, void* data, void*) {
  auto* k = static_cast<EcbKey*>(data);
  EVP_CIPHER_CTX_free(k->ctx);
  delete k;
}

napi_value Throw(napi_env env, const char* msg) {
  bool pending = false;
  napi_is_exception_pending(env, &pending);
  if (!pending) napi_throw_type_error(env, nullptr, msg);
  return nullptr;
}

// A byte view of a Uint8Array (or any TypedArray: its bytes).
struct Bytes {
  uint8_t* data = nullptr;
  size_t length = 0;
};

bool GetBytes(napi_env env, napi_value v, Bytes* out) {
  napi_typedarray_type type;
  size_t length;
  void* data;
  if (napi_get_typedarray_info(env, v, &type, &length, &data, nullptr, nullptr) != napi_ok ||
      type != napi_uint8_array) {
    return false;
  }
  out->data = static_cast<uint8_t*>(data);
  out->length = length;
  return true;
}

// An optional second AAD: undefined or null means none.
bool GetOptionalBytes(napi_env env, napi_value v, Bytes* out) {
  napi_valuetype t;
  if (napi_typeof(env, v, &t) != napi_ok) return false;
  if (t == napi_undefined || t == napi_null) {
    out->data = nullptr;
    out->length = 0;
    return true;
  }
  return GetBytes(env, v, out);
}

template <typename T>
bool GetHandle(napi_env env, napi_value v, T** out) {
  void* p = nullptr;
  if (napi_get_value_external(env, v, &p) != napi_ok || p == nullptr) return false;
  // Both structs begin with their Kind (standard layout), so reading it is safe either way.
  if (*static_cast<const Kind*>(p) != T().kind) return false;
  *out = static_cast<T*>(p);
  return true;
}

// The arguments of gcmSeal and gcmOpen:
// (key, nonce, aad, aad2 | null, src, start, end, dst, dstOffset).
struct GcmArgs {
  GcmKey* key;
  Bytes nonce, aad, aad2, src, dst;
  uint32_t start, end, dst_offset;
};

// Reads and checks them: a nonce of 12 bytes, src[start, end + srcTail)
// inside src, dst[dstOffset, dstOffset + end - start + dstTail) inside dst,
// and every length one that OpenSSL's int lengths can take.
bool GetGcmArgs(napi_env env, napi_callback_info info, size_t dst_tail, size_t src_tail,
                GcmArgs* a) {
  size_t argc = 9;
  napi_value argv[9];
  if (napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr) != napi_ok || argc < 9 ||
      !GetHandle(env, argv[0], &a->key) || !GetBytes(env, argv[1], &a->nonce) ||
      !GetBytes(env, argv[2], &a->aad) || !GetOptionalBytes(env, argv[3], &a->aad2) ||
      !GetBytes(env, argv[4], &a->src) || napi_get_value_uint32(env, argv[5], &a->start) != napi_ok ||
      napi_get_value_uint32(env, argv[6], &a->end) != napi_ok || !GetBytes(env, argv[7], &a->dst) ||
      napi_get_value_uint32(env, argv[8], &a->dst_offset) != napi_ok) {
    return false;
  }
  return a->nonce.length == kNonceBytes && a->start <= a->end &&
         size_t{a->end} + src_tail <= a->src.length && a->end - a->start <= 0x7fffffff &&
         size_t{a->dst_offset} + (a->end - a->start) + dst_tail <= a->dst.length &&
         a->aad.length <= 0x7fffffff && a->aad2.length <= 0x7fffffff;
}

// The one argument of gcmKey and ecbKey: a Uint8Array of 32 bytes.
bool GetKeyArg(napi_env env, napi_callback_info info, Bytes* key) {
  size_t argc = 1;
  napi_value argv[1];
  return napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr) == napi_ok && argc >= 1 &&
         GetBytes(env, argv[0], key) && key->length == kKeyBytes;
}

// Hands `k` to JavaScript as an external freed by `free` when collected.
template <typename T>
napi_value Wrap(napi_env env, T* k, napi_finalize free) {
  napi_value handle;
  if (napi_create_external(env, k, free, nullptr, &handle) != napi_ok) {
    free(env, k, nullptr);
    return Throw(env, "internal Node-API failure: napi_create_external");
  }
  return handle;
}

// gcmKey(key: Uint8Array(32)) -> handle
napi_value GcmNew(napi_env env, napi_callback_info info) {
  Bytes key;
  if (!GetKeyArg(env, info, &key)) {
    return Throw(env, "an AES-256-GCM key is a Uint8Array of 32 bytes");
  }
  auto* k = new GcmKey();
  k->seal = EVP_CIPHER_CTX_new();
  k->open = EVP_CIPHER_CTX_new();
  if (k->seal == nullptr || k->open == nullptr ||
      EVP_EncryptInit_ex(k->seal, EVP_aes_256_gcm(), nullptr, key.data, nullptr) != 1 ||
      EVP_DecryptInit_ex(k->open, EVP_aes_256_gcm(), nullptr, key.data, nullptr) != 1) {
    FreeGcm(env, k, nullptr);
    napi_throw_error(env, nullptr, "OpenSSL could not set up AES-256-GCM");
    return nullptr;
  }
  return Wrap(env, k, FreeGcm);
}

// Sets the nonce, feeds aad and aad2, and runs src[start, end) into out;
// the direction is the context's own (EVP_CipherInit_ex with enc = -1).
bool Cipher(EVP_CIPHER_CTX* c, const GcmArgs& a, uint8_t* out) {
  int n = 0;
  int len = static_cast<int>(a.end - a.start);
  return EVP_CipherInit_ex(c, nullptr, nullptr, nullptr, a.nonce.data, -1) == 1 &&
         (a.aad.length == 0 ||
          EVP_CipherUpdate(c, nullptr, &n, a.aad.data, static_cast<int>(a.aad.length)) == 1) &&
         (a.aad2.length == 0 ||
          EVP_CipherUpdate(c, nullptr, &n, a.aad2.data, static_cast<int>(a.aad2.length)) == 1) &&
         (len == 0 || EVP_CipherUpdate(c, out, &n, a.src.data + a.start, len) == 1);
}

// gcmSeal(h, nonce, aad, aad2|null, src, start, end, dst, dstOffset): writes
// the ciphertext of src[start, end) to dst at dstOffset and the 16-byte tag
// right after it. src and dst may be the same bytes (in place).
napi_value GcmSeal(napi_env env, napi_callback_info info) {
  GcmArgs a;
  if (!GetGcmArgs(env, info, kTagBytes, 0, &a)) {
    return Throw(env, "gcmSeal(key, nonce, aad, aad2, src, start, end, dst, dstOffset): a nonce of "
                      "12 bytes, src[start, end) and room for its ciphertext and tag in dst");
  }
  EVP_CIPHER_CTX* c = a.key->seal;
  uint8_t* out = a.dst.data + a.dst_offset;
  uint8_t* tag = out + (a.end - a.start);
  int n = 0;
  if (!Cipher(c, a, out) || EVP_EncryptFinal_ex(c, tag, &n) != 1 ||
      EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, kTagBytes, tag) != 1) {
    napi_throw_error(env, nullptr, "OpenSSL AES-256-GCM encryption failed");
  }
  return nullptr;
}

// gcmOpen(h, nonce, aad, aad2|null, src, start, end, dst, dstOffset) ->
// boolean: opens src[start, end) whose tag is src[end, end + 16), writing the
// plaintext to dst at dstOffset. false when the tag does not verify; dst's
// range is then zeroed, so no unverified plaintext is left behind.
napi_value GcmOpen(napi_env env, napi_callback_info info) {
  GcmArgs a;
  if (!GetGcmArgs(env, info, 0, kTagBytes, &a)) {
    return Throw(env, "gcmOpen(key, nonce, aad, aad2, src, start, end, dst, dstOffset): a nonce of "
                      "12 bytes, src[start, end + 16) and room for its plaintext in dst");
  }
  EVP_CIPHER_CTX* c = a.key->open;
  uint8_t* out = a.dst.data + a.dst_offset;
  size_t len = a.end - a.start;
  // The tag is copied out first: dst may overlap src (in place).
  uint8_t tag[kTagBytes];
  std::memcpy(tag, a.src.data + a.end, kTagBytes);
  int n = 0;
  bool ok = Cipher(c, a, out) && EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, kTagBytes, tag) == 1 &&
            EVP_DecryptFinal_ex(c, out + len, &n) == 1;
  if (!ok && len > 0) OPENSSL_cleanse(out, len);
  napi_value result;
  napi_get_boolean(env, ok, &result);
  return result;
}

// ecbKey(key: Uint8Array(32)) -> handle
napi_value EcbNew(napi_env env, napi_callback_info info) {
  Bytes key;
  if (!GetKeyArg(env, info, &key)) {
    return Throw(env, "an AES-256 key is a Uint8Array of 32 bytes");
  }
  auto* k = new EcbKey();
  k->ctx = EVP_CIPHER_CTX_new();
  if (k->ctx == nullptr ||
      EVP_EncryptInit_ex(k->ctx, EVP_aes_256_ecb(), nullptr, key.data, nullptr) != 1 ||
      EVP_CIPHER_CTX_set_padding(k->ctx, 0) != 1) {
    FreeEcb(env, k, nullptr);
    napi_throw_error(env, nullptr, "OpenSSL could not set up AES-256-ECB");
    return nullptr;
  }
  return Wrap(env, k, FreeEcb);
}

// ecbEncrypt(h, src, dst): dst = AES-256-ECB(key, src), whole 16-byte blocks,
// dst at least as long as src. ECB carries no state from call to call.
napi_value EcbEncrypt(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  EcbKey* k;
  Bytes src, dst;
  if (napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr) != napi_ok || argc < 3 ||
      !GetHandle(env, argv[0], &k) || !GetBytes(env, argv[1], &src) ||
      !GetBytes(env, argv[2], &dst)) {
    return Throw(env, "ecbEncrypt(key, src, dst)");
  }
  if (src.length % 16 != 0 || dst.length < src.length || src.length > 0x7fffffff) {
    return Throw(env, "ecbEncrypt: whole 16-byte blocks and room for them");
  }
  int n = 0;
  if (src.length > 0 &&
      EVP_EncryptUpdate(k->ctx, dst.data, &n, src.data, static_cast<int>(src.length)) != 1) {
    napi_throw_error(env, nullptr, "OpenSSL AES-256-ECB encryption failed");
  }
  return nullptr;
}

}  // namespace

bool RegisterAead(napi_env env, napi_value exports) {
  struct Fn {
    const char* name;
    napi_callback cb;
  } fns[] = {
      {"gcmKey", GcmNew},     {"gcmSeal", GcmSeal},       {"gcmOpen", GcmOpen},
      {"ecbKey", EcbNew},     {"ecbEncrypt", EcbEncrypt},
  };
  for (const Fn& f : fns) {
    napi_value fn;
    if (napi_create_function(env, f.name, NAPI_AUTO_LENGTH, f.cb, nullptr, &fn) != napi_ok ||
        napi_set_named_property(env, exports, f.name, fn) != napi_ok) {
      return false;
    }
  }
  return true;
}

}  // namespace peertap
