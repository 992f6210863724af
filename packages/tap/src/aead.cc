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

// Lengths fit an int: every range is checked against a TypedArray first, and
// OpenSSL's update takes int lengths.
bool Range(const Bytes& b, uint32_t start, uint32_t end) {
  return start <= end && end <= b.length && end - start <= 0x7fffffff;
}

// gcmKey(key: Uint8Array(32)) -> handle
napi_value GcmNew(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  Bytes key;
  if (napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr) != napi_ok || argc < 1 ||
      !GetBytes(env, argv[0], &key) || key.length != kKeyBytes) {
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
  napi_value handle;
  if (napi_create_external(env, k, FreeGcm, nullptr, &handle) != napi_ok) {
    FreeGcm(env, k, nullptr);
    return Throw(env, "internal Node-API failure: napi_create_external");
  }
  return handle;
}

// gcmSeal(h, nonce, aad, aad2|null, src, start, end, dst, dstOffset): writes
// the ciphertext of src[start, end) to dst at dstOffset and the 16-byte tag
// right after it. src and dst may be the same bytes (in place).
napi_value GcmSeal(napi_env env, napi_callback_info info) {
  size_t argc = 9;
  napi_value argv[9];
  GcmKey* k;
  Bytes nonce, aad, aad2, src, dst;
  uint32_t start, end, dst_offset;
  if (napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr) != napi_ok || argc < 9 ||
      !GetHandle(env, argv[0], &k) || !GetBytes(env, argv[1], &nonce) ||
      !GetBytes(env, argv[2], &aad) || !GetOptionalBytes(env, argv[3], &aad2) ||
      !GetBytes(env, argv[4], &src) || napi_get_value_uint32(env, argv[5], &start) != napi_ok ||
      napi_get_value_uint32(env, argv[6], &end) != napi_ok || !GetBytes(env, argv[7], &dst) ||
      napi_get_value_uint32(env, argv[8], &dst_offset) != napi_ok) {
    return Throw(env, "gcmSeal(key, nonce, aad, aad2, src, start, end, dst, dstOffset)");
  }
  if (nonce.length != kNonceBytes || !Range(src, start, end) ||
      size_t{dst_offset} + (end - start) + kTagBytes > dst.length || aad.length > 0x7fffffff ||
      aad2.length > 0x7fffffff) {
    return Throw(env, "gcmSeal: a nonce of 12 bytes and ranges inside their arrays");
  }
  EVP_CIPHER_CTX* c = k->seal;
  uint8_t* out = dst.data + dst_offset;
  int n = 0;
  int len = static_cast<int>(end - start);
  bool ok = EVP_EncryptInit_ex(c, nullptr, nullptr, nullptr, nonce.data) == 1 &&
            (aad.length == 0 ||
             EVP_EncryptUpdate(c, nullptr, &n, aad.data, static_cast<int>(aad.length)) == 1) &&
            (aad2.length == 0 ||
             EVP_EncryptUpdate(c, nullptr, &n, aad2.data, static_cast<int>(aad2.length)) == 1) &&
            (len == 0 || EVP_EncryptUpdate(c, out, &n, src.data + start, len) == 1) &&
            EVP_EncryptFinal_ex(c, out + len, &n) == 1 &&
            EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, kTagBytes, out + len) == 1;
  if (!ok) {
    napi_throw_error(env, nullptr, "OpenSSL AES-256-GCM encryption failed");
    return nullptr;
  }
  return nullptr;
}

// gcmOpen(h, nonce, aad, aad2|null, src, start, end, dst, dstOffset) ->
// boolean: opens src[start, end) whose tag is src[end, end + 16), writing the
// plaintext to dst at dstOffset. false when the tag does not verify; dst's
// range is then zeroed, so no unverified plaintext is left behind.
napi_value GcmOpen(napi_env env, napi_callback_info info) {
  size_t argc = 9;
  napi_value argv[9];
  GcmKey* k;
  Bytes nonce, aad, aad2, src, dst;
  uint32_t start, end, dst_offset;
  if (napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr) != napi_ok || argc < 9 ||
      !GetHandle(env, argv[0], &k) || !GetBytes(env, argv[1], &nonce) ||
      !GetBytes(env, argv[2], &aad) || !GetOptionalBytes(env, argv[3], &aad2) ||
      !GetBytes(env, argv[4], &src) || napi_get_value_uint32(env, argv[5], &start) != napi_ok ||
      napi_get_value_uint32(env, argv[6], &end) != napi_ok || !GetBytes(env, argv[7], &dst) ||
      napi_get_value_uint32(env, argv[8], &dst_offset) != napi_ok) {
    return Throw(env, "gcmOpen(key, nonce, aad, aad2, src, start, end, dst, dstOffset)");
  }
  if (nonce.length != kNonceBytes || end > 0xffffffff - kTagBytes ||
      !Range(src, start, end + kTagBytes) || size_t{dst_offset} + (end - start) > dst.length ||
      aad.length > 0x7fffffff || aad2.length > 0x7fffffff) {
    return Throw(env, "gcmOpen: a nonce of 12 bytes and ranges inside their arrays");
  }
  EVP_CIPHER_CTX* c = k->open;
  uint8_t* out = dst.data + dst_offset;
  int n = 0;
  int len = static_cast<int>(end - start);
  // The tag is copied out first: dst may overlap src (in place).
  uint8_t tag[kTagBytes];
  std::memcpy(tag, src.data + end, kTagBytes);
  bool ok = EVP_DecryptInit_ex(c, nullptr, nullptr, nullptr, nonce.data) == 1 &&
            (aad.length == 0 ||
             EVP_DecryptUpdate(c, nullptr, &n, aad.data, static_cast<int>(aad.length)) == 1) &&
            (aad2.length == 0 ||
             EVP_DecryptUpdate(c, nullptr, &n, aad2.data, static_cast<int>(aad2.length)) == 1) &&
            (len == 0 || EVP_DecryptUpdate(c, out, &n, src.data + start, len) == 1) &&
            EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, kTagBytes, tag) == 1 &&
            EVP_DecryptFinal_ex(c, out + len, &n) == 1;
  if (!ok && len > 0) OPENSSL_cleanse(out, static_cast<size_t>(len));
  napi_value result;
  napi_get_boolean(env, ok, &result);
  return result;
}

// ecbKey(key: Uint8Array(32)) -> handle
napi_value EcbNew(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  Bytes key;
  if (napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr) != napi_ok || argc < 1 ||
      !GetBytes(env, argv[0], &key) || key.length != kKeyBytes) {
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
  napi_value handle;
  if (napi_create_external(env, k, FreeEcb, nullptr, &handle) != napi_ok) {
    FreeEcb(env, k, nullptr);
    return Throw(env, "internal Node-API failure: napi_create_external");
  }
  return handle;
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
