// Fuzz target `device`: FlowCache::FromDevice (src/flow-cache.cc), the
// device reader's pass over a slot of frames read from a TAP, with send
// entries installed as src/flow-napi.cc installs them:
//   device 0 (no virtio-net header): M1 -> VFT V1, KID 1, hop R1 (payload
//     max 1472); M3 -> the same over hop R3, whose payload max is 100; M4
//     -> over hop R4 with a spent sender key (its counter cell at 2^23);
//   device 1 (a 10-byte virtio-net header): M2 -> VFT V2, KID 3, hop R2
//     (payload max 2048).
// The datagram socket is a UDP socket on 127.0.0.1; every entry's address
// is a second one on 127.0.0.1, which the target reads back (loopback only).
// Each input X is one frame, run in two slots:
//   device 0: F1 (to M1: carried), X, a broadcast (handed up), X
//   device 1: a zero virtio-net header ‖ F2 (carried), X, a header asking
//             for segmentation (GSO) ‖ F2 (handed up), X
// each frame alone between poisoned bytes. Counters are reset before each
// input, so an input decides the same alone as in the loop.
//
// Checks, beyond memory safety:
// - what FromDevice leaves in the slot is a subsequence of the frames in
//   their order, with their lengths, byte for byte as read;
// - F1 and F2 are carried, the broadcast and the GSO header are not;
// - the datagrams received are exactly the frames carried, in order: each
//   opens (DATA under its path's hop key, with the entry's hopLimit and
//   VFT and hop counters 0, 1, 2...; the sealed payload under its sender
//   key, frame counters 0, 1, 2...) to kind 0 ‖ the frame as read, less its
//   virtio-net header when that asks for nothing, or else to kind 3 ‖ the
//   header and frame as read (a checksum asked, no GSO).
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <sanitizer/asan_interface.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <cstring>

#include "../src/flow-cache.h"
#include "../src/flow-core.h"
#include "../src/udp.h"
#include "fuzz.h"
#include "flow-setup.h"
#include "keys.h"

