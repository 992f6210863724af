// Node-API surface of the fast path's core (flow-core.h): the shared cell
// arena, and each core function on its own, so that the tests check the
// native bytes and decisions against the TypeScript references' vectors
// (test/flow-core.test.ts) and race the cells from two threads.
#include <node_api.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <algorithm>
#include <ctime>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "flow-cache.h"
#include "flow-core.h"
#include "flow-napi.h"
#include "udp.h"

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

// One-call keys for the tests (the flow cache keeps its own per entry),
// with the implementation the tests name (cipher.h).
Aes256::Impl g_test_impl = Aes256::Impl::kAuto;
Cipher TestKey(Aes256::Use use, const uint8_t* key) { return Aes256::New(use, key, g_test_impl); }

const char* ImplName(Aes256::Impl impl) {
  return impl == Aes256::Impl::kNi ? "ni" : impl == Aes256::Impl::kEvp ? "evp" : "auto";
}

// flowAesImpl(impl?: 'auto' | 'evp' | 'ni') -> { default, tests, ni }: the
// AES the flow cache uses in this process (cipher.h), the one the four
// functions below use (set by the argument; 'auto' is the default), and
// whether AES-NI is there at all. 'ni' where it is not throws.
napi_value AesImpl(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr);
  napi_valuetype t = napi_undefined;
  if (argc >= 1) napi_typeof(env, argv[0], &t);
  if (t != napi_undefined) {
    char name[8] = {0};
    size_t n = 0;
    if (napi_get_value_string_utf8(env, argv[0], name, sizeof name, &n) != napi_ok) {
      return Throw(env, "flowAesImpl(impl?: 'auto' | 'evp' | 'ni')");
    }
    std::string v(name, n);
    if (v == "auto") {
      g_test_impl = Aes256::Impl::kAuto;
    } else if (v == "evp") {
      g_test_impl = Aes256::Impl::kEvp;
    } else if (v == "ni" && ni::Supported()) {
      g_test_impl = Aes256::Impl::kNi;
    } else {
      return Throw(env, v == "ni" ? "flowAesImpl: this CPU has no AES-NI and PCLMULQDQ"
                                  : "flowAesImpl(impl?: 'auto' | 'evp' | 'ni')");
    }
  }
  napi_value result, v;
  napi_create_object(env, &result);
  napi_create_string_utf8(env, ImplName(Aes256::Default()), NAPI_AUTO_LENGTH, &v);
  napi_set_named_property(env, result, "default", v);
  napi_create_string_utf8(env, ImplName(g_test_impl), NAPI_AUTO_LENGTH, &v);
  napi_set_named_property(env, result, "tests", v);
  napi_get_boolean(env, ni::Supported(), &v);
  napi_set_named_property(env, result, "ni", v);
  return result;
}

// flowCells(words) -> { arena, words: Int32Array } over zeroed native
// memory. The memory is the addon's, not V8's: a reader thread may use it
// while JavaScript holds the array, and it is freed when the array, the
// arena handle and every flow cache made on it are gone.
napi_value Cells(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  uint32_t words;
  if (!Args(env, info, 1, argv) || napi_get_value_uint32(env, argv[0], &words) != napi_ok ||
      words == 0 || words > (1u << 24)) {
    return Throw(env, "flowCells(words): 1 to 2^24 words");
  }
  auto* arena = new Arena();
  arena->mem = static_cast<int32_t*>(std::calloc(words, sizeof(int32_t)));
  arena->words = words;
  if (arena->mem == nullptr) {
    delete arena;
    return Throw(env, "flowCells: out of memory");
  }
  napi_value handle, ab, arr, result;
  if (napi_create_external(
          env, arena, [](napi_env, void* p, void*) { static_cast<Arena*>(p)->Unref(); }, nullptr,
          &handle) != napi_ok) {
    arena->Unref();
    return Throw(env, "internal Node-API failure: napi_create_external");
  }
  arena->Ref();
  if (napi_create_external_arraybuffer(
          env, arena->mem, size_t{words} * 4,
          [](napi_env, void*, void* hint) { static_cast<Arena*>(hint)->Unref(); }, arena,
          &ab) != napi_ok) {
    arena->Unref();
    return Throw(env, "internal Node-API failure: napi_create_external_arraybuffer");
  }
  if (napi_create_typedarray(env, napi_int32_array, words, ab, 0, &arr) != napi_ok ||
      napi_create_object(env, &result) != napi_ok ||
      napi_set_named_property(env, result, "arena", handle) != napi_ok ||
      napi_set_named_property(env, result, "words", arr) != napi_ok) {
    return Throw(env, "internal Node-API failure: flowCells");
  }
  return result;
}

