// Fuzz target `cache`: FlowCache::FromUdp (src/flow-cache.cc), the UDP
// reader's pass over a slot of received datagrams, with entries installed
// as src/flow-napi.cc installs them (one OpenSSL context per entry):
//   hop R1 (hop key 1, from 127.0.0.1:4000) and R2 (hop key 2, from
//   [::1]:4001); VFT V1 -> device 0 (/dev/null, MAC M1, KIDs 1 and 2) and
//   VFT V2 -> device 1 (a packet-mode pipe, with a virtio-net header, MAC
//   M2, TCP punted, KID 3); and a relay's forwarding: VFT V3 arriving on
//   R1 -> the next hop R9 (hop key 2, payload max 1472), whose address is
//   a UDP socket on 127.0.0.1 that the target reads back (loopback only).
// Each input X is one datagram; the slot holds, in this order:
//   0 C1  a valid DATA for R1 / V1 / KID 1 to M1: carried (device 0)
//   1 C2  a valid DATA for R2 / V2 / KID 3 to M2: carried (the pipe)
//   2 F   a valid DATA for R1 / V3, new each input: forwarded
//   3 X   from R1's address
//   4 P   a valid DATA for R1 / V1 / KID 2 to another MAC: handed up
//   5 X   from R2's address
//   6 X   from an address no path has: handed up
//   7 X   from R1's address again: handed up (a replay, or refused as before)
//   8 Y   a valid DATA for R2 / V2 / KID 3 whose plaintext is X (X from 1 to
//         1978 bytes): the checks after the AEAD (kind, virtio-net header,
//         MAC, TCP) on any plaintext
// every datagram alone between poisoned bytes, so that AddressSanitizer
// reports a read past any of them. Windows are reset before each input,
// so an input decides the same alone as in the loop.
//
// Checks, beyond memory safety:
// - what FromUdp leaves in the slot is a subsequence of the datagrams in
//   their order, each byte for byte as it arrived, with its own length and
//   source address record;
// - C1 and C2 are carried, P and X from the unknown address are not, the
//   second X from R1's address is not;
// - the pipe gets C2's frame first, behind ten zero bytes, and at most one
//   frame more per X that was carried; if Y is carried, last, what its
//   plaintext says: kind 0, ten zero bytes and the frame; kind 3, its
//   virtio-net header (no GSO) and frame; either way a frame to M2;
// - F is forwarded; every datagram the next hop gets is DATA for R9 under
//   its hop key, with hop counters 0, 1, 2..., the VFT V3, a hop limit one
//   less and, byte for byte, the sealed payload of a datagram the slot
//   held, in the slot's order; as many as the cache counts forwarded.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <openssl/evp.h>
#include <sanitizer/asan_interface.h>
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
using peertap::HopEntry;
using peertap::KidEntry;
using peertap::ReaderConfig;
using peertap::RecvEntry;
using namespace fuzzkeys;
using fuzzsetup::BoundUdp;
using fuzzsetup::NewCtx;

constexpr uint32_t kR1 = 0x11111111, kR2 = 0x22222222, kR9 = 0x99999999;
constexpr uint8_t kVft3[16] = {0x56, 0x46, 0x54, 3, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13};
constexpr uint8_t kM1[6] = {0x02, 0, 0, 0, 0, 0x01};
constexpr uint8_t kM2[6] = {0x02, 0, 0, 0, 0, 0x02};
constexpr uint8_t kOtherMac[6] = {0x02, 0, 0, 0, 0, 0x03};
constexpr uint8_t kSrcMac[6] = {0x02, 0, 0, 0, 0, 0x09};
constexpr uint32_t kBatch = 9;  // the slot's datagrams, at most
constexpr size_t kRoom = 2240;  // per datagram in the slot: 2100 and poisoned bytes around
constexpr size_t kGap = 64;

// Cells: windows of 68 words, stats blocks of 8 (2-aligned).
constexpr uint32_t kHopWindow1 = 0, kHopWindow2 = 68, kKidWindow1 = 136, kKidWindow2 = 204,
                   kKidWindow3 = 272, kFwdCounter = 340, kStats = 400, kWords = 512;

