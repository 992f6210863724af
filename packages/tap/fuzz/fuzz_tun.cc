// Fuzz target `tun`: the flow cache's TUN devices (docs/spec/18-fast-path.md
// §18.4.9), both ways, with entries installed as src/flow-napi.cc installs
// them:
//   device 0: a TUN without a virtio-net header, written to a packet-mode
//     pipe; routes 10.1.2.3 and fd00::1 -> M1, whose send entry goes over
//     hop R1 (sender key 1); VFT V1 delivers to it (port MAC M1).
//   device 1: a TUN with a virtio-net header, written to a second pipe;
//     routes 10.1.2.4 and fd00::2 -> M2, over hop R2 (sender key 3); VFT V2
//     delivers to it (port MAC M2, TCP punted).
// The datagram socket and every path's address are UDP sockets on
// 127.0.0.1 (loopback only). Each input X is run four ways:
//   FromDevice, device 0: P4 (IPv4 to 10.1.2.3: carried), X, a packet to
//     a group (handed up), X
//   FromDevice, device 1: a zero header ‖ P6 (IPv6 to fd00::2: carried),
//     X, a header asking for GSO ‖ P6 (handed up), X
//   FromUdp: C1 (an IPv4 frame to M1: carried to device 0), Y1 (valid DATA
//     for V1 whose plaintext is X), C2 (to M2: carried to device 1), Y2
//     (valid DATA for V2 whose plaintext is X)
// each frame or datagram alone between poisoned bytes.
//
// Checks, beyond memory safety:
// - what is left in a slot is a subsequence of what it held, in order,
//   byte for byte; P4, P6, C1 and C2 are carried, the group packet and the
//   GSO header are not;
// - every datagram sent opens (hop key, sender key, counters 0, 1, 2...)
//   to what this file computes on its own from the packet carried: kind 0
//   or 3 (a header asking for a checksum), the header with hdr_len and
//   csum_start 14 more, the route's MAC, the port's MAC, the type of the
//   IP version, and the packet;
// - what a pipe gets is C's packet, then, if Y was carried, Y's frame less
//   its Ethernet header, behind a header (kind 3: its own, 14 less; kind 0:
//   zeros) on device 1; and a Y carried was a frame to the port's MAC of
//   IPv4 or IPv6 that is neither neighbour discovery nor DHCP to port 68,
//   and on device 1 not TCP.
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
using peertap::HopEntry;
using peertap::KidEntry;
using peertap::ReaderConfig;
using peertap::RecvEntry;
using peertap::SendEntry;
using namespace fuzzkeys;
using fuzzsetup::BoundUdp;
using fuzzsetup::NewCtx;

constexpr uint32_t kR1 = 0x11111111, kR2 = 0x22222222;
constexpr uint8_t kM1[6] = {0x02, 0, 0, 0, 0, 0x01};
constexpr uint8_t kM2[6] = {0x02, 0, 0, 0, 0, 0x02};
constexpr uint8_t kSrc[6] = {0x02, 0, 0, 0, 0, 0x09};
constexpr uint8_t kHopLimit = 7;
constexpr uint32_t kBatch = 4;
constexpr size_t kRoom = 2240;
constexpr size_t kGap = 64;
// Cells: counters (one word), windows (68), stats blocks (8, 2-aligned).
constexpr uint32_t kCtr1 = 0, kHop1 = 1, kCtr2 = 2, kHop2 = 3, kHopWin1 = 8, kHopWin2 = 76,
                   kKidWin1 = 144, kKidWin2 = 212, kStats = 280, kWords = 320;