// flowCounterTake(cells, index, limit) -> counter or -1
napi_value CounterTake(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  int32_t* cell;
  uint32_t limit;
  if (!Args(env, info, 3, argv) || !GetCell(env, argv[0], argv[1], 1, &cell) ||
      napi_get_value_uint32(env, argv[2], &limit) != napi_ok || limit > flow::kDataCounterMax) {
    return Throw(env, "flowCounterTake(cells, index, limit): a limit of at most 2^31 - 1");
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
      napi_get_value_uint32(env, argv[3], &counter) != napi_ok || op > 2 ||
      counter > flow::kDataCounterMax) {
    return Throw(env, "flowWindow(op, cells, index, counter): counters 0 to 2^31 - 1");
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

// flowAesBench(impl, bytes, count, idleUs) -> { median, p90 } in ns: what a
// send costs the cache in crypto, SealPayload then SealData of one frame of
// `bytes`, timed on its own `count` times with new keys of `impl`, sleeping
// `idleUs` before each (as a reader thread sleeps in poll(2) between two
// pings). bench/cipher.ts prints it.
napi_value AesBench(napi_env env, napi_callback_info info) {
  napi_value argv[4];
  char name[8] = {0};
  size_t n = 0;
  uint32_t bytes, count, idle;
  if (!Args(env, info, 4, argv) ||
      napi_get_value_string_utf8(env, argv[0], name, sizeof name, &n) != napi_ok ||
      napi_get_value_uint32(env, argv[1], &bytes) != napi_ok || bytes < 1 || bytes > 9000 ||
      napi_get_value_uint32(env, argv[2], &count) != napi_ok || count < 1 || count > 1000000 ||
      napi_get_value_uint32(env, argv[3], &idle) != napi_ok) {
    return Throw(env, "flowAesBench(impl, bytes 1..9000, count, idleUs)");
  }
  std::string v(name, n);
  Aes256::Impl impl = v == "ni" ? Aes256::Impl::kNi : Aes256::Impl::kEvp;
  uint8_t key[32], hp[32], hop[32], salt[12] = {0}, kid[8] = {0}, vft[16] = {0};
  for (int i = 0; i < 32; i++) key[i] = static_cast<uint8_t>(i), hp[i] = static_cast<uint8_t>(i + 32), hop[i] = static_cast<uint8_t>(i + 64);
  Cipher gcm = Aes256::New(Aes256::Use::kSeal, key, impl);
  Cipher mask = Aes256::New(Aes256::Use::kBlocks, hp, impl);
  Cipher data = Aes256::New(Aes256::Use::kSeal, hop, impl);
  if (gcm == nullptr || mask == nullptr || data == nullptr) {
    return Throw(env, "flowAesBench: no such implementation here");
  }
  std::vector<uint8_t> pt(bytes, 0x5a), out(bytes + flow::kDataOverhead + 64);
  std::vector<uint64_t> ns(count);
  for (uint32_t i = 0; i < count; i++) {
    if (idle > 0) {
      timespec t{static_cast<time_t>(idle / 1000000), static_cast<long>(idle % 1000000) * 1000};
      nanosleep(&t, nullptr);
    }
    timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    size_t sealed = flow::SealPayload({gcm.get(), mask.get(), salt, kid}, vft, i, pt.data(),
                                      pt.size(), out.data() + flow::kDataOverhead);
    size_t d = flow::SealData(data.get(), 1, i, 8, vft, out.data() + flow::kDataOverhead, sealed,
                              out.data());
    clock_gettime(CLOCK_MONOTONIC, &b);
    if (sealed == 0 || d == 0) return Throw(env, "flowAesBench: the cipher failed");
    ns[i] = uint64_t(b.tv_sec - a.tv_sec) * 1000000000u + uint64_t(b.tv_nsec) - uint64_t(a.tv_nsec);
  }
  std::sort(ns.begin(), ns.end());
  napi_value result;
  napi_create_object(env, &result);
  napi_set_named_property(env, result, "median", Int(env, static_cast<int64_t>(ns[count / 2])));
  napi_set_named_property(env, result, "p90", Int(env, static_cast<int64_t>(ns[count * 9 / 10])));
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
  Cipher gcm = TestKey(Aes256::Use::kSeal, key.data), ecb = TestKey(Aes256::Use::kBlocks, hp.data);
  std::vector<uint8_t> out(pt.length + flow::SealedOverhead(counter));
  size_t n = gcm == nullptr || ecb == nullptr
                 ? 0
                 : flow::SealPayload({gcm.get(), ecb.get(), salt.data, kid.data}, vft.data,
                                     static_cast<uint64_t>(counter), pt.data, pt.length, out.data());
  if (n == 0) return Throw(env, "flowSealPayload: the cipher failed");
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
  Cipher ecb = TestKey(Aes256::Use::kBlocks, hp.data);
  if (ecb == nullptr) return Throw(env, "flowOpenPayload: the cipher failed");
  flow::PayloadHeader h;
  PayloadDrop drop = flow::ParsePayload(ecb.get(), sealed.data, sealed.length, &h);
  napi_value result;
  napi_create_object(env, &result);
  std::vector<uint8_t> pt;
  if (drop == PayloadDrop::kNone && t != napi_null) {
    Cipher gcm = TestKey(Aes256::Use::kOpen, key.data);
    if (gcm == nullptr) return Throw(env, "flowOpenPayload: the cipher failed");
    pt.resize(sealed.length - h.length - flow::kTagBytes);
    drop = flow::OpenPayload(gcm.get(), salt.data, vft.data, h, sealed.data, sealed.length, pt.data());
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
  Cipher gcm = TestKey(Aes256::Use::kSeal, key.data);
  std::vector<uint8_t> out(flow::kDataOverhead + sealed.length);
  size_t n = gcm == nullptr ? 0
                              : flow::SealData(gcm.get(), index, counter, static_cast<uint8_t>(hop),
                                               vft.data, sealed.data, sealed.length, out.data());
  if (n == 0) return Throw(env, "flowSealData: the cipher failed or counter above 2^31 - 1");
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
    Cipher gcm = TestKey(Aes256::Use::kOpen, key.data);
    if (gcm == nullptr) return Throw(env, "flowOpenData: the cipher failed");
    uint8_t hop = 0, vft[flow::kVftBytes];
    drop = flow::OpenData(gcm.get(), d.data, d.length, &hop, vft);
    if (drop == DataDrop::kNone) {
      napi_set_named_property(env, result, "hopLimit", Int(env, hop));
      napi_set_named_property(env, result, "vft", NewBytes(env, vft, sizeof vft));
    }
  }
  napi_set_named_property(env, result, "drop", Int(env, static_cast<int>(drop)));
  return result;
}


// ---------------------------------------------------------------------------
// The flow cache (flow-cache.h). Handles are externals that hold one
// reference; readers attached to the cache hold their own.

constexpr uint32_t kCacheTag = 0x666c6f77;  // 'flow'
struct CacheHandle {
  uint32_t tag = kCacheTag;
  FlowCache* cache;
};

bool GetArena(napi_env env, napi_value v, Arena** out) {
  void* p = nullptr;
  if (napi_get_value_external(env, v, &p) != napi_ok || p == nullptr ||
      static_cast<Arena*>(p)->tag != Arena::kTag) {
    return false;
  }
  *out = static_cast<Arena*>(p);
  return true;
}

bool GetU32(napi_env env, napi_value v, uint32_t* out) {
  return napi_get_value_uint32(env, v, out) == napi_ok;
}


template <size_t N>
void Copy(std::array<uint8_t, N>& dst, const Bytes& b) {
  std::memcpy(dst.data(), b.data, N);
}

// A cell index of `words` words inside the cache's arena; `align` 2 for
// the int64 stats blocks.
bool CellArg(napi_env env, FlowCache* c, napi_value v, size_t words, uint32_t* out,
             uint32_t align = 1) {
  return GetU32(env, v, out) && *out % align == 0 && c->CellsFit(*out, words);
}

// flowCacheNew(arena) -> handle
napi_value CacheNew(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  Arena* arena;
  if (!Args(env, info, 1, argv) || !GetArena(env, argv[0], &arena)) {
    return Throw(env, "flowCacheNew(arena)");
  }
  auto* h = new CacheHandle{kCacheTag, new FlowCache(arena)};
  napi_value handle;
  if (napi_create_external(
          env, h,
          [](napi_env, void* p, void*) {
            auto* h = static_cast<CacheHandle*>(p);
            h->cache->Unref();
            delete h;
          },
          nullptr, &handle) != napi_ok) {
    h->cache->Unref();
    delete h;
    return Throw(env, "internal Node-API failure: napi_create_external");
  }
  return handle;
}

// flowCacheUdp(cache, fd, family, gso): the datagram socket (fd -1: none,
// which also drops every send and hop entry), and whether its sends use GSO.
napi_value CacheUdp(napi_env env, napi_callback_info info) {
  napi_value argv[4];
  int32_t fd, family;
  bool gso;
  FlowCache* c;
  if (!Args(env, info, 4, argv) || (c = GetFlowCache(env, argv[0])) == nullptr ||
      napi_get_value_int32(env, argv[1], &fd) != napi_ok ||
      napi_get_value_int32(env, argv[2], &family) != napi_ok || (family != 4 && family != 6) ||
      napi_get_value_bool(env, argv[3], &gso) != napi_ok) {
    return Throw(env, "flowCacheUdp(cache, fd, family, gso)");
  }
  c->SetUdp(fd, family, gso);
  return nullptr;
}

// flowCacheAddDevice(cache, fd, vnet, tun) -> device slot
napi_value CacheAddDevice(napi_env env, napi_callback_info info) {
  napi_value argv[4];
  int32_t fd;
  bool vnet, tun;
  FlowCache* c;
  if (!Args(env, info, 4, argv) || (c = GetFlowCache(env, argv[0])) == nullptr ||
      napi_get_value_int32(env, argv[1], &fd) != napi_ok || fd < 0 ||
      napi_get_value_bool(env, argv[2], &vnet) != napi_ok ||
      napi_get_value_bool(env, argv[3], &tun) != napi_ok) {
    return Throw(env, "flowCacheAddDevice(cache, fd, vnet, tun)");
  }
  return Int(env, c->AddDevice(fd, vnet, tun));
}

// flowCacheTunRoute(cache, device, addr16, mac6) -> bool (false: not an
// open TUN device slot, or the routes are full)
napi_value CacheTunRoute(napi_env env, napi_callback_info info) {
  napi_value argv[4];
  FlowCache* c;
  uint32_t device;
  Bytes addr, mac;
  if (!Args(env, info, 4, argv) || (c = GetFlowCache(env, argv[0])) == nullptr ||
      !GetU32(env, argv[1], &device) || !GetBytes(env, argv[2], &addr, 16) ||
      !GetBytes(env, argv[3], &mac, 6)) {
    return Throw(env, "flowCacheTunRoute(cache, device, address, mac)");
  }
  std::array<uint8_t, 16> a;
  std::array<uint8_t, 6> m;
  Copy(a, addr);
  Copy(m, mac);
  napi_value r;
  napi_get_boolean(env, c->InstallTunRoute(device, a, m), &r);
  return r;
}

// flowCacheRemoveDevice(cache, device): before the device's fd closes.
napi_value CacheRemoveDevice(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  uint32_t device;
  FlowCache* c;
  if (!Args(env, info, 2, argv) || (c = GetFlowCache(env, argv[0])) == nullptr ||
      !GetU32(env, argv[1], &device)) {
    return Throw(env, "flowCacheRemoveDevice(cache, device)");
  }
  c->RemoveDevice(device);
  return nullptr;
}

// flowCacheSend(cache, device, mac6, vft16, hopLimit, key32, salt12, kid8,
//   hpKey32, counterCell, hopKey32, receiverIndex, hopCounterCell, addr20,
//   payloadMax, vlanStats, linkStats, src6) -> bool (false: the device slot is not open)
napi_value CacheSend(napi_env env, napi_callback_info info) {
  napi_value argv[18];
  FlowCache* c;
  Bytes src, mac, vft, key, salt, kid, hp, hop_key, addr;
  uint32_t device, hop_limit;
  SendEntry e;
  if (!Args(env, info, 18, argv) || (c = GetFlowCache(env, argv[0])) == nullptr ||
      !GetU32(env, argv[1], &device) || !GetBytes(env, argv[2], &mac, 6) ||
      !GetBytes(env, argv[3], &vft, 16) || !GetU32(env, argv[4], &hop_limit) || hop_limit > 255 ||
      !GetBytes(env, argv[5], &key, 32) || !GetBytes(env, argv[6], &salt, 12) ||
      !GetBytes(env, argv[7], &kid, 8) || !GetBytes(env, argv[8], &hp, 32) ||
      !CellArg(env, c, argv[9], 1, &e.counter_cell) || !GetBytes(env, argv[10], &hop_key, 32) ||
      !GetU32(env, argv[11], &e.receiver_index) ||
      !CellArg(env, c, argv[12], 1, &e.hop_counter_cell) ||
      !GetBytes(env, argv[13], &addr, kUdpAddrBytes) ||
      !GetU32(env, argv[14], &e.payload_max) || !CellArg(env, c, argv[15], 8, &e.vlan_stats, 2) ||
      !CellArg(env, c, argv[16], 8, &e.link_stats, 2) || !GetBytes(env, argv[17], &src, 6)) {
    return Throw(env, "flowCacheSend(cache, device, mac, vft, hopLimit, key, salt, kid, hpKey, "
                      "counterCell, hopKey, receiverIndex, hopCounterCell, addr, payloadMax, "
                      "vlanStats, linkStats, src)");
  }
  e.device = device;
  Copy(e.src, src);
  Copy(e.vft, vft);
  e.hop_limit = static_cast<uint8_t>(hop_limit);
  Copy(e.salt, salt);
  Copy(e.kid, kid);
  Copy(e.addr, addr);
  e.gcm = Aes256::New(Aes256::Use::kSeal, key.data);
  e.hp = Aes256::New(Aes256::Use::kBlocks, hp.data);
  e.hop_gcm = Aes256::New(Aes256::Use::kSeal, hop_key.data);
  if (!e.gcm || !e.hp || !e.hop_gcm) return Throw(env, "flowCacheSend: could not prepare a key");
  napi_value r;
  napi_get_boolean(env, c->InstallSend(FlowCache::SendKey(device, mac.data), std::move(e)), &r);
  return r;
}

// flowCacheHop(cache, receiverIndex, key32, windowCell, addr20, linkStats)
napi_value CacheHop(napi_env env, napi_callback_info info) {
  napi_value argv[6];
  FlowCache* c;
  Bytes key, addr;
  uint32_t index;
  HopEntry e;
  if (!Args(env, info, 6, argv) || (c = GetFlowCache(env, argv[0])) == nullptr ||
      !GetU32(env, argv[1], &index) || !GetBytes(env, argv[2], &key, 32) ||
      !CellArg(env, c, argv[3], flow::kWindowWords, &e.window_cell) ||
      !GetBytes(env, argv[4], &addr, kUdpAddrBytes) ||
      !CellArg(env, c, argv[5], 8, &e.link_stats, 2)) {
    return Throw(env, "flowCacheHop(cache, receiverIndex, key, windowCell, addr, linkStats)");
  }
  Copy(e.addr, addr);
  e.gcm = Aes256::New(Aes256::Use::kOpen, key.data);
  e.ecb = Aes256::New(Aes256::Use::kBlocks, key.data);
  if (!e.gcm || !e.ecb) return Throw(env, "flowCacheHop: could not prepare a key");
  c->InstallHop(index, std::move(e));
  return nullptr;
}

// flowCacheRecv(cache, vft16, device, mac6, hpKey32, puntTcp, vlanStats) -> bool
// (false: the device slot is not open; an entry already there for the VFT is kept)
napi_value CacheRecv(napi_env env, napi_callback_info info) {
  napi_value argv[7];
  FlowCache* c;
  Bytes vft, mac, hp;
  RecvEntry e;
  if (!Args(env, info, 7, argv) || (c = GetFlowCache(env, argv[0])) == nullptr ||
      !GetBytes(env, argv[1], &vft, 16) || !GetU32(env, argv[2], &e.device) ||
      !GetBytes(env, argv[3], &mac, 6) || !GetBytes(env, argv[4], &hp, 32) ||
      napi_get_value_bool(env, argv[5], &e.punt_tcp) != napi_ok ||
      !CellArg(env, c, argv[6], 8, &e.vlan_stats, 2)) {
    return Throw(env, "flowCacheRecv(cache, vft, device, mac, hpKey, puntTcp, vlanStats)");
  }
  Copy(e.mac, mac);
  e.hp = Aes256::New(Aes256::Use::kBlocks, hp.data);
  if (!e.hp) return Throw(env, "flowCacheRecv: could not prepare a key");
  std::array<uint8_t, 16> key;
  Copy(key, vft);
  napi_value r;
  napi_get_boolean(env, c->InstallRecv(key, std::move(e)), &r);
  return r;
}

// flowCacheKid(cache, vft16, kid: bigint, key32, salt12, windowCell) -> bool
// (false: no receive entry for that VFT)
napi_value CacheKid(napi_env env, napi_callback_info info) {
  napi_value argv[6];
  FlowCache* c;
  Bytes vft, key, salt;
  uint64_t kid;
  bool lossless;
  KidEntry e;
  if (!Args(env, info, 6, argv) || (c = GetFlowCache(env, argv[0])) == nullptr ||
      !GetBytes(env, argv[1], &vft, 16) ||
      napi_get_value_bigint_uint64(env, argv[2], &kid, &lossless) != napi_ok || !lossless ||
      !GetBytes(env, argv[3], &key, 32) || !GetBytes(env, argv[4], &salt, 12) ||
      !CellArg(env, c, argv[5], flow::kWindowWords, &e.window_cell)) {
    return Throw(env, "flowCacheKid(cache, vft, kid, key, salt, windowCell)");
  }
  Copy(e.salt, salt);
  e.gcm = Aes256::New(Aes256::Use::kOpen, key.data);
  e.ecb = Aes256::New(Aes256::Use::kBlocks, key.data);
  if (!e.gcm || !e.ecb) return Throw(env, "flowCacheKid: could not prepare a key");
  std::array<uint8_t, 16> v;
  Copy(v, vft);
  napi_value r;
  napi_get_boolean(env, c->InstallKid(v, kid, std::move(e)), &r);
  return r;
}

// flowCacheForward(cache, inIndex, vft16, hopKey32, receiverIndex,
//   hopCounterCell, addr20, payloadMax, linkStats)
napi_value CacheForward(napi_env env, napi_callback_info info) {
  napi_value argv[9];
  FlowCache* c;
  Bytes vft, key, addr;
  uint32_t in_index;
  ForwardEntry e;
  if (!Args(env, info, 9, argv) || (c = GetFlowCache(env, argv[0])) == nullptr ||
      !GetU32(env, argv[1], &in_index) || !GetBytes(env, argv[2], &vft, 16) ||
      !GetBytes(env, argv[3], &key, 32) || !GetU32(env, argv[4], &e.receiver_index) ||
      !CellArg(env, c, argv[5], 1, &e.hop_counter_cell) ||
      !GetBytes(env, argv[6], &addr, kUdpAddrBytes) || !GetU32(env, argv[7], &e.payload_max) ||
      !CellArg(env, c, argv[8], 8, &e.link_stats, 2)) {
    return Throw(env, "flowCacheForward(cache, inIndex, vft, hopKey, receiverIndex, "
                      "hopCounterCell, addr, payloadMax, linkStats)");
  }
  Copy(e.addr, addr);
  e.hop_gcm = Aes256::New(Aes256::Use::kSeal, key.data);
  if (!e.hop_gcm) return Throw(env, "flowCacheForward: could not prepare a key");
  std::array<uint8_t, 16> v;
  Copy(v, vft);
  c->InstallForward(in_index, v, std::move(e));
  return nullptr;
}

// flowCacheRemoveForwards(cache, vft16) -> how many entries went
napi_value CacheRemoveForwards(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  FlowCache* c;
  Bytes vft;
  if (!Args(env, info, 2, argv) || (c = GetFlowCache(env, argv[0])) == nullptr ||
      !GetBytes(env, argv[1], &vft, 16)) {
    return Throw(env, "flowCacheRemoveForwards(cache, vft)");
  }
  std::array<uint8_t, 16> v;
  Copy(v, vft);
  napi_value r;
  napi_create_uint32(env, static_cast<uint32_t>(c->RemoveForwards(v)), &r);
  return r;
}

// flowCacheClear(cache)
napi_value CacheClear(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  FlowCache* c;
  if (!Args(env, info, 1, argv) || (c = GetFlowCache(env, argv[0])) == nullptr) {
    return Throw(env, "flowCacheClear(cache)");
  }
  c->Clear();
  return nullptr;
}

// flowCacheStats(cache) -> { entries, sent, received, sendMiss, ... }
napi_value CacheStats(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  FlowCache* c;
  if (!Args(env, info, 1, argv) || (c = GetFlowCache(env, argv[0])) == nullptr) {
    return Throw(env, "flowCacheStats(cache)");
  }
  const FlowStats& s = c->stats();
  napi_value r;
  napi_create_object(env, &r);
  auto set = [&](const char* name, uint64_t v) {
    napi_value n;
    napi_create_double(env, static_cast<double>(v), &n);
    napi_set_named_property(env, r, name, n);
  };
  set("entries", c->Entries());
  set("sent", s.sent.load());
  set("received", s.received.load());
  set("sendMiss", s.send_miss.load());
  set("sendOther", s.send_other.load());
  set("sendSize", s.send_size.load());
  set("sendSpent", s.send_spent.load());
  set("sendFailed", s.send_failed.load());
  set("receiveMiss", s.recv_miss.load());
  set("receiveOther", s.recv_other.load());
  set("receiveChecks", s.recv_checks.load());
  set("receiveRaced", s.recv_raced.load());
  set("writeFailed", s.write_failed.load());
  set("forwarded", s.forwarded.load());
  set("forwardOther", s.forward_other.load());
  set("forwardFailed", s.forward_failed.load());
  set("forwardDuplicate", s.forward_duplicate.load());
  return r;
}

}  // namespace

FlowCache* GetFlowCache(napi_env env, napi_value v) {
  void* p = nullptr;
  if (napi_get_value_external(env, v, &p) != napi_ok || p == nullptr ||
      static_cast<CacheHandle*>(p)->tag != kCacheTag) {
    Throw(env, "not a flow cache handle");
    return nullptr;
  }
  return static_cast<CacheHandle*>(p)->cache;
}

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
      {"flowAesImpl", AesImpl},
      {"flowAesBench", AesBench},
      {"flowSealPayload", SealPayload},
      {"flowOpenPayload", OpenPayload},
      {"flowSealData", SealData},
      {"flowOpenData", OpenData},
      {"flowCacheNew", CacheNew},
      {"flowCacheUdp", CacheUdp},
      {"flowCacheAddDevice", CacheAddDevice},
      {"flowCacheRemoveDevice", CacheRemoveDevice},
      {"flowCacheSend", CacheSend},
      {"flowCacheHop", CacheHop},
      {"flowCacheRecv", CacheRecv},
      {"flowCacheTunRoute", CacheTunRoute},
      {"flowCacheKid", CacheKid},
      {"flowCacheForward", CacheForward},
      {"flowCacheRemoveForwards", CacheRemoveForwards},
      {"flowCacheClear", CacheClear},
      {"flowCacheStats", CacheStats},
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