using Addr = std::array<uint8_t, peertap::kUdpAddrBytes>;
Addr AddrOf(int family, uint16_t port, std::initializer_list<uint8_t> ip) {
  Addr a{};
  a[0] = static_cast<uint8_t>(family);
  a[2] = static_cast<uint8_t>(port >> 8);
  a[3] = static_cast<uint8_t>(port);
  size_t i = 4;
  for (uint8_t b : ip) a[i++] = b;
  return a;
}
const Addr kA1 = AddrOf(4, 4000, {127, 0, 0, 1});
const Addr kA2 = AddrOf(6, 4001, {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1});
const Addr kA3 = AddrOf(4, 4000, {127, 0, 0, 2});

struct Sender {
  const uint8_t* key;
  const uint8_t* hp;
  const uint8_t* salt;
  const uint8_t* kid;
};
const Sender kSender1{kSenderKey, kHpKey, kSalt, kKid};
const Sender kSender2{kSenderKey2, kHpKey, kSalt2, kKid2};
const Sender kSender3{kSenderKey3, kHpKey2, kSalt3, kKid3};

struct State {
  Arena* arena = nullptr;
  FlowCache* cache = nullptr;
  int null_fd = -1;
  int tx = -1, fwd_rx = -1;  // the datagram socket; the next hop's
  uint64_t fresh = 0;        // makes F new each input (the duplicate cache)
  uint64_t y_carried = 0;    // inputs whose Y was carried
  peertap::Cipher fwd_open;     // the next hop's receive context
  peertap::Cipher hop_open;     // R1's receive context (the hop limit that came in)
  int pipe_r = -1, pipe_w = -1;
  ReaderConfig config{};
  uint8_t* data = nullptr;  // kBatch x kRoom, poisoned but for the datagrams
  uint32_t meta[kBatch * (2 + peertap::kUdpAddrWords)];
  fuzz::Bytes c1, c2, p;
  fuzz::Bytes c2_frame;  // what the pipe must get for C2
};

State& S() {
  static State s;
  return s;
}

// An Ethernet frame: dst, src, type, then a body of `body` bytes (IPv4 with
// protocol `proto` when type is 0x0800).
fuzz::Bytes Frame(const uint8_t* dst, uint16_t type, uint8_t proto, size_t body, uint64_t* s) {
  fuzz::Bytes f(dst, dst + 6);
  f.insert(f.end(), kSrcMac, kSrcMac + 6);
  f.push_back(static_cast<uint8_t>(type >> 8));
  f.push_back(static_cast<uint8_t>(type));
  fuzz::Bytes b = fuzz::Random(s, body);
  if (type == 0x0800 && body >= 20) {
    b[0] = 0x45;
    b[9] = proto;
  }
  f.insert(f.end(), b.begin(), b.end());
  return f;
}

// DATA for hop `index` (its key) carrying a sealed payload of `kind` ‖ frame.
fuzz::Bytes Datagram(uint32_t index, uint32_t hop_counter, const uint8_t* vft, const Sender& snd,
                     uint64_t counter, uint8_t kind, const fuzz::Bytes& frame,
                     uint8_t hop_limit = 8) {
  peertap::Cipher gcm = NewCtx(peertap::Aes256::Use::kSeal, snd.key, peertap::Aes256::Impl::kEvp);
  peertap::Cipher hp = NewCtx(peertap::Aes256::Use::kBlocks, snd.hp, peertap::Aes256::Impl::kEvp);
  peertap::Cipher hop = NewCtx(peertap::Aes256::Use::kSeal, index == kR2 ? kHopKey2 : kHopKey, peertap::Aes256::Impl::kEvp);
  fuzz::Bytes pt{kind};
  pt.insert(pt.end(), frame.begin(), frame.end());
  fuzz::Bytes out(flow::kDataOverhead + pt.size() + flow::SealedOverhead(counter));
  size_t sealed = flow::SealPayload({gcm.get(), hp.get(), snd.salt, snd.kid}, vft, counter,
                                    pt.data(), pt.size(), out.data() + flow::kDataOverhead);
  FUZZ_CHECK(sealed > 0, "SealPayload");
  size_t n = flow::SealData(hop.get(), index, hop_counter, hop_limit, vft, out.data() + flow::kDataOverhead,
                            sealed, out.data());
  FUZZ_CHECK(n == out.size(), "SealData");
  return out;
}

