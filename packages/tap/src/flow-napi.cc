// Node-API surface of the fast path's core (flow-core.h): the shared cell
// arena, and each core function on its own, so that the tests check the
// native bytes and decisions against the TypeScript references' vectors
// (test/flow-core.test.ts) and race the cells from two threads.
#include <node_api.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <cstdlib>
#include <cstring>
#include <thread>
#include <vector>

#include "flow-core.h"

namespace peertap {
namespace {

using flow::DataDrop;
using flow::PayloadDrop;
using flow::Replay;

napi_value Throw(napi_env env, const char* msg) {
  bool pending = false;
  napi_is_exception_pending(env, &pending);
  if (!pending) napi_throw_type_error(env, nullptr, msg);
  return nullptr;
}

struct Bytes {
  uint8_t* data = nullptr;
  size_t length = 0;
};

bool GetBytes(napi_env env, napi_value v, Bytes* out, size_t exact = SIZE_MAX) {
  napi_typedarray_type type;
  void* data;
  if (napi_get_typedarray_info(env, v, &type, &out->length, &data, nullptr, nullptr) != napi_ok ||
      type != napi_uint8_array) {
    return false;
  }
  out->data = static_cast<uint8_t*>(data);
  return exact == SIZE_MAX || out->length == exact;
}

// An Int32Array over the cell arena, and the index of a cell in it with
// `words` words.
bool GetCell(napi_env env, napi_value arr, napi_value index, size_t words, int32_t** out) {
  napi_typedarray_type type;
  size_t length;
  void* data;
  uint32_t i;
  if (napi_get_typedarray_info(env, arr, &type, &length, &data, nullptr, nullptr) != napi_ok ||
      type != napi_int32_array || napi_get_value_uint32(env, index, &i) != napi_ok ||
      size_t{i} + words > length) {
    return false;
  }
  *out = static_cast<int32_t*>(data) + i;
  return true;
}

napi_value Args(napi_env env, napi_callback_info info, size_t n, napi_value* argv) {
  size_t argc = n;
  if (napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr) != napi_ok || argc < n) {
    return nullptr;
  }
  napi_value ok;
  napi_get_boolean(env, true, &ok);
  return ok;
}

napi_value Int(napi_env env, int64_t v) {
  napi_value r;
  napi_create_int64(env, v, &r);
  return r;
}

napi_value NewBytes(napi_env env, const uint8_t* p, size_t n) {
  void* data;
  napi_value ab, arr;
  if (napi_create_arraybuffer(env, n, &data, &ab) != napi_ok ||
      napi_create_typedarray(env, napi_uint8_array, n, ab, 0, &arr) != napi_ok) {
    return Throw(env, "internal Node-API failure: a Uint8Array");
  }
  if (n > 0) std::memcpy(data, p, n);
  return arr;
}

// One-call contexts for the tests (the flow cache keeps its own per entry).
struct Ctx {
  EVP_CIPHER_CTX* c = EVP_CIPHER_CTX_new();
  Ctx(const EVP_CIPHER* cipher, const uint8_t* key, bool encrypt) {
    if (c == nullptr ||
        EVP_CipherInit_ex(c, cipher, nullptr, key, nullptr, encrypt ? 1 : 0) != 1 ||
        EVP_CIPHER_CTX_set_padding(c, 0) != 1) {
      EVP_CIPHER_CTX_free(c);
      c = nullptr;
    }
  }
  ~Ctx() { EVP_CIPHER_CTX_free(c); }
};

// flowCells(words) -> Int32Array over zeroed native memory. The memory is
// the addon's, not V8's: a reader thread may use it while JavaScript holds
// the array, and it is freed when the array's buffer is collected.
napi_value Cells(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  uint32_t words;
  if (!Args(env, info, 1, argv) || napi_get_value_uint32(env, argv[0], &words) != napi_ok ||
      words == 0 || words > (1u << 24)) {
    return Throw(env, "flowCells(words): 1 to 2^24 words");
  }
  void* mem = std::calloc(words, sizeof(int32_t));
  if (mem == nullptr) return Throw(env, "flowCells: out of memory");
  napi_value ab, arr;
  if (napi_create_external_arraybuffer(
          env, mem, size_t{words} * 4, [](napi_env, void* p, void*) { std::free(p); }, nullptr,
          &ab) != napi_ok) {
    std::free(mem);
    return Throw(env, "internal Node-API failure: napi_create_external_arraybuffer");
  }
  if (napi_create_typedarray(env, napi_int32_array, words, ab, 0, &arr) != napi_ok) {
    return Throw(env, "internal Node-API failure: napi_create_typedarray");
  }
  return arr;
}

// flowCounterTake(cells, index, limit) -> counter or -1
napi_value CounterTake(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  int32_t* cell;
  uint32_t limit;
  if (!Args(env, info, 3, argv) || !GetCell(env, argv[0], argv[1], 1, &cell) ||
      napi_get_value_uint32(env, argv[2], &limit) != napi_ok) {
    return Throw(env, "flowCounterTake(cells, index, limit)");
  }
  return Int(env, flow::CounterTake(cell, limit));
}

// flowWindow(op, cells, index, counter) -> 0 fresh, 1 replay, 2 too-old
// (op 0 check, 1 accept, 2 reset)
napi_value Window(napi_env env, napi_callback_info info) {
  napi_value argv[4];
  uint32_t op, counter;
  int32_t* cell;
  if (!Args(env, info, 4, argv) || napi_get_value_uint32(env, argv[0], &op) != napi_ok ||
      !GetCell(env, argv[1], argv[2], flow::kWindowWords, &cell) ||
      napi_get_value_uint32(env, argv[3], &counter) != napi_ok || op > 2) {
    return Throw(env, "flowWindow(op, cells, index, counter)");
  }
  if (op == 2) {
    flow::WindowReset(cell);
    return Int(env, 0);
  }
  return Int(env, static_cast<int>(op == 0 ? flow::WindowCheck(cell, counter)
                                           : flow::WindowAccept(cell, counter)));
}

// A thread that races JavaScript over one counter cell and one window cell:
// it takes `n` counters and tries to accept every window counter below `n`,
// recording what it got.
struct Race {
  std::thread thread;
  std::vector<int32_t> counters;
  std::vector<uint8_t> accepted;
  std::vector<uint32_t> tried;
};

// flowRaceStart(cells, counterIndex, windowIndex, goIndex, n) -> handle: the
// thread waits until JavaScript sets word goIndex to 1, so that both start
// together, and paces itself near JavaScript's speed so that they overlap.
napi_value RaceStart(napi_env env, napi_callback_info info) {
  napi_value argv[5];
  int32_t *counter, *window, *go;
  uint32_t n;
  if (!Args(env, info, 5, argv) || !GetCell(env, argv[0], argv[1], 1, &counter) ||
      !GetCell(env, argv[0], argv[2], flow::kWindowWords, &window) ||
      !GetCell(env, argv[0], argv[3], 1, &go) ||
      napi_get_value_uint32(env, argv[4], &n) != napi_ok || n > (1u << 22)) {
    return Throw(env, "flowRaceStart(cells, counterIndex, windowIndex, goIndex, n)");
  }
  auto* race = new Race();
  race->counters.resize(n);
  race->accepted.resize(n);
  race->tried.resize(n);
  race->thread = std::thread([race, counter, window, go, n] {
    while (__atomic_load_n(go, __ATOMIC_ACQUIRE) == 0) {
    }
    uint32_t seed = 0x9e3779b9u;
    for (uint32_t i = 0; i < n; i++) {
      for (int p = 0; p < 16; p++) __builtin_ia32_pause();
      race->counters[i] = static_cast<int32_t>(flow::CounterTake(counter, 0x7fffffff));
      // Counter i, or one of the next 63: the two sides collide on some.
      seed = seed * 1664525u + 1013904223u;
      uint32_t c = i + (seed >> 26);
      race->accepted[i] = flow::WindowAccept(window, c) == Replay::kFresh;
      race->tried[i] = c;
    }
  });
  napi_value handle;
  if (napi_create_external(
          env, race,
          [](napi_env, void* p, void*) {
            auto* r = static_cast<Race*>(p);
            if (r->thread.joinable()) r->thread.join();
            delete r;
          },
          nullptr, &handle) != napi_ok) {
    race->thread.join();
    delete race;
    return Throw(env, "internal Node-API failure: napi_create_external");
  }
  return handle;
}

// flowRaceJoin(handle) -> { counters: Int32Array, accepted: Uint8Array,
// tried: Int32Array } (the window counter each step tried, accepted or not)
// (JavaScript keeps the cells alive until then.)
napi_value RaceJoin(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  void* p = nullptr;
  if (!Args(env, info, 1, argv) || napi_get_value_external(env, argv[0], &p) != napi_ok ||
      p == nullptr) {
    return Throw(env, "flowRaceJoin(handle)");
  }
  auto* race = static_cast<Race*>(p);
  if (!race->thread.joinable()) return Throw(env, "flowRaceJoin: already joined");
  race->thread.join();
  size_t n = race->counters.size();
  void* data;
  napi_value ab, counters, result;
  napi_create_arraybuffer(env, n * 4, &data, &ab);
  if (n > 0) std::memcpy(data, race->counters.data(), n * 4);
  napi_create_typedarray(env, napi_int32_array, n, ab, 0, &counters);
  napi_create_object(env, &result);
  napi_set_named_property(env, result, "counters", counters);
  napi_set_named_property(env, result, "accepted", NewBytes(env, race->accepted.data(), n));
  napi_value tried;
  napi_create_arraybuffer(env, n * 4, &data, &ab);
  if (n > 0) std::memcpy(data, race->tried.data(), n * 4);
  napi_create_typedarray(env, napi_int32_array, n, ab, 0, &tried);
  napi_set_named_property(env, result, "tried", tried);
  race->counters = {};
  race->accepted = {};
  race->tried = {};
  return result;
}

// flowSealPayload(key, salt, kid, hpKey, vft, counter, plaintext) -> sealed
napi_value SealPayload(napi_env env, napi_callback_info info) {
  napi_value argv[7];
  Bytes key, salt, kid, hp, vft, pt;
  int64_t counter;
  if (!Args(env, info, 7, argv) || !GetBytes(env, argv[0], &key, 32) ||
      !GetBytes(env, argv[1], &salt, 12) || !GetBytes(env, argv[2], &kid, 8) ||
      !GetBytes(env, argv[3], &hp, 32) || !GetBytes(env, argv[4], &vft, 16) ||
      napi_get_value_int64(env, argv[5], &counter) != napi_ok || counter < 0 ||
      counter >= (int64_t{1} << 56) || !GetBytes(env, argv[6], &pt) || pt.length == 0) {
    return Throw(env, "flowSealPayload(key32, salt12, kid8, hpKey32, vft16, counter, plaintext)");
  }
  Ctx gcm(EVP_aes_256_gcm(), key.data, true), ecb(EVP_aes_256_ecb(), hp.data, true);
  std::vector<uint8_t> out(pt.length + flow::SealedOverhead(counter));
  size_t n = gcm.c == nullptr || ecb.c == nullptr
                 ? 0
                 : flow::SealPayload({gcm.c, ecb.c, salt.data, kid.data}, vft.data,
                                     static_cast<uint64_t>(counter), pt.data, pt.length, out.data());
  if (n == 0) return Throw(env, "flowSealPayload: OpenSSL failed");
  return NewBytes(env, out.data(), n);
}

// flowOpenPayload(key | null, salt | null, hpKey, vft, sealed) ->
// { drop, kid, counter, plaintext? }: the header rules alone without a key,
// then rule 8 with one. drop: 0 none, 1 short, 2 bad-config,
// 3 non-minimal-ctr, 4 ctr-limit, 5 auth.
napi_value OpenPayload(napi_env env, napi_callback_info info) {
  napi_value argv[5];
  Bytes key, salt, hp, vft, sealed;
  napi_valuetype t;
  if (!Args(env, info, 5, argv) || napi_typeof(env, argv[0], &t) != napi_ok ||
      (t != napi_null && (!GetBytes(env, argv[0], &key, 32) || !GetBytes(env, argv[1], &salt, 12))) ||
      !GetBytes(env, argv[2], &hp, 32) || !GetBytes(env, argv[3], &vft, 16) ||
      !GetBytes(env, argv[4], &sealed)) {
    return Throw(env, "flowOpenPayload(key32 | null, salt12 | null, hpKey32, vft16, sealed)");
  }
  Ctx ecb(EVP_aes_256_ecb(), hp.data, true);
  if (ecb.c == nullptr) return Throw(env, "flowOpenPayload: OpenSSL failed");
  flow::PayloadHeader h;
  PayloadDrop drop = flow::ParsePayload(ecb.c, sealed.data, sealed.length, &h);
  napi_value result;
  napi_create_object(env, &result);
  std::vector<uint8_t> pt;
  if (drop == PayloadDrop::kNone && t != napi_null) {
    Ctx gcm(EVP_aes_256_gcm(), key.data, false);
    if (gcm.c == nullptr) return Throw(env, "flowOpenPayload: OpenSSL failed");
    pt.resize(sealed.length - h.length - flow::kTagBytes);
    drop = flow::OpenPayload(gcm.c, salt.data, vft.data, h, sealed.data, sealed.length, pt.data());
    if (drop == PayloadDrop::kNone) {
      napi_set_named_property(env, result, "plaintext", NewBytes(env, pt.data(), pt.size()));
    }
  }
  napi_set_named_property(env, result, "drop", Int(env, static_cast<int>(drop)));
  if (h.length > 0) {
    napi_value kid;
    napi_create_bigint_uint64(env, h.kid, &kid);
    napi_set_named_property(env, result, "kid", kid);
    napi_set_named_property(env, result, "counter", Int(env, static_cast<int64_t>(h.counter)));
  }
  return result;
}

// flowSealData(key, receiverIndex, counter, hopLimit, vft, sealed) -> datagram
napi_value SealData(napi_env env, napi_callback_info info) {
  napi_value argv[6];
  Bytes key, vft, sealed;
  uint32_t index, counter, hop;
  if (!Args(env, info, 6, argv) || !GetBytes(env, argv[0], &key, 32) ||
      napi_get_value_uint32(env, argv[1], &index) != napi_ok ||
      napi_get_value_uint32(env, argv[2], &counter) != napi_ok ||
      napi_get_value_uint32(env, argv[3], &hop) != napi_ok || hop > 255 ||
      !GetBytes(env, argv[4], &vft, 16) || !GetBytes(env, argv[5], &sealed)) {
    return Throw(env, "flowSealData(key32, receiverIndex, counter, hopLimit, vft16, sealed)");
  }
  Ctx gcm(EVP_aes_256_gcm(), key.data, true);
  std::vector<uint8_t> out(flow::kDataOverhead + sealed.length);
  size_t n = gcm.c == nullptr ? 0
                              : flow::SealData(gcm.c, index, counter, static_cast<uint8_t>(hop),
                                               vft.data, sealed.data, sealed.length, out.data());
  if (n == 0) return Throw(env, "flowSealData: OpenSSL failed or counter above 2^31 - 1");
  return NewBytes(env, out.data(), n);
}

// flowOpenData(key, datagram) -> { drop, receiverIndex?, counter?, hopLimit?, vft? }
// drop: 0 none, 1 malformed, 2 unknown-type, 3 not DATA, 4 auth.
napi_value OpenData(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  Bytes key, d;
  if (!Args(env, info, 2, argv) || !GetBytes(env, argv[0], &key, 32) ||
      !GetBytes(env, argv[1], &d)) {
    return Throw(env, "flowOpenData(key32, datagram)");
  }
  flow::DataHeader h;
  DataDrop drop = flow::ParseData(d.data, d.length, &h);
  napi_value result;
  napi_create_object(env, &result);
  if (drop == DataDrop::kNone) {
    napi_set_named_property(env, result, "receiverIndex", Int(env, h.receiver_index));
    napi_set_named_property(env, result, "counter", Int(env, h.counter));
    Ctx gcm(EVP_aes_256_gcm(), key.data, false);
    if (gcm.c == nullptr) return Throw(env, "flowOpenData: OpenSSL failed");
    uint8_t hop = 0, vft[flow::kVftBytes];
    drop = flow::OpenData(gcm.c, d.data, d.length, &hop, vft);
    if (drop == DataDrop::kNone) {
      napi_set_named_property(env, result, "hopLimit", Int(env, hop));
      napi_set_named_property(env, result, "vft", NewBytes(env, vft, sizeof vft));
    }
  }
  napi_set_named_property(env, result, "drop", Int(env, static_cast<int>(drop)));
  return result;
}

}  // namespace

bool RegisterFlow(napi_env env, napi_value exports) {
  struct Fn {
    const char* name;
    napi_callback cb;
  } fns[] = {
      {"flowCells", Cells},
      {"flowCounterTake", CounterTake},
      {"flowWindow", Window},
      {"flowRaceStart", RaceStart},
      {"flowRaceJoin", RaceJoin},
      {"flowSealPayload", SealPayload},
      {"flowOpenPayload", OpenPayload},
      {"flowSealData", SealData},
      {"flowOpenData", OpenData},
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