// One device's side: its path, sender key and port MAC.
struct Side {
  uint32_t index;
  const uint8_t* hop_key;
  const uint8_t* vft;
  const uint8_t* key;
  const uint8_t* hp;
  const uint8_t* salt;
  const uint8_t* kid;
  const uint8_t* mac;
  uint32_t ctr, hop, hop_win, kid_win;
};
const Side kSide[2] = {
    {kR1, kHopKey, kVft, kSenderKey, kHpKey, kSalt, kKid, kM1, kCtr1, kHop1, kHopWin1, kKidWin1},
    {kR2, kHopKey2, kVft2, kSenderKey3, kHpKey2, kSalt3, kKid3, kM2, kCtr2, kHop2, kHopWin2,
     kKidWin2},
};

struct State {
  Arena* arena = nullptr;
  FlowCache* cache = nullptr;
  int tx = -1, rx = -1;  // the datagram socket; where the paths lead
  int pipe_r[2] = {-1, -1}, pipe_w[2] = {-1, -1};
  uint32_t dev[2] = {0, 0};
  std::array<uint8_t, peertap::kUdpAddrBytes> tx_addr{};
  ReaderConfig dev_config{}, udp_config{};
  uint8_t* data = nullptr;
  uint32_t meta[kBatch * (2 + peertap::kUdpAddrWords)];
  fuzz::Bytes p4, group, p6v, p6v_gso;
  peertap::Cipher open_hop[2], hp[2], open[2];
  uint64_t y_carried = 0;
};

State& S() {
  static State s;
  return s;
}

uint16_t U16le(const uint8_t* p) { return static_cast<uint16_t>(p[0] | p[1] << 8); }

// An IP packet of `version` to `dst` (4 or 16 bytes) with `body` random bytes.
fuzz::Bytes Packet(int version, const uint8_t* dst, uint8_t proto, size_t body, uint64_t* s) {
  size_t head = version == 4 ? 20 : 40;
  fuzz::Bytes p = fuzz::Random(s, head + body);
  if (version == 4) {
    p[0] = 0x45;
    p[9] = proto;
    std::memcpy(p.data() + 16, dst, 4);
  } else {
    p[0] = 0x60;
    p[6] = proto;
    std::memcpy(p.data() + 24, dst, 16);
  }
  return p;
}

fuzz::Bytes Vnet(const fuzz::Bytes& p, uint8_t flags = 0, uint8_t gso = 0) {
  fuzz::Bytes v(10, 0);
  v[0] = flags;
  v[1] = gso;
  v.insert(v.end(), p.begin(), p.end());
  return v;
}

// A UDP socket on 127.0.0.1 and its address record (udp.h).
int Bound(std::array<uint8_t, peertap::kUdpAddrBytes>* addr) {
  uint16_t port;
  int fd = fuzzsetup::BoundUdp(&port);
  *addr = {};
  (*addr)[0] = 4;
  (*addr)[2] = static_cast<uint8_t>(port >> 8);
  (*addr)[3] = static_cast<uint8_t>(port);
  (*addr)[4] = 127;
  (*addr)[7] = 1;
  return fd;
}