void Setup() {
  State& st = S();
  st.arena = new Arena();
  st.arena->mem = static_cast<int32_t*>(std::calloc(kWords, sizeof(int32_t)));
  st.arena->words = kWords;
  st.cache = new FlowCache(st.arena);
  st.null_fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
  int fds[2];
  // A packet-mode pipe: each write(2) one read(2), as a TAP's frames.
  if (st.null_fd < 0 || pipe2(fds, O_DIRECT | O_NONBLOCK | O_CLOEXEC) != 0) {
    std::perror("peertap-fuzz: /dev/null or pipe2");
    std::exit(2);
  }
  st.pipe_r = fds[0];
  st.pipe_w = fds[1];
  FlowCache& c = *st.cache;
  uint16_t tx_port, fwd_port;
  st.tx = BoundUdp(&tx_port);
  st.fwd_rx = BoundUdp(&fwd_port);
  c.SetUdp(st.tx, 4, false);
  uint32_t dev0 = c.AddDevice(st.null_fd, false, false);
  uint32_t dev1 = c.AddDevice(st.pipe_w, true, false);

  HopEntry h1;
  h1.gcm = NewCtx(peertap::Aes256::Use::kOpen, kHopKey);
  h1.window_cell = kHopWindow1;
  h1.addr = kA1;
  h1.link_stats = kStats;
  c.InstallHop(kR1, std::move(h1));
  HopEntry h2;
  h2.gcm = NewCtx(peertap::Aes256::Use::kOpen, kHopKey2);
  h2.window_cell = kHopWindow2;
  h2.addr = kA2;
  h2.link_stats = kStats + 8;
  c.InstallHop(kR2, std::move(h2));

  std::array<uint8_t, 16> v1, v2;
  std::memcpy(v1.data(), kVft, 16);
  std::memcpy(v2.data(), kVft2, 16);
  RecvEntry r1;
  r1.device = dev0;
  std::memcpy(r1.mac.data(), kM1, 6);
  r1.hp = NewCtx(peertap::Aes256::Use::kBlocks, kHpKey);
  r1.vlan_stats = kStats + 16;
  c.InstallRecv(v1, std::move(r1));
  RecvEntry r2;
  r2.device = dev1;
  std::memcpy(r2.mac.data(), kM2, 6);
  r2.hp = NewCtx(peertap::Aes256::Use::kBlocks, kHpKey2);
  r2.punt_tcp = true;
  r2.vlan_stats = kStats + 24;
  c.InstallRecv(v2, std::move(r2));

  auto kid = [&](const std::array<uint8_t, 16>& vft, const Sender& s, uint32_t window) {
    KidEntry k;
    k.gcm = NewCtx(peertap::Aes256::Use::kOpen, s.key);
    std::memcpy(k.salt.data(), s.salt, 12);
    k.window_cell = window;
    uint64_t id = 0;
    for (int i = 0; i < 8; i++) id = id << 8 | s.kid[i];
    FUZZ_CHECK(c.InstallKid(vft, id, std::move(k)), "InstallKid");
  };
  kid(v1, kSender1, kKidWindow1);
  kid(v1, kSender2, kKidWindow2);
  kid(v2, kSender3, kKidWindow3);

  peertap::ForwardEntry fe;
  fe.hop_gcm = NewCtx(peertap::Aes256::Use::kSeal, kHopKey2);
  fe.receiver_index = kR9;
  fe.hop_counter_cell = kFwdCounter;
  fe.addr = AddrOf(4, fwd_port, {127, 0, 0, 1});
  fe.payload_max = 1472;
  fe.link_stats = kStats + 32;
  std::array<uint8_t, 16> v3;
  std::memcpy(v3.data(), kVft3, 16);
  c.InstallForward(kR1, v3, std::move(fe));
  st.fwd_open = NewCtx(peertap::Aes256::Use::kOpen, kHopKey2, peertap::Aes256::Impl::kEvp);
  st.hop_open = NewCtx(peertap::Aes256::Use::kOpen, kHopKey, peertap::Aes256::Impl::kEvp);

  st.config.slots = 1;
  st.config.batch_frames = kBatch;
  st.config.slot_bytes = kBatch * kRoom;
  st.config.frame_max = 2048;
  st.config.kind = ReaderConfig::kUdp;
  st.data = static_cast<uint8_t*>(std::malloc(kBatch * kRoom));
  ASAN_POISON_MEMORY_REGION(st.data, kBatch * kRoom);

  uint64_t s = 0xcac7e;
  fuzz::Bytes f1 = Frame(kM1, 0x0800, 17, 86, &s);
  st.c1 = Datagram(kR1, 1000, kVft, kSender1, 1000, 0, f1);
  fuzz::Bytes f2 = Frame(kM2, 0x0800, 17, 86, &s);
  st.c2 = Datagram(kR2, 1000, kVft2, kSender3, 1000, 0, f2);
  st.c2_frame.assign(10, 0);
  st.c2_frame.insert(st.c2_frame.end(), f2.begin(), f2.end());
  st.p = Datagram(kR1, 1001, kVft, kSender2, 1000, 0, Frame(kOtherMac, 0x0800, 17, 86, &s));
  // At exit, where the datagrams went (FlowStats): the reach of the run.
  std::atexit([] {
    const peertap::FlowStats& f = S().cache->stats();
    std::fprintf(stderr,
                 "peertap-fuzz cache: FromUdp carried %llu (C1 and C2: two an input), handed "
                 "up: %llu miss, %llu other, %llu checks, %llu raced; %llu writes failed; "
                 "forwarded %llu (F: one an input), %llu duplicates, %llu handed up; Y carried "
                 "%llu times\n",
                 static_cast<unsigned long long>(f.received.load()),
                 static_cast<unsigned long long>(f.recv_miss.load()),
                 static_cast<unsigned long long>(f.recv_other.load()),
                 static_cast<unsigned long long>(f.recv_checks.load()),
                 static_cast<unsigned long long>(f.recv_raced.load()),
                 static_cast<unsigned long long>(f.write_failed.load()),
                 static_cast<unsigned long long>(f.forwarded.load()),
                 static_cast<unsigned long long>(f.forward_duplicate.load()),
                 static_cast<unsigned long long>(f.forward_other.load()),
                 static_cast<unsigned long long>(S().y_carried));
  });
}

}  // namespace