namespace {

namespace flow = peertap::flow;
using peertap::Arena;
using peertap::FlowCache;
using peertap::ReaderConfig;
using peertap::SendEntry;
using namespace fuzzkeys;
using fuzzsetup::BoundUdp;
using fuzzsetup::NewCtx;

constexpr uint32_t kR1 = 0x11111111, kR2 = 0x22222222, kR3 = 0x33333333, kR4 = 0x44444444;
constexpr uint8_t kM1[6] = {0x02, 0, 0, 0, 0, 0x01};
constexpr uint8_t kM2[6] = {0x02, 0, 0, 0, 0, 0x02};
constexpr uint8_t kM3[6] = {0x02, 0, 0, 0, 0, 0x03};
constexpr uint8_t kM4[6] = {0x02, 0, 0, 0, 0, 0x04};
constexpr uint8_t kSrcMac[6] = {0x02, 0, 0, 0, 0, 0x09};
constexpr uint8_t kHopLimit = 7;
constexpr uint32_t kBatch = 8;
constexpr size_t kRoom = 2240;
constexpr size_t kGap = 64;
// Cells: counter cells (one word), stats blocks (8 words, 2-aligned).
constexpr uint32_t kCtr1 = 0, kHop1 = 1, kCtr2 = 2, kHop2 = 3, kCtr3 = 4, kHop3 = 5, kCtr4 = 6,
                   kHop4 = 7, kStats = 16, kWords = 64;

struct Path {
  uint32_t index;
  const uint8_t* hop_key;
  const uint8_t* vft;
  const uint8_t* key;
  const uint8_t* hp;
  const uint8_t* salt;
  const uint8_t* kid;
};
const Path kPath1{kR1, kHopKey, kVft, kSenderKey, kHpKey, kSalt, kKid};
const Path kPath2{kR2, kHopKey2, kVft2, kSenderKey3, kHpKey2, kSalt3, kKid3};
const Path kPath3{kR3, kHopKey, kVft, kSenderKey, kHpKey, kSalt, kKid};  // payload max 100
const Path kPath4{kR4, kHopKey, kVft, kSenderKey, kHpKey, kSalt, kKid};  // spent

struct State {
  Arena* arena = nullptr;
  FlowCache* cache = nullptr;
  int null_fd = -1, tx = -1, rx = -1;
  uint32_t dev0 = 0, dev1 = 0;
  ReaderConfig config{};
  uint8_t* data = nullptr;
  uint32_t meta[kBatch * 2];
  fuzz::Bytes f1, bcast, f2v, f2v_gso;
  // Receive side: DATA and sealed payload contexts per path.
  peertap::Cipher open_hop1, open_hop2, hp1, hp2, open1, open2;
};

State& S() {
  static State s;
  return s;
}

fuzz::Bytes Frame(const uint8_t* dst, uint16_t type, size_t body, uint64_t* s) {
  fuzz::Bytes f(dst, dst + 6);
  f.insert(f.end(), kSrcMac, kSrcMac + 6);
  f.push_back(static_cast<uint8_t>(type >> 8));
  f.push_back(static_cast<uint8_t>(type));
  fuzz::Bytes b = fuzz::Random(s, body);
  f.insert(f.end(), b.begin(), b.end());
  return f;
}

fuzz::Bytes Vnet(const fuzz::Bytes& f, uint8_t flags = 0) {
  fuzz::Bytes v(10, 0);
  v[0] = flags;
  v.insert(v.end(), f.begin(), f.end());
  return v;
}

// The frame's source MAC an entry may require (a `src` member, in a
// version of SendEntry that has one: frames from another source go up).
template <typename E>
auto SetSource(E& e, const uint8_t* mac, int) -> decltype(e.src, void()) {
  std::memcpy(e.src.data(), mac, 6);
}
template <typename E>
void SetSource(E&, const uint8_t*, long) {}

void Install(FlowCache& c, uint32_t device, const uint8_t* mac, const Path& p, uint32_t ctr,
             uint32_t hop, uint32_t payload_max, const std::array<uint8_t, 20>& addr) {
  SendEntry e;
  e.device = device;
  std::memcpy(e.vft.data(), p.vft, 16);
  e.hop_limit = kHopLimit;
  e.gcm = NewCtx(peertap::Aes256::Use::kSeal, p.key);
  e.hp = NewCtx(peertap::Aes256::Use::kBlocks, p.hp);
  std::memcpy(e.salt.data(), p.salt, 12);
  std::memcpy(e.kid.data(), p.kid, 8);
  e.counter_cell = ctr;
  e.hop_gcm = NewCtx(peertap::Aes256::Use::kSeal, p.hop_key);
  e.receiver_index = p.index;
  e.hop_counter_cell = hop;
  e.addr = addr;
  e.payload_max = payload_max;
  e.vlan_stats = kStats;
  e.link_stats = kStats + 8;
  SetSource(e, kSrcMac, 0);
  c.InstallSend(FlowCache::SendKey(device, mac), std::move(e));
}

void Setup() {
  State& st = S();
  st.arena = new Arena();
  st.arena->mem = static_cast<int32_t*>(std::calloc(kWords, sizeof(int32_t)));
  st.arena->words = kWords;
  st.cache = new FlowCache(st.arena);
  st.null_fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
  uint16_t tx_port, rx_port;
  st.tx = BoundUdp(&tx_port);
  st.rx = BoundUdp(&rx_port);
  std::array<uint8_t, 20> addr{};
  addr[0] = 4;
  addr[2] = static_cast<uint8_t>(rx_port >> 8);
  addr[3] = static_cast<uint8_t>(rx_port);
  addr[4] = 127;
  addr[7] = 1;
  FlowCache& c = *st.cache;
  c.SetUdp(st.tx, 4, false);
  st.dev0 = c.AddDevice(st.null_fd, false, false);
  st.dev1 = c.AddDevice(st.null_fd, true, false);
  Install(c, st.dev0, kM1, kPath1, kCtr1, kHop1, 1472, addr);
  Install(c, st.dev1, kM2, kPath2, kCtr2, kHop2, 2048, addr);
  Install(c, st.dev0, kM3, kPath3, kCtr3, kHop3, 100, addr);
  Install(c, st.dev0, kM4, kPath4, kCtr4, kHop4, 1472, addr);

  st.open_hop1 = NewCtx(peertap::Aes256::Use::kOpen, kHopKey, peertap::Aes256::Impl::kEvp);
  st.open_hop2 = NewCtx(peertap::Aes256::Use::kOpen, kHopKey2, peertap::Aes256::Impl::kEvp);
  st.hp1 = NewCtx(peertap::Aes256::Use::kBlocks, kHpKey, peertap::Aes256::Impl::kEvp);
  st.hp2 = NewCtx(peertap::Aes256::Use::kBlocks, kHpKey2, peertap::Aes256::Impl::kEvp);
  st.open1 = NewCtx(peertap::Aes256::Use::kOpen, kSenderKey, peertap::Aes256::Impl::kEvp);
  st.open2 = NewCtx(peertap::Aes256::Use::kOpen, kSenderKey3, peertap::Aes256::Impl::kEvp);

  st.config.slots = 1;
  st.config.batch_frames = kBatch;
  st.config.slot_bytes = kBatch * kRoom;
  st.config.frame_max = 2048;
  st.config.kind = ReaderConfig::kDevice;
  st.data = static_cast<uint8_t*>(std::malloc(kBatch * kRoom));
  ASAN_POISON_MEMORY_REGION(st.data, kBatch * kRoom);

  uint64_t s = 0xde71ce;
  st.f1 = Frame(kM1, 0x0800, 86, &s);
  const uint8_t group[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
  st.bcast = Frame(group, 0x0806, 28, &s);
  fuzz::Bytes f2 = Frame(kM2, 0x86dd, 120, &s);
  st.f2v = Vnet(f2);
  st.f2v_gso = Vnet(f2);
  st.f2v_gso[1] = 1;  // VIRTIO_NET_HDR_GSO_TCPV4
  std::atexit([] {
    const peertap::FlowStats& f = S().cache->stats();
    std::fprintf(stderr,
                 "peertap-fuzz device: FromDevice sent %llu (F1 and F2: two an input), handed "
                 "up: %llu miss, %llu other, %llu size, %llu spent; %llu failed\n",
                 static_cast<unsigned long long>(f.sent.load()),
                 static_cast<unsigned long long>(f.send_miss.load()),
                 static_cast<unsigned long long>(f.send_other.load()),
                 static_cast<unsigned long long>(f.send_size.load()),
                 static_cast<unsigned long long>(f.send_spent.load()),
                 static_cast<unsigned long long>(f.send_failed.load()));
  });
}

struct In {
  const uint8_t* bytes;
  size_t len;
};

// Runs one slot through FromDevice; returns the frames it carried, in order.
std::vector<In> RunSlot(uint32_t device, const In* in, uint32_t count) {
  State& st = S();
  uint32_t* offsets = st.meta;
  uint32_t* lengths = st.meta + kBatch;
  uint32_t orig[kBatch];
  for (uint32_t i = 0; i < count; i++) {
    FUZZ_CHECK(kGap + in[i].len + 7 + kGap <= kRoom, "the frame fits its room");
    size_t end = (i * kRoom + kGap + in[i].len + 7) / 8 * 8;
    size_t off = end - in[i].len;
    ASAN_UNPOISON_MEMORY_REGION(st.data + off, in[i].len);
    if (in[i].len > 0) std::memcpy(st.data + off, in[i].bytes, in[i].len);
    offsets[i] = orig[i] = static_cast<uint32_t>(off);
    lengths[i] = static_cast<uint32_t>(in[i].len);
  }
  uint32_t kept = st.cache->FromDevice(device, st.config, st.data, st.meta, count);
  FUZZ_CHECK(kept <= count, "kept at most the count");
  bool left[kBatch] = {};
  uint32_t next = 0;
  for (uint32_t k = 0; k < kept; k++) {
    uint32_t i = next;
    while (i < count && orig[i] != offsets[k]) i++;
    FUZZ_CHECK(i < count, "a frame left in the slot is one of those given, in their order");
    FUZZ_CHECK(lengths[k] == in[i].len, "a frame left in the slot keeps its length");
    FUZZ_CHECK(in[i].len == 0 || std::memcmp(st.data + offsets[k], in[i].bytes, in[i].len) == 0,
               "a frame left in the slot is byte for byte as read");
    left[i] = true;
    next = i + 1;
  }
  for (uint32_t i = 0; i < count; i++) ASAN_POISON_MEMORY_REGION(st.data + orig[i], in[i].len);
  FUZZ_CHECK(!left[0], "a unicast frame with an entry is carried (F1, F2)");
  FUZZ_CHECK(left[2], "a broadcast, or a virtio-net header asking for GSO, is handed up");
  std::vector<In> carried;
  for (uint32_t i = 0; i < count; i++) {
    if (!left[i]) carried.push_back(in[i]);
  }
  return carried;
}

// Reads the datagrams back and opens each to the frame carried.
void Receive(const std::vector<In>& carried, bool vnet) {
  State& st = S();
  uint8_t d[4096];
  uint32_t counters[4] = {0, 0, 0, 0};  // per path: hop and frame counters go 0, 1, 2...
  for (size_t k = 0; k < carried.size(); k++) {
    // The path: the one of the entry for the frame's destination MAC.
    FUZZ_CHECK(carried[k].len >= (vnet ? 10u : 0u) + 14, "a frame carried has a header");
    const uint8_t* dst = carried[k].bytes + (vnet ? 10 : 0);
    int which = std::memcmp(dst, kM1, 6) == 0 ? 0 : std::memcmp(dst, kM2, 6) == 0 ? 1
                : std::memcmp(dst, kM3, 6) == 0 ? 2 : 3;
    FUZZ_CHECK(which != 3, "a frame carried is one with an entry that can send");
    FUZZ_CHECK((which == 1) == vnet, "a frame carried has an entry on its device");
    const Path& path0 = which == 0 ? kPath1 : which == 1 ? kPath2 : kPath3;
    ssize_t n = fuzzsetup::RecvWait(st.rx, d, sizeof d);
    FUZZ_CHECK(n > 0, "a datagram for every frame carried");
    size_t len = static_cast<size_t>(n);
    flow::DataHeader h;
    FUZZ_CHECK(flow::ParseData(d, len, &h) == flow::DataDrop::kNone, "the datagram is DATA");
    FUZZ_CHECK(h.receiver_index == path0.index, "the entry's receiver index");
    uint32_t& ctr = counters[which];
    FUZZ_CHECK(h.counter == ctr, "hop counters 0, 1, 2...");
    uint8_t hop = 0, vft[16];
    peertap::Aes256* open_hop = path0.hop_key == kHopKey ? st.open_hop1.get() : st.open_hop2.get();
    FUZZ_CHECK(flow::OpenData(open_hop, d, len, &hop, vft) == flow::DataDrop::kNone &&
                   hop == kHopLimit && std::memcmp(vft, path0.vft, 16) == 0,
               "the DATA opens under the hop key to the entry's hopLimit and VFT");
    const uint8_t* sealed = d + flow::kDataOverhead;
    size_t sealed_len = len - flow::kDataOverhead;
    peertap::Aes256* hp = path0.hp == kHpKey ? st.hp1.get() : st.hp2.get();
    peertap::Aes256* open = path0.key == kSenderKey ? st.open1.get() : st.open2.get();
    flow::PayloadHeader ph;
    FUZZ_CHECK(flow::ParsePayload(hp, sealed, sealed_len, &ph) == flow::PayloadDrop::kNone &&
                   ph.counter == ctr && std::memcmp(ph.header + 1, path0.kid, 8) == 0,
               "the sealed payload parses: the entry's KID, frame counters 0, 1, 2...");
    fuzz::Bytes pt(sealed_len - ph.length - flow::kTagBytes);
    FUZZ_CHECK(flow::OpenPayload(open, path0.salt, path0.vft, ph, sealed, sealed_len, pt.data()) ==
                   flow::PayloadDrop::kNone,
               "the sealed payload opens under the sender key");
    // Kind 3 when the header asks for something (a checksum; GSO goes up).
    const uint8_t kind = vnet && carried[k].bytes[0] != 0 ? 3 : 0;
    FUZZ_CHECK(!vnet || carried[k].bytes[1] == 0, "no GSO frame is carried");
    const size_t skip = vnet && kind == 0 ? 10 : 0;
    const uint8_t* frame = carried[k].bytes + skip;
    size_t frame_len = carried[k].len - skip;
    FUZZ_CHECK(pt.size() == 1 + frame_len && pt[0] == kind &&
                   std::memcmp(pt.data() + 1, frame, frame_len) == 0,
               "the plaintext is the kind and the frame carried (kind 3: with its header), in order");
    ctr++;
  }
  FUZZ_CHECK(recv(st.rx, d, sizeof d, 0) < 0, "no datagram more than the frames carried");
}

}  // namespace

const char* const fuzz::kTargetName = "device";

void fuzz::FuzzSeeds(std::vector<fuzz::Bytes>* seeds) {
  Setup();
  uint64_t s = 0x5eed;
  auto& v = *seeds;
  // Device 0's shapes: carried (M1, smallest and largest), too large for
  // M3's path, M4's spent key, no entry, a group MAC, a runt.
  v.push_back(Frame(kM1, 0x0800, 46, &s));
  v.push_back(Frame(kM1, 0x0800, 0, &s));
  v.push_back(Frame(kM1, 0x0800, 1472 - 42 - 28 - 1 - 14, &s));
  v.push_back(Frame(kM1, 0x0800, 1472 - 42 - 28 - 1 - 14 + 1, &s));
  v.push_back(Frame(kM3, 0x0800, 10, &s));
  v.push_back(Frame(kM3, 0x0800, 60, &s));
  v.push_back(Frame(kM4, 0x0800, 60, &s));
  v.push_back(Frame(kSrcMac, 0x0800, 60, &s));
  const uint8_t group[6] = {0x33, 0x33, 0, 0, 0, 1};
  v.push_back(Frame(group, 0x86dd, 60, &s));
  fuzz::Bytes runt(kM1, kM1 + 6);
  runt.resize(13, 0x42);
  v.push_back(runt);
  // Device 1's: a zero virtio-net header before a frame to M2, smallest and
  // largest; headers that ask for something.
  v.push_back(Vnet(Frame(kM2, 0x0800, 46, &s)));
  v.push_back(Vnet(Frame(kM2, 0x0800, 0, &s)));
  v.push_back(Vnet(Frame(kM2, 0x0800, 2048 - 42 - 28 - 1 - 14, &s)));
  v.push_back(Vnet(Frame(kM2, 0x0800, 2048 - 42 - 28 - 1 - 14 + 1, &s)));
  v.push_back(Vnet(Frame(kM2, 0x0800, 1400, &s), 1));
  fuzz::Bytes gso = Vnet(Frame(kM2, 0x0800, 1400, &s));
  gso[1] = 1;  // VIRTIO_NET_HDR_GSO_TCPV4
  v.push_back(gso);
  v.push_back(fuzz::Bytes(10, 0));
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* x, size_t len) {
  State& st = S();
  int32_t* cells = st.arena->mem;
  for (uint32_t c : {kCtr1, kHop1, kCtr2, kHop2, kCtr3, kHop3, kHop4}) cells[c] = 0;
  cells[kCtr4] = 1 << 23;  // spent
  const In slot0[] = {{st.f1.data(), st.f1.size()}, {x, len}, {st.bcast.data(), st.bcast.size()},
                      {x, len}};
  Receive(RunSlot(st.dev0, slot0, 4), false);
  for (uint32_t c : {kCtr1, kHop1, kCtr2, kHop2, kCtr3, kHop3, kHop4}) cells[c] = 0;
  const In slot1[] = {{st.f2v.data(), st.f2v.size()}, {x, len},
                      {st.f2v_gso.data(), st.f2v_gso.size()}, {x, len}};
  Receive(RunSlot(st.dev1, slot1, 4), true);
  return 0;
}