void Setup() {
  State& st = S();
  st.arena = new Arena();
  st.arena->mem = static_cast<int32_t*>(std::calloc(kWords, sizeof(int32_t)));
  st.arena->words = kWords;
  st.cache = new FlowCache(st.arena);
  FlowCache& c = *st.cache;
  std::array<uint8_t, peertap::kUdpAddrBytes> rx_addr;
  st.tx = Bound(&st.tx_addr);
  st.rx = Bound(&rx_addr);
  c.SetUdp(st.tx, 4, false);
  for (int d = 0; d < 2; d++) {
    int fds[2];
    // A packet-mode pipe: each write(2) one read(2), as a TUN's packets.
    if (pipe2(fds, O_DIRECT | O_NONBLOCK | O_CLOEXEC) != 0) {
      std::perror("peertap-fuzz: pipe2");
      std::exit(2);
    }
    st.pipe_r[d] = fds[0];
    st.pipe_w[d] = fds[1];
    st.dev[d] = c.AddDevice(fds[1], d == 1, true);
    const Side& sd = kSide[d];
    SendEntry e;
    e.device = st.dev[d];
    std::memcpy(e.src.data(), sd.mac, 6);
    std::memcpy(e.vft.data(), sd.vft, 16);
    e.hop_limit = kHopLimit;
    e.gcm = NewCtx(peertap::Aes256::Use::kSeal, sd.key);
    e.hp = NewCtx(peertap::Aes256::Use::kBlocks, sd.hp);
    std::memcpy(e.salt.data(), sd.salt, 12);
    std::memcpy(e.kid.data(), sd.kid, 8);
    e.counter_cell = sd.ctr;
    e.hop_gcm = NewCtx(peertap::Aes256::Use::kSeal, sd.hop_key);
    e.receiver_index = sd.index;
    e.hop_counter_cell = sd.hop;
    e.addr = rx_addr;
    e.payload_max = d == 0 ? 1472 : 2048;
    e.vlan_stats = kStats;
    e.link_stats = kStats + 8;
    // Each device's routes lead to its own port's MAC: a send entry of its own.
    FUZZ_CHECK(c.InstallSend(FlowCache::SendKey(st.dev[d], sd.mac), std::move(e)), "InstallSend");
    std::array<uint8_t, 16> a4{}, a6{};
    a4[10] = a4[11] = 0xff;
    const uint8_t v4[4] = {10, 1, 2, static_cast<uint8_t>(3 + d)};
    std::memcpy(a4.data() + 12, v4, 4);
    a6[0] = 0xfd;
    a6[15] = static_cast<uint8_t>(1 + d);
    std::array<uint8_t, 6> m;
    std::memcpy(m.data(), sd.mac, 6);
    FUZZ_CHECK(c.InstallTunRoute(st.dev[d], a4, m) && c.InstallTunRoute(st.dev[d], a6, m),
               "InstallTunRoute");
    HopEntry h;
    h.gcm = NewCtx(peertap::Aes256::Use::kOpen, sd.hop_key);
    h.window_cell = sd.hop_win;
    h.addr = st.tx_addr;
    h.link_stats = kStats + 16;
    c.InstallHop(sd.index, std::move(h));
    RecvEntry r;
    r.device = st.dev[d];
    std::memcpy(r.mac.data(), sd.mac, 6);
    r.hp = NewCtx(peertap::Aes256::Use::kBlocks, sd.hp);
    r.punt_tcp = d == 1;
    r.vlan_stats = kStats + 24;
    std::array<uint8_t, 16> vft;
    std::memcpy(vft.data(), sd.vft, 16);
    FUZZ_CHECK(c.InstallRecv(vft, std::move(r)), "InstallRecv");
    KidEntry k;
    k.gcm = NewCtx(peertap::Aes256::Use::kOpen, sd.key);
    std::memcpy(k.salt.data(), sd.salt, 12);
    k.window_cell = sd.kid_win;
    uint64_t id = 0;
    for (int i = 0; i < 8; i++) id = id << 8 | sd.kid[i];
    FUZZ_CHECK(c.InstallKid(vft, id, std::move(k)), "InstallKid");
    st.open_hop[d] = NewCtx(peertap::Aes256::Use::kOpen, sd.hop_key, peertap::Aes256::Impl::kEvp);
    st.hp[d] = NewCtx(peertap::Aes256::Use::kBlocks, sd.hp, peertap::Aes256::Impl::kEvp);
    st.open[d] = NewCtx(peertap::Aes256::Use::kOpen, sd.key, peertap::Aes256::Impl::kEvp);
  }
  st.dev_config.slots = 1;
  st.dev_config.batch_frames = kBatch;
  st.dev_config.slot_bytes = kBatch * kRoom;
  st.dev_config.frame_max = 2048;
  st.dev_config.kind = ReaderConfig::kDevice;
  st.udp_config = st.dev_config;
  st.udp_config.kind = ReaderConfig::kUdp;
  st.data = static_cast<uint8_t*>(std::malloc(kBatch * kRoom));
  ASAN_POISON_MEMORY_REGION(st.data, kBatch * kRoom);
  uint64_t s = 0x7e11;
  const uint8_t to4[4] = {10, 1, 2, 3};
  const uint8_t to6[16] = {0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2};
  const uint8_t group[4] = {224, 0, 0, 1};
  st.p4 = Packet(4, to4, 17, 40, &s);
  st.group = Packet(4, group, 17, 40, &s);
  st.p6v = Vnet(Packet(6, to6, 17, 40, &s));
  st.p6v_gso = Vnet(Packet(6, to6, 6, 1400, &s), 1, 1);
  std::atexit([] {
    const peertap::FlowStats& f = S().cache->stats();
    std::fprintf(stderr,
                 "peertap-fuzz tun: FromDevice sent %llu (P4, P6: two an input), handed up %llu "
                 "miss, %llu other, %llu size; FromUdp carried %llu (C1, C2: two an input), "
                 "handed up %llu other; Y carried %llu times\n",
                 static_cast<unsigned long long>(f.sent.load()),
                 static_cast<unsigned long long>(f.send_miss.load()),
                 static_cast<unsigned long long>(f.send_other.load()),
                 static_cast<unsigned long long>(f.send_size.load()),
                 static_cast<unsigned long long>(f.received.load()),
                 static_cast<unsigned long long>(f.recv_other.load()),
                 static_cast<unsigned long long>(S().y_carried));
  });
}