const char* const fuzz::kTargetName = "cache";

void fuzz::FuzzSeeds(std::vector<fuzz::Bytes>* seeds) {
  Setup();
  uint64_t s = 0x5eed;
  auto& v = *seeds;
  // Carried: to M1 on device 0, to M2 on the pipe (also through R1), the
  // largest datagram, the highest counters.
  v.push_back(Datagram(kR1, 5, kVft, kSender1, 5, 0, Frame(kM1, 0x0800, 17, 100, &s)));
  v.push_back(Datagram(kR2, 7, kVft2, kSender3, 7, 0, Frame(kM2, 0x86dd, 17, 200, &s)));
  v.push_back(Datagram(kR1, 9, kVft2, kSender3, 300, 0, Frame(kM2, 0x0806, 0, 28, &s)));
  v.push_back(Datagram(kR1, 11, kVft, kSender2, 0x10000, 0, Frame(kM1, 0x0800, 6, 2048 - 42 - 28 - 1 - 14, &s)));
  v.push_back(Datagram(kR1, 0x7fffffff, kVft, kSender1, 0x7fffff, 0, Frame(kM1, 0x0800, 1, 64, &s)));
  v.push_back(Datagram(kR1, 12, kVft, kSender1, 0, 0, Frame(kM1, 0x0800, 17, 0, &s)));
  // Handed up: TCP on V2 (punted), another MAC, a group MAC, a fragment
  // (kind 1), a runt, an unknown KID, an unknown VFT, a bad frame counter.
  v.push_back(Datagram(kR2, 13, kVft2, kSender3, 13, 0, Frame(kM2, 0x0800, 6, 60, &s)));
  v.push_back(Datagram(kR1, 14, kVft, kSender1, 14, 0, Frame(kOtherMac, 0x0800, 17, 60, &s)));
  const uint8_t group[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
  v.push_back(Datagram(kR1, 15, kVft, kSender1, 15, 0, Frame(group, 0x0806, 0, 28, &s)));
  v.push_back(Datagram(kR1, 16, kVft, kSender1, 16, 1, Frame(kM1, 0x0800, 17, 60, &s)));
  fuzz::Bytes runt(kM1, kM1 + 6);
  runt.resize(13, 0x42);
  v.push_back(Datagram(kR1, 17, kVft, kSender1, 17, 0, runt));
  const Sender stranger{kSenderKey, kHpKey, kSalt, kKid3};
  v.push_back(Datagram(kR1, 18, kVft, stranger, 18, 0, Frame(kM1, 0x0800, 17, 60, &s)));
  const uint8_t other_vft[16] = {9, 9, 9};
  v.push_back(Datagram(kR1, 19, other_vft, kSender1, 19, 0, Frame(kM1, 0x0800, 17, 60, &s)));
  v.push_back(Datagram(kR1, 20, kVft, kSender1, 0x800000, 0, Frame(kM1, 0x0800, 17, 60, &s)));
  // A relay's: forwarded (the largest the next path takes, too), with hop
  // limit 1 (handed up), too large for the next path (handed up), from R2
  // (no forwarding entry).
  v.push_back(Datagram(kR1, 22, kVft3, kSender1, 22, 0, Frame(kM1, 0x0800, 17, 100, &s)));
  v.push_back(Datagram(kR1, 23, kVft3, kSender1, 23, 0, Frame(kM1, 0x0800, 17, 1472 - 42 - 28 - 1 - 14, &s)));
  v.push_back(Datagram(kR1, 24, kVft3, kSender1, 24, 0, Frame(kM1, 0x0800, 17, 100, &s), 1));
  v.push_back(Datagram(kR1, 25, kVft3, kSender1, 25, 0, Frame(kM1, 0x0800, 17, 1472 - 42 - 28 - 14, &s)));
  v.push_back(Datagram(kR2, 26, kVft3, kSender1, 26, 0, Frame(kM1, 0x0800, 17, 100, &s)));
  // Plaintexts, for Y: kind 0 and a frame to M2; kind 3, a virtio-net
  // header asking for the UDP or TCP checksum (TCP is punted on V2) or
  // asking for nothing, and an IPv4 frame to M2; kind 3 asking for GSO; a
  // fragment's kind.
  auto ipv4 = [&](uint8_t proto, size_t payload) {
    fuzz::Bytes f = Frame(kM2, 0x0800, proto, 20 + payload, &s);
    size_t total = 20 + payload;
    f[14 + 2] = static_cast<uint8_t>(total >> 8);
    f[14 + 3] = static_cast<uint8_t>(total);
    return f;
  };
  auto vnet = [](uint8_t flags, uint8_t gso, uint16_t start, uint16_t offset,
                 const fuzz::Bytes& f) {
    fuzz::Bytes p{3, flags, gso, 42, 0, 0, 0, static_cast<uint8_t>(start), static_cast<uint8_t>(start >> 8),
                  static_cast<uint8_t>(offset), static_cast<uint8_t>(offset >> 8)};
    p.insert(p.end(), f.begin(), f.end());
    return p;
  };
  fuzz::Bytes plain0{0};
  fuzz::Bytes f0 = ipv4(17, 64);
  plain0.insert(plain0.end(), f0.begin(), f0.end());
  v.push_back(plain0);
  v.push_back(vnet(1, 0, 34, 6, ipv4(17, 64)));
  v.push_back(vnet(1, 0, 34, 16, ipv4(6, 64)));
  v.push_back(vnet(0, 0, 0, 0, ipv4(17, 64)));
  v.push_back(vnet(1, 1, 34, 16, ipv4(6, 1400)));
  fuzz::Bytes frag = plain0;
  frag[0] = 1;
  v.push_back(frag);
  // Not DATA: a PING's shape, a PONG's, an unknown index.
  fuzz::Bytes ping = fuzz::Random(&s, 64);
  ping[0] = 2;
  std::memcpy(ping.data() + 1, "\x11\x11\x11\x11\x00\x00\x00\x05", 8);
  v.push_back(ping);
  fuzz::Bytes pong = ping;
  pong[0] = 3;
  pong.resize(35);
  v.push_back(pong);
  v.push_back(Datagram(0x33333333, 21, kVft, kSender1, 21, 0, Frame(kM1, 0x0800, 17, 60, &s)));
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* x, size_t len) {
  State& st = S();
  for (uint32_t w : {kHopWindow1, kHopWindow2, kKidWindow1, kKidWindow2, kKidWindow3}) {
    flow::WindowReset(st.arena->mem + w);
  }
  st.arena->mem[kFwdCounter] = 0;
  // F: new bytes each input, or the duplicate cache would drop it as seen.
  uint64_t fs = ++st.fresh;
  fuzz::Bytes f = Datagram(kR1, 1002, kVft3, kSender1, 1002, 0, Frame(kM1, 0x0800, 17, 60, &fs), 5);
  uint64_t forwarded_before = st.cache->stats().forwarded.load();
  // Y: X as the plaintext of a valid DATA to M2's port (a vnet device).
  fuzz::Bytes y;
  const bool has_y = len >= 1 && len <= 2048 - flow::kDataOverhead - 28;
  if (has_y) {
    fuzz::Bytes frame(x + 1, x + len);
    y = Datagram(kR2, 1003, kVft2, kSender3, 1003, x[0], frame);
  }
  struct In {
    const uint8_t* bytes;
    size_t len;
    const Addr* addr;
  };
  const In in[] = {{st.c1.data(), st.c1.size(), &kA1}, {st.c2.data(), st.c2.size(), &kA2},
                   {f.data(), f.size(), &kA1},         {x, len, &kA1},
                   {st.p.data(), st.p.size(), &kA1},   {x, len, &kA2},
                   {x, len, &kA3},                     {x, len, &kA1},
                   {y.data(), y.size(), &kA2}};
  const uint32_t kCount = has_y ? 9 : 8;
  static_assert(sizeof in / sizeof in[0] <= kBatch, "the slot holds them");
  uint32_t* offsets = st.meta;
  uint32_t* lengths = st.meta + kBatch;
  uint8_t* records = reinterpret_cast<uint8_t*>(st.meta + 2 * kBatch);
  for (uint32_t i = 0; i < kCount; i++) {
    FUZZ_CHECK(kGap + in[i].len + 7 + kGap <= kRoom, "the datagram fits its room");
    // The datagram ends on an 8-byte boundary, poisoned bytes right after it.
    size_t end = (i * kRoom + kGap + in[i].len + 7) / 8 * 8;
    size_t off = end - in[i].len;
    ASAN_UNPOISON_MEMORY_REGION(st.data + off, in[i].len);
    if (in[i].len > 0) std::memcpy(st.data + off, in[i].bytes, in[i].len);
    offsets[i] = static_cast<uint32_t>(off);
    lengths[i] = static_cast<uint32_t>(in[i].len);
    std::memcpy(records + i * peertap::kUdpAddrBytes, in[i].addr->data(), peertap::kUdpAddrBytes);
  }
  uint32_t orig_offsets[kBatch];
  std::memcpy(orig_offsets, offsets, sizeof orig_offsets);

  uint32_t kept = st.cache->FromUdp(st.config, st.data, st.meta, kCount);

  FUZZ_CHECK(kept <= kCount, "kept at most the count");
  bool left[kBatch] = {};
  uint32_t next = 0;
  for (uint32_t k = 0; k < kept; k++) {
    uint32_t i = next;
    while (i < kCount && orig_offsets[i] != offsets[k]) i++;
    FUZZ_CHECK(i < kCount, "a datagram left in the slot is one of those given, in their order");
    FUZZ_CHECK(lengths[k] == in[i].len, "a datagram left in the slot keeps its length");
    FUZZ_CHECK(in[i].len == 0 || std::memcmp(st.data + offsets[k], in[i].bytes, in[i].len) == 0,
               "a datagram left in the slot is byte for byte as it arrived");
    FUZZ_CHECK(std::memcmp(records + k * peertap::kUdpAddrBytes, in[i].addr->data(),
                           peertap::kUdpAddrBytes) == 0,
               "a datagram left in the slot keeps its source address record");
    left[i] = true;
    next = i + 1;
  }
  FUZZ_CHECK(!left[0] && !left[1], "valid DATA for an entry is carried (C1, C2)");
  FUZZ_CHECK(!left[2], "a DATA with a forwarding entry is forwarded (F)");
  FUZZ_CHECK(left[4], "a frame for another MAC is handed up (P)");
  FUZZ_CHECK(left[6], "a datagram from an address no path has is handed up");
  FUZZ_CHECK(left[7], "the same datagram twice from one address: the second is handed up");

  // The next hop: DATA for R9 with the sealed payloads of the slot's
  // datagrams that were not left, in order, F first.
  uint64_t forwarded = st.cache->stats().forwarded.load() - forwarded_before;
  FUZZ_CHECK(forwarded >= 1, "F is forwarded");
  uint32_t from = 0;
  for (uint64_t k = 0; k < forwarded; k++) {
    uint8_t d[4096];
    ssize_t n = fuzzsetup::RecvWait(st.fwd_rx, d, sizeof d);
    FUZZ_CHECK(n > 0, "the next hop gets every datagram forwarded");
    size_t dl = static_cast<size_t>(n);
    flow::DataHeader h;
    uint8_t hop = 0, vft[16];
    FUZZ_CHECK(flow::ParseData(d, dl, &h) == flow::DataDrop::kNone && h.receiver_index == kR9 &&
                   h.counter == k,
               "a forwarded datagram is DATA for the next hop, its counters 0, 1, 2...");
    FUZZ_CHECK(flow::OpenData(st.fwd_open.get(), d, dl, &hop, vft) == flow::DataDrop::kNone &&
                   std::memcmp(vft, kVft3, 16) == 0,
               "a forwarded datagram opens under the next hop's key with its VFT");
    uint32_t i = from;
    while (i < kCount && (left[i] || in[i].len != dl ||
                          std::memcmp(in[i].bytes + flow::kDataOverhead, d + flow::kDataOverhead,
                                      dl - flow::kDataOverhead) != 0)) {
      i++;
    }
    FUZZ_CHECK(i < kCount, "a forwarded datagram carries the sealed payload of one the slot held, in order");
    uint8_t in_hop = 0, in_vft[16];
    FUZZ_CHECK(flow::OpenData(st.hop_open.get(), in[i].bytes, in[i].len, &in_hop, in_vft) ==
                       flow::DataDrop::kNone &&
                   hop + 1 == in_hop,
               "a forwarded datagram's hop limit is one less");
    from = i + 1;
  }
  uint8_t extra[16];
  FUZZ_CHECK(recv(st.fwd_rx, extra, sizeof extra, 0) < 0, "the next hop gets no datagram more");

  // The pipe: C2's frame behind a zeroed virtio-net header, then at most
  // one frame per X carried.
  uint8_t buf[4096];
  uint32_t frames = 0;
  ssize_t n = 0, last_n = 0;
  uint8_t last[4096];
  for (;;) {
    n = read(st.pipe_r, buf, sizeof buf);
    if (n < 0) break;
    std::memcpy(last, buf, static_cast<size_t>(n));
    last_n = n;
    if (frames == 0) {
      FUZZ_CHECK(static_cast<size_t>(n) == st.c2_frame.size() &&
                     std::memcmp(buf, st.c2_frame.data(), st.c2_frame.size()) == 0,
                 "the pipe gets C2's frame behind ten zero bytes");
    } else {
      FUZZ_CHECK(n >= 10 + 14, "a frame behind its virtio-net header");
    }
    frames++;
  }
  uint32_t carried_x = (left[3] ? 0 : 1) + (left[5] ? 0 : 1);
  const bool carried_y = has_y && !left[8];
  FUZZ_CHECK(frames >= 1 && frames <= 1 + carried_x + (carried_y ? 1 : 0),
             "the pipe gets C2 and at most each X and Y carried");
  if (carried_y) {
    st.y_carried++;
    FUZZ_CHECK(frames >= 2, "Y carried reaches the pipe");
    FUZZ_CHECK(x[0] == 0 || x[0] == 3, "only kinds 0 and 3 are carried");
    fuzz::Bytes want;
    if (x[0] == 0) want.assign(10, 0);
    want.insert(want.end(), x + 1, x + len);
    FUZZ_CHECK(static_cast<size_t>(last_n) == want.size() &&
                   std::memcmp(last, want.data(), want.size()) == 0,
               "Y reaches the pipe as its plaintext says (kind 0: a zero header; kind 3: its own)");
    FUZZ_CHECK(want.size() >= 24 && std::memcmp(want.data() + 10, kM2, 6) == 0,
               "Y carried is a frame to the port's MAC");
    FUZZ_CHECK(want[1] == 0 && (want[0] & ~3) == 0, "Y carried asks for no GSO, known flags only");
  }

  for (uint32_t i = 0; i < kCount; i++) ASAN_POISON_MEMORY_REGION(st.data + orig_offsets[i], in[i].len);
  return 0;
}