struct In {
  const uint8_t* bytes;
  size_t len;
};

// Lays `in` out in the slot (each between poisoned bytes); with `addr`,
// the datagrams' source records. Returns the offsets as laid out.
void Lay(const In* in, uint32_t count, uint32_t* orig, const uint8_t* addr) {
  State& st = S();
  uint8_t* records = reinterpret_cast<uint8_t*>(st.meta + 2 * kBatch);
  for (uint32_t i = 0; i < count; i++) {
    FUZZ_CHECK(kGap + in[i].len + 7 + kGap <= kRoom, "it fits its room");
    size_t end = (i * kRoom + kGap + in[i].len + 7) / 8 * 8;
    size_t off = end - in[i].len;
    ASAN_UNPOISON_MEMORY_REGION(st.data + off, in[i].len);
    if (in[i].len > 0) std::memcpy(st.data + off, in[i].bytes, in[i].len);
    st.meta[i] = orig[i] = static_cast<uint32_t>(off);
    st.meta[kBatch + i] = static_cast<uint32_t>(in[i].len);
    if (addr != nullptr) std::memcpy(records + i * peertap::kUdpAddrBytes, addr, peertap::kUdpAddrBytes);
  }
}

// Which of `in` were left, checking that they are a subsequence, byte for byte.
void Left(const In* in, uint32_t count, const uint32_t* orig, uint32_t kept, bool* left) {
  State& st = S();
  FUZZ_CHECK(kept <= count, "kept at most the count");
  uint32_t next = 0;
  for (uint32_t k = 0; k < kept; k++) {
    uint32_t i = next;
    while (i < count && orig[i] != st.meta[k]) i++;
    FUZZ_CHECK(i < count, "what is left in the slot is what it held, in order");
    FUZZ_CHECK(st.meta[kBatch + k] == in[i].len, "what is left keeps its length");
    FUZZ_CHECK(in[i].len == 0 || std::memcmp(st.data + st.meta[k], in[i].bytes, in[i].len) == 0,
               "what is left is byte for byte as it was");
    left[i] = true;
    next = i + 1;
  }
  for (uint32_t i = 0; i < count; i++) ASAN_POISON_MEMORY_REGION(st.data + orig[i], in[i].len);
}

// The plaintext a TUN packet read from device `d` must be sealed as, or
// empty if it must not be carried (computed here from §18.4.9 alone).
fuzz::Bytes Expected(int d, const In& p) {
  const uint8_t* ip = p.bytes;
  size_t n = p.len;
  fuzz::Bytes h;
  uint8_t kind = 0;
  if (d == 1) {
    if (n < 10 || ip[1] != 0) return {};
    if (ip[0] != 0) {
      kind = 3;
      h.assign(ip, ip + 10);
      int hdr_len = U16le(h.data() + 2), start = U16le(h.data() + 6);
      if (hdr_len != 0) hdr_len += 14;
      if ((h[0] & 1) != 0) start += 14;
      if (hdr_len > 0xffff || start > 0xffff) return {};
      h[2] = static_cast<uint8_t>(hdr_len);
      h[3] = static_cast<uint8_t>(hdr_len >> 8);
      h[6] = static_cast<uint8_t>(start);
      h[7] = static_cast<uint8_t>(start >> 8);
    }
    ip += 10;
    n -= 10;
  }
  uint8_t want[16] = {};
  uint16_t type;
  if (n >= 20 && ip[0] >> 4 == 4) {
    if (!(ip[16] == 10 && ip[17] == 1 && ip[18] == 2 && ip[19] == 3 + d)) return {};
    type = 0x0800;
    if (d == 1 && ip[9] == 6) return {};
  } else if (n >= 40 && ip[0] >> 4 == 6) {
    want[0] = 0xfd;
    want[15] = static_cast<uint8_t>(1 + d);
    if (std::memcmp(ip + 24, want, 16) != 0) return {};
    type = 0x86dd;
    if (d == 1 && ip[6] == 6) return {};
  } else {
    return {};
  }
  size_t body = h.size() + 14 + n;
  if (flow::kDataOverhead + 28 + 1 + body > (d == 0 ? 1472u : 2048u) || 1 + body > 2048) return {};
  fuzz::Bytes pt{kind};
  pt.insert(pt.end(), h.begin(), h.end());
  pt.insert(pt.end(), kSide[d].mac, kSide[d].mac + 6);
  pt.insert(pt.end(), kSide[d].mac, kSide[d].mac + 6);
  pt.push_back(static_cast<uint8_t>(type >> 8));
  pt.push_back(static_cast<uint8_t>(type));
  pt.insert(pt.end(), ip, ip + n);
  return pt;
}

// FromDevice over one slot of device `d`; checks what went up and what was sent.
void DeviceSlot(int d, const In* in) {
  State& st = S();
  uint32_t orig[kBatch];
  Lay(in, 4, orig, nullptr);
  uint32_t kept = st.cache->FromDevice(st.dev[d], st.dev_config, st.data, st.meta, 4);
  bool left[kBatch] = {};
  Left(in, 4, orig, kept, left);
  FUZZ_CHECK(!left[0], "a packet to a routed address is carried (P4, P6)");
  FUZZ_CHECK(left[2], "a packet to a group, or a header asking for GSO, is handed up");
  uint32_t counter = 0;
  for (uint32_t i = 0; i < 4; i++) {
    fuzz::Bytes want = Expected(d, in[i]);
    FUZZ_CHECK(left[i] == want.empty(), "carried exactly when the packet has a route and fits");
    if (left[i]) continue;
    uint8_t dg[4096];
    ssize_t n = fuzzsetup::RecvWait(st.rx, dg, sizeof dg);
    FUZZ_CHECK(n > 0, "a datagram for every packet carried");
    size_t len = static_cast<size_t>(n);
    flow::DataHeader hd;
    uint8_t hop = 0, vft[16];
    FUZZ_CHECK(flow::ParseData(dg, len, &hd) == flow::DataDrop::kNone &&
                   hd.receiver_index == kSide[d].index && hd.counter == counter &&
                   flow::OpenData(st.open_hop[d].get(), dg, len, &hop, vft) == flow::DataDrop::kNone &&
                   hop == kHopLimit && std::memcmp(vft, kSide[d].vft, 16) == 0,
               "DATA of the device's path, hop counters 0, 1, 2..., its hop limit and VFT");
    const uint8_t* sealed = dg + flow::kDataOverhead;
    size_t sealed_len = len - flow::kDataOverhead;
    flow::PayloadHeader ph;
    FUZZ_CHECK(flow::ParsePayload(st.hp[d].get(), sealed, sealed_len, &ph) == flow::PayloadDrop::kNone &&
                   ph.counter == counter,
               "the sealed payload parses, frame counters 0, 1, 2...");
    fuzz::Bytes pt(sealed_len - ph.length - flow::kTagBytes);
    FUZZ_CHECK(flow::OpenPayload(st.open[d].get(), kSide[d].salt, kSide[d].vft, ph, sealed,
                                 sealed_len, pt.data()) == flow::PayloadDrop::kNone,
               "the sealed payload opens under the sender key");
    FUZZ_CHECK(pt == want, "the plaintext is the packet in its Ethernet frame (§18.4.9)");
    counter++;
  }
  uint8_t dg[16];
  FUZZ_CHECK(recv(st.rx, dg, sizeof dg, 0) < 0, "no datagram more than the packets carried");
}

// DATA for side `d` carrying the sealed plaintext `pt`, under the given counter.
fuzz::Bytes Datagram(int d, uint32_t counter, const fuzz::Bytes& pt) {
  const Side& sd = kSide[d];
  peertap::Cipher gcm = NewCtx(peertap::Aes256::Use::kSeal, sd.key, peertap::Aes256::Impl::kEvp);
  peertap::Cipher hp = NewCtx(peertap::Aes256::Use::kBlocks, sd.hp, peertap::Aes256::Impl::kEvp);
  peertap::Cipher hop = NewCtx(peertap::Aes256::Use::kSeal, sd.hop_key, peertap::Aes256::Impl::kEvp);
  fuzz::Bytes out(flow::kDataOverhead + pt.size() + flow::SealedOverhead(counter));
  size_t sealed = flow::SealPayload({gcm.get(), hp.get(), sd.salt, sd.kid}, sd.vft, counter,
                                    pt.data(), pt.size(), out.data() + flow::kDataOverhead);
  FUZZ_CHECK(sealed > 0, "SealPayload");
  FUZZ_CHECK(flow::SealData(hop.get(), sd.index, counter, 8, sd.vft, out.data() + flow::kDataOverhead,
                            sealed, out.data()) == out.size(),
             "SealData");
  return out;
}

// What device `d`'s pipe must get for the plaintext `pt` if it is carried,
// or empty if it may not be (computed here from §18.4.9 and 17-tun-l2.md §17.6.6).
fuzz::Bytes Written(int d, const fuzz::Bytes& pt) {
  if (pt.empty() || (pt[0] != 0 && pt[0] != 3) || (pt[0] == 3 && d == 0)) return {};
  size_t at = pt[0] == 3 ? 11 : 1;
  if (pt.size() < at + 14) return {};
  const uint8_t* eth = pt.data() + at;
  size_t n = pt.size() - at - 14;
  const uint8_t* ip = eth + 14;
  if (std::memcmp(eth, kSide[d].mac, 6) != 0) return {};
  uint16_t type = static_cast<uint16_t>(eth[12] << 8 | eth[13]);
  if (type == 0x0800) {
    if (n < 20 || ip[0] >> 4 != 4) return {};
    size_t ihl = size_t{ip[0] & 15u} * 4;
    if (ip[9] == 17 && (ihl < 20 || ihl + 8 > n || (ip[ihl + 2] << 8 | ip[ihl + 3]) == 68)) return {};
    if (d == 1 && ip[9] == 6) return {};
  } else if (type == 0x86dd) {
    if (n < 40 || ip[0] >> 4 != 6) return {};
    if (ip[6] == 58 && (n < 44 || (ip[40] >= 133 && ip[40] <= 137))) return {};
    if (d == 1 && ip[6] == 6) return {};
  } else {
    return {};
  }
  fuzz::Bytes w;
  if (d == 1) {
    w.assign(10, 0);
    if (pt[0] == 3) {
      // The header the switch would accept (kind 3, no GSO), 14 less.
      const uint8_t* h = pt.data() + 1;
      if (h[1] != 0) return {};
      w.assign(h, h + 10);
      int hdr_len = U16le(h + 2), start = U16le(h + 6);
      if (hdr_len != 0) hdr_len -= 14;
      if ((h[0] & 1) != 0) start -= 14;
      if (hdr_len < 0 || start < 0) return {};
      w[2] = static_cast<uint8_t>(hdr_len);
      w[3] = static_cast<uint8_t>(hdr_len >> 8);
      w[6] = static_cast<uint8_t>(start);
      w[7] = static_cast<uint8_t>(start >> 8);
    }
  }
  w.insert(w.end(), ip, ip + n);
  return w;
}

fuzz::Bytes ReadPipe(int d) {
  uint8_t buf[4096];
  ssize_t n = read(S().pipe_r[d], buf, sizeof buf);
  return n <= 0 ? fuzz::Bytes{} : fuzz::Bytes(buf, buf + n);
}

}  // namespace

const char* const fuzz::kTargetName = "tun";

void fuzz::FuzzSeeds(std::vector<fuzz::Bytes>* seeds) {
  Setup();
  uint64_t s = 0x5eed;
  auto& v = *seeds;
  const uint8_t to4[4] = {10, 1, 2, 3};
  const uint8_t to4b[4] = {10, 1, 2, 4};
  const uint8_t to6[16] = {0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
  const uint8_t nowhere[4] = {10, 1, 2, 9};
  // Packets (FromDevice): routed both ways, too large for hop R1, no
  // route, a header asking for a checksum before a routed packet.
  v.push_back(Packet(4, to4, 17, 0, &s));
  v.push_back(Packet(6, to6, 58, 8, &s));
  v.push_back(Packet(4, to4, 17, 1472 - 42 - 28 - 1 - 14 - 20 + 1, &s));
  v.push_back(Packet(4, nowhere, 17, 40, &s));
  fuzz::Bytes csum = Vnet(Packet(4, to4b, 17, 40, &s), 1);
  csum[6] = 20;  // csum_start: the UDP header
  csum[8] = 6;   // csum_offset: its checksum
  v.push_back(csum);
  // Plaintexts (FromUdp): kind 0 ‖ IPv4 UDP to M1, ND to M2, DHCP to M1,
  // ARP to M1; kind 3 ‖ a header asking for a checksum ‖ IPv4 UDP to M2.
  auto plain = [&](uint8_t kind, const fuzz::Bytes* h, const uint8_t* mac, uint16_t type,
                   const fuzz::Bytes& payload) {
    fuzz::Bytes pt{kind};
    if (h != nullptr) pt.insert(pt.end(), h->begin(), h->end());
    pt.insert(pt.end(), mac, mac + 6);
    pt.insert(pt.end(), kSrc, kSrc + 6);
    pt.push_back(static_cast<uint8_t>(type >> 8));
    pt.push_back(static_cast<uint8_t>(type));
    pt.insert(pt.end(), payload.begin(), payload.end());
    return pt;
  };
  v.push_back(plain(0, nullptr, kM1, 0x0800, Packet(4, to4, 17, 40, &s)));
  fuzz::Bytes nd = Packet(6, to6, 58, 24, &s);
  nd[40] = 135;
  v.push_back(plain(0, nullptr, kM2, 0x86dd, nd));
  fuzz::Bytes dhcp = Packet(4, to4, 17, 40, &s);
  dhcp[20 + 2] = 0;
  dhcp[20 + 3] = 68;
  v.push_back(plain(0, nullptr, kM1, 0x0800, dhcp));
  v.push_back(plain(0, nullptr, kM1, 0x0806, fuzz::Random(&s, 28)));
  fuzz::Bytes h(10, 0);
  h[0] = 1;
  h[6] = 34;
  h[8] = 6;
  v.push_back(plain(3, &h, kM2, 0x0800, Packet(4, to4b, 17, 40, &s)));
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* x, size_t len) {
  State& st = S();
  int32_t* cells = st.arena->mem;
  for (uint32_t c : {kCtr1, kHop1, kCtr2, kHop2}) cells[c] = 0;
  for (uint32_t w : {kHopWin1, kHopWin2, kKidWin1, kKidWin2}) flow::WindowReset(cells + w);

  // The device side.
  const In slot0[] = {{st.p4.data(), st.p4.size()}, {x, len}, {st.group.data(), st.group.size()},
                      {x, len}};
  DeviceSlot(0, slot0);
  const In slot1[] = {{st.p6v.data(), st.p6v.size()}, {x, len},
                      {st.p6v_gso.data(), st.p6v_gso.size()}, {x, len}};
  DeviceSlot(1, slot1);

  // The socket side: C to each device, and X (a plaintext has at least its kind) as the
  // plaintext of valid DATA to each.
  if (len < 1 || len > 2048 - flow::kDataOverhead - 28) return 0;
  fuzz::Bytes pt(x, x + len);
  fuzz::Bytes c_pt[2];
  for (int d = 0; d < 2; d++) {
    uint64_t s = 0xc0 + static_cast<uint64_t>(d);
    const uint8_t to[4] = {10, 1, 2, static_cast<uint8_t>(3 + d)};
    fuzz::Bytes p = Packet(4, to, 17, 40, &s);
    c_pt[d] = {0};
    if (d == 1) c_pt[d].insert(c_pt[d].end(), 10, 0);
    c_pt[d].insert(c_pt[d].end(), kSide[d].mac, kSide[d].mac + 6);
    c_pt[d].insert(c_pt[d].end(), kSrc, kSrc + 6);
    c_pt[d].push_back(0x08);
    c_pt[d].push_back(0x00);
    c_pt[d].insert(c_pt[d].end(), p.begin(), p.end());
    if (d == 1) c_pt[d][0] = 3;  // a zero header asks for nothing: kind 3 all the same
  }
  fuzz::Bytes dgs[4] = {Datagram(0, 0, c_pt[0]), Datagram(0, 1, pt), Datagram(1, 0, c_pt[1]),
                        Datagram(1, 1, pt)};
  const In in[] = {{dgs[0].data(), dgs[0].size()}, {dgs[1].data(), dgs[1].size()},
                   {dgs[2].data(), dgs[2].size()}, {dgs[3].data(), dgs[3].size()}};
  uint32_t orig[kBatch];
  Lay(in, 4, orig, st.tx_addr.data());
  uint32_t kept = st.cache->FromUdp(st.udp_config, st.data, st.meta, 4);
  bool left[kBatch] = {};
  Left(in, 4, orig, kept, left);
  FUZZ_CHECK(!left[0] && !left[2], "valid DATA of an IPv4 frame to a TUN port is carried (C1, C2)");
  for (int d = 0; d < 2; d++) {
    FUZZ_CHECK(ReadPipe(d) == Written(d, c_pt[d]), "the device gets C's packet first");
    fuzz::Bytes want = Written(d, pt);
    fuzz::Bytes got = ReadPipe(d);
    if (!left[1 + 2 * d]) {
      st.y_carried++;
      FUZZ_CHECK(!want.empty(), "Y is carried only if a TUN port passes it to its host");
      FUZZ_CHECK(got == want, "the device gets Y's packet, its header 14 less (§18.4.9)");
    } else {
      FUZZ_CHECK(got.empty(), "nothing more is written");
    }
    FUZZ_CHECK(ReadPipe(d).empty(), "nothing more is written");
  }
  return 0;
}
