// The fast path's flow cache (flow-cache.h).
#include "flow-cache.h"

#include <sys/random.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <mutex>

#include "flow-core.h"
#include "udp.h"

namespace peertap {
namespace {

using flow::DataDrop;
using flow::PayloadDrop;
using flow::Replay;

constexpr uint32_t kFrameCounterLimit = 1u << 23;         // 03-keys.md §4
constexpr uint32_t kHopCounterLimit = 0x7fffffff;         // 13-datagram-link.md §3
constexpr size_t kVnetBytes = 10;                         // virtio_net_hdr
constexpr size_t kSealedOverheadMax = 9 + 3 + 16;         // counters below 2^23
constexpr size_t kDatagramMax = 2048;                     // the UDP reader's datagramMax

bool IsTcp(const uint8_t* f, size_t len) {
  uint16_t type = static_cast<uint16_t>(f[12] << 8 | f[13]);
  if (type == 0x0800) return len >= 14 + 20 && f[14 + 9] == 6;
  if (type == 0x86dd) return len >= 14 + 40 && f[14 + 6] == 6;
  return false;
}

uint16_t U16be(const uint8_t* p) { return static_cast<uint16_t>(p[0] << 8 | p[1]); }
uint16_t U16le(const uint8_t* p) { return static_cast<uint16_t>(p[0] | p[1] << 8); }

// A virtio-net header ‖ Ethernet frame (kind 3) that asks for no
// segmentation holds up, by the checks of @peertap/switch's vnet.ts
// (checkVnetFrame, the GSO-none half: 10-switch.md §10.6), which the kernel's
// virtio_net_hdr_to_skb makes too. Anything else (GSO, a bad header) goes
// up, where the switch segments or drops and counts it.
bool VnetFrameOk(const uint8_t* f, size_t n) {
  constexpr uint8_t kNeedsCsum = 1, kKnownFlags = 1 | 2;
  if (n < kVnetBytes + 14) return false;
  uint8_t flags = f[0];
  if ((flags & ~kKnownFlags) != 0 || f[1] != 0) return false;  // flags known, GSO none
  size_t len = n - kVnetBytes;
  size_t hdr_len = U16le(f + 2), csum_start = U16le(f + 6), csum_offset = U16le(f + 8);
  if (hdr_len > len) return false;
  if ((flags & kNeedsCsum) == 0) return true;
  if (csum_start < 14 || csum_start + csum_offset + 2 > len) return false;
  if (csum_offset != 16 && csum_offset != 6) return false;
  const uint8_t* e = f + kVnetBytes;
  size_t l3 = 14;
  uint16_t type = U16be(e + 12);
  if (type == 0x8100 || type == 0x88a8) {
    if (len < 18) return true;
    type = U16be(e + 16);
    l3 += 4;
  }
  size_t l4, ip_end;
  uint8_t proto;
  if (type == 0x0800) {
    if (l3 + 20 > len || e[l3] >> 4 != 4) return false;
    size_t ihl = size_t{e[l3] & 0x0fu} * 4;
    if (ihl < 20 || l3 + ihl > len) return false;
    size_t total = U16be(e + l3 + 2);
    if (total < ihl || l3 + total > len) return false;
    l4 = l3 + ihl;
    proto = e[l3 + 9];
    ip_end = l3 + total;
  } else if (type == 0x86dd) {
    if (l3 + 40 > len || e[l3] >> 4 != 6) return false;
    ip_end = l3 + 40 + U16be(e + l3 + 4);
    if (ip_end > len) return false;
    l4 = l3 + 40;
    proto = e[l3 + 6];
  } else {
    return true;  // a partial checksum over something else: finished where the header says
  }
  if (csum_start + csum_offset + 2 > ip_end) return false;
  if (csum_start == l4) {
    if (proto == 6 && csum_offset != 16) return false;
    if (proto == 17 && csum_offset != 6) return false;
  }
  return true;
}

// What a TUN port passes to its host (17-tun-l2.md §17.6.6), decided on
// the opened Ethernet frame: IPv4 or IPv6 with a whole fixed header, and
// neither neighbour discovery (ICMPv6 133 to 137, or an ICMPv6 message too
// short to tell) nor UDP to the DHCP client's port 68 (or a UDP header too
// short to tell). ARP, other types and everything else go up to the port.
bool TunPasses(const uint8_t* f, size_t len) {
  const uint8_t* ip = f + 14;
  size_t n = len - 14;
  uint16_t type = U16be(f + 12);
  if (type == 0x0800) {
    if (n < 20 || ip[0] >> 4 != 4) return false;
    size_t ihl = size_t{ip[0] & 15u} * 4;
    if (ip[9] == 17 && (ihl < 20 || ihl + 8 > n || U16be(ip + ihl + 2) == 68)) return false;
    return true;
  }
  if (type == 0x86dd) {
    if (n < 40 || ip[0] >> 4 != 6) return false;
    if (ip[6] == 58 && (n < 44 || (ip[40] >= 133 && ip[40] <= 137))) return false;
    return true;
  }
  return false;
}

// A virtio-net header's offsets moved by `delta` bytes (17-tun-l2.md
// §17.8): hdr_len if it is not 0, csum_start if NEEDS_CSUM is set; a
// field that would leave 0 to 65535 is false (the packet goes up).
bool ShiftVnet(uint8_t* h, int delta) {
  int hdr_len = U16le(h + 2), csum_start = U16le(h + 6);
  if (hdr_len != 0) hdr_len += delta;
  if ((h[0] & 1) != 0) csum_start += delta;
  if (hdr_len < 0 || csum_start < 0 || hdr_len > 0xffff || csum_start > 0xffff) return false;
  h[2] = static_cast<uint8_t>(hdr_len);
  h[3] = static_cast<uint8_t>(hdr_len >> 8);
  h[6] = static_cast<uint8_t>(csum_start);
  h[7] = static_cast<uint8_t>(csum_start >> 8);
  return true;
}

}  // namespace

DuplicateTags::DuplicateTags() : slots_(kBuckets * kWays, 0) {
  uint64_t seeds[2] = {0, 0};
  // A peer that cannot see the seeds cannot aim tags at one bucket.
  if (getrandom(seeds, sizeof seeds, 0) != static_cast<ssize_t>(sizeof seeds)) {
    seeds[0] = reinterpret_cast<uintptr_t>(this) * 0x9e3779b97f4a7c15ull;
    seeds[1] = static_cast<uint64_t>(getpid()) * 0xc2b2ae3d27d4eb4full;
  }
  seed0_ = seeds[0];
  seed1_ = seeds[1];
}

bool DuplicateTags::SeenOrAdd(const uint8_t* tag) {
  uint64_t a, b;
  std::memcpy(&a, tag, 8);
  std::memcpy(&b, tag + 8, 8);
  uint64_t h = (a ^ seed0_) * 0xff51afd7ed558ccdull;
  h ^= h >> 33;
  h += (b ^ seed1_) * 0xc4ceb9fe1a85ec53ull;
  h ^= h >> 29;
  h *= 0x9e3779b97f4a7c15ull;
  h ^= h >> 32;
  uint64_t fp = h | 1;  // zero marks an empty slot
  uint64_t* bucket = slots_.data() + (h >> 20) % kBuckets * kWays;
  for (size_t i = 0; i < kWays; i++) {
    if (bucket[i] == fp) return true;
  }
  std::memmove(bucket + 1, bucket, (kWays - 1) * sizeof(uint64_t));
  bucket[0] = fp;
  return false;
}

namespace {

// `n` (at most 4) AES-GCM keystream blocks for a 96-bit IV, from the first
// block of text on (counters IV ‖ 2, IV ‖ 3, ...: NIST SP 800-38D §7.1).
bool Keystream(Aes256* ecb, const uint8_t* iv, int n, uint8_t* out) {
  uint8_t blocks[64];
  for (int i = 0; i < n; i++) {
    std::memcpy(blocks + 16 * i, iv, 12);
    uint32_t c = static_cast<uint32_t>(2 + i);
    blocks[16 * i + 12] = static_cast<uint8_t>(c >> 24);
    blocks[16 * i + 13] = static_cast<uint8_t>(c >> 16);
    blocks[16 * i + 14] = static_cast<uint8_t>(c >> 8);
    blocks[16 * i + 15] = static_cast<uint8_t>(c);
  }
  return ecb->Blocks(blocks, static_cast<size_t>(n), out);
}

}  // namespace

bool FlowCache::PuntsTcp(HopEntry& hop, const uint8_t* d, size_t len, uint32_t counter) {
  // 1. The VFT, from the hop plaintext (hop limit ‖ VFT at d + 9).
  uint8_t iv[12] = {0, 0, 0, 0, 0, 0, 0, 0, static_cast<uint8_t>(counter >> 24),
                    static_cast<uint8_t>(counter >> 16), static_cast<uint8_t>(counter >> 8),
                    static_cast<uint8_t>(counter)};
  uint8_t ks[64];
  if (!hop.ecb || !Keystream(hop.ecb.get(), iv, 2, ks)) return false;
  std::array<uint8_t, 16> vft;
  for (size_t i = 0; i < 16; i++) vft[i] = d[flow::kDataHeaderBytes + 1 + i] ^ ks[1 + i];
  auto rit = recv_.find(vft);
  if (rit == recv_.end() || !rit->second.punt_tcp) return false;
  // 2. The frame's first bytes, from the sealed payload's ciphertext.
  const uint8_t* sealed = d + flow::kDataOverhead;
  size_t sealed_len = len - flow::kDataOverhead;
  flow::PayloadHeader ph;
  if (flow::ParsePayload(rit->second.hp.get(), sealed, sealed_len, &ph) != PayloadDrop::kNone) {
    return false;
  }
  auto kit = rit->second.kids.find(ph.kid);
  if (kit == rit->second.kids.end() || !kit->second.ecb) return false;
  size_t text = sealed_len - ph.length - flow::kTagBytes;
  if (text < 48) return false;  // too short for a TCP header behind a virtio-net one
  uint8_t nonce[12];
  std::memcpy(nonce, kit->second.salt.data(), 12);
  for (int i = 0; i < 7; i++) nonce[11 - i] ^= static_cast<uint8_t>(ph.counter >> (8 * i));
  if (!Keystream(kit->second.ecb.get(), nonce, 3, ks)) return false;
  uint8_t pt[48];
  for (size_t i = 0; i < 48; i++) pt[i] = sealed[ph.length + i] ^ ks[i];
  size_t eth = pt[0] == 3 ? 1 + kVnetBytes : pt[0] == 0 ? 1 : 0;
  return eth != 0 && IsTcp(pt + eth, text - eth);
}

uint32_t FlowCache::SendQueued(uint32_t n, const uint8_t* const* datas, const size_t* lens,
                               const uint8_t* addrs) {
  // Per thread: a kernel that refuses GSO turns it off for this thread's sends.
  thread_local UdpGso gso;
  return udp_send(udp_fd_, udp_family_, n, datas, lens, addrs,
                  udp_gso_ && gso.enabled ? &gso : nullptr)
      .sent;
}

uint64_t FlowCache::SendKey(uint32_t device, const uint8_t* mac) {
  uint64_t k = uint64_t{device & 0xffff} << 48;
  for (int i = 0; i < 6; i++) k |= uint64_t{mac[i]} << (8 * (5 - i));
  return k;
}

void FlowCache::Stat(uint32_t block, StatWord w, uint64_t v) {
  auto* p = reinterpret_cast<int64_t*>(cells_ + block) + w;
  __atomic_fetch_add(p, static_cast<int64_t>(v), __ATOMIC_RELAXED);
}

void FlowCache::SetUdp(int fd, int family, bool gso) {
  std::unique_lock<WriterFirstLock> lk(mu_);
  udp_fd_ = fd;
  udp_family_ = family;
  udp_gso_ = gso;
  if (fd < 0) {
    send_.clear();
    hops_.clear();
    fwd_.clear();
  }
}

uint32_t FlowCache::AddDevice(int fd, bool vnet, bool tun) {
  std::unique_lock<WriterFirstLock> lk(mu_);
  for (uint32_t i = 0; i < devices_.size(); i++) {
    if (devices_[i].fd < 0) {
      devices_[i] = {fd, vnet, tun, nullptr};
      return i;
    }
  }
  devices_.push_back({fd, vnet, tun, nullptr});
  return static_cast<uint32_t>(devices_.size() - 1);
}

void FlowCache::RemoveDevice(uint32_t device) {
  std::unique_lock<WriterFirstLock> lk(mu_);
  if (device >= devices_.size()) return;
  ReturnLentLocked(devices_[device].source);
  devices_[device].fd = -1;
  devices_[device].source = nullptr;
  for (auto it = send_.begin(); it != send_.end();) {
    it = it->second.device == device ? send_.erase(it) : std::next(it);
  }
  for (auto it = recv_.begin(); it != recv_.end();) {
    it = it->second.device == device ? recv_.erase(it) : std::next(it);
  }
  for (auto it = tun_routes_.begin(); it != tun_routes_.end();) {
    it = it->first.device == device ? tun_routes_.erase(it) : std::next(it);
  }
}

void FlowCache::SetSource(uint32_t device, DeviceReader* source) {
  std::unique_lock<WriterFirstLock> lk(mu_);
  if (device < devices_.size() && devices_[device].fd >= 0) devices_[device].source = source;
}

void FlowCache::ClearSource(uint32_t device, DeviceReader* source) {
  std::unique_lock<WriterFirstLock> lk(mu_);
  if (device >= devices_.size() || devices_[device].source != source) return;
  ReturnLentLocked(source);
  devices_[device].source = nullptr;
}

void FlowCache::ReturnLentLocked(DeviceReader* source) {
  // A lent device goes back to its own thread, and the socket's reader is
  // woken to stop waiting on the fd before the caller may close it.
  // GiveBack and Wake take no lock.
  if (source == nullptr || !source->Lent()) return;
  source->GiveBack();
  if (socket_source_ != nullptr) socket_source_->Wake();
}

void FlowCache::SwapSocketSource(DeviceReader* from, DeviceReader* to, bool give_back) {
  std::vector<DeviceReader*> sources;
  {
    std::unique_lock<WriterFirstLock> lk(mu_);
    if (from != nullptr && socket_source_ != from) return;
    socket_source_ = to;
    for (Device& d : devices_) {
      if (d.fd >= 0 && d.source != nullptr) {
        d.source->Ref();
        sources.push_back(d.source);
      }
    }
  }
  // Outside the lock: readers look again at what to wait on.
  for (DeviceReader* d : sources) {
    if (give_back) {
      d->GiveBack();
    } else {
      d->Wake();
    }
    d->Unref();
  }
}

void FlowCache::SetSocketSource(DeviceReader* socket) { SwapSocketSource(nullptr, socket, false); }

void FlowCache::ClearSocketSource(DeviceReader* socket) { SwapSocketSource(socket, nullptr, true); }

bool FlowCache::CanLend() {
  std::shared_lock<WriterFirstLock> lk(mu_);
  return socket_source_ != nullptr;
}

void FlowCache::Lend() {
  std::shared_lock<WriterFirstLock> lk(mu_);
  if (socket_source_ != nullptr) socket_source_->Wake();
}

void FlowCache::LentDevices(std::vector<std::pair<int, DeviceReader*>>* out) {
  std::shared_lock<WriterFirstLock> lk(mu_);
  for (Device& d : devices_) {
    if (d.fd >= 0 && d.source != nullptr && d.source->Lent()) {
      d.source->Ref();
      out->push_back({d.fd, d.source});
    }
  }
}

bool FlowCache::InstallSend(uint64_t key, SendEntry&& e) {
  std::unique_lock<WriterFirstLock> lk(mu_);
  // A device slot that is open (not removed), and a payload bound the
  // thread's buffers hold: the entry's own checks never trust the caller.
  if (e.device >= devices_.size() || devices_[e.device].fd < 0) return false;
  if (e.payload_max > kDatagramMax) e.payload_max = kDatagramMax;
  send_[key] = std::move(e);
  return true;
}

void FlowCache::InstallHop(uint32_t receiver_index, HopEntry&& e) {
  std::unique_lock<WriterFirstLock> lk(mu_);
  hops_[receiver_index] = std::move(e);
}

bool FlowCache::InstallRecv(const std::array<uint8_t, 16>& vft, RecvEntry&& e) {
  std::unique_lock<WriterFirstLock> lk(mu_);
  if (e.device >= devices_.size() || devices_[e.device].fd < 0) return false;
  // Every sender under a VFT shares its entry: one already there keeps its
  // KIDs (until a clear, one VFT stands for one port, MAC and epoch).
  if (recv_.count(vft) != 0) return true;
  recv_[vft] = std::move(e);
  return true;
}

bool FlowCache::InstallKid(const std::array<uint8_t, 16>& vft, uint64_t kid, KidEntry&& e) {
  std::unique_lock<WriterFirstLock> lk(mu_);
  auto it = recv_.find(vft);
  if (it == recv_.end()) return false;
  it->second.kids[kid] = std::move(e);
  return true;
}

void FlowCache::InstallForward(uint32_t in_index, const std::array<uint8_t, 16>& vft,
                               ForwardEntry&& e) {
  std::unique_lock<WriterFirstLock> lk(mu_);
  if (e.payload_max > kDatagramMax) e.payload_max = kDatagramMax;
  fwd_[ForwardKey{in_index, vft}] = std::move(e);
}

size_t FlowCache::RemoveForwards(const std::array<uint8_t, 16>& vft) {
  std::unique_lock<WriterFirstLock> lk(mu_);
  size_t removed = 0;
  for (auto it = fwd_.begin(); it != fwd_.end();) {
    if (it->first.vft == vft) {
      it = fwd_.erase(it);
      removed++;
    } else {
      ++it;
    }
  }
  return removed;
}

bool FlowCache::InstallTunRoute(uint32_t device, const std::array<uint8_t, 16>& addr,
                                const std::array<uint8_t, 6>& mac) {
  std::unique_lock<WriterFirstLock> lk(mu_);
  if (device >= devices_.size() || devices_[device].fd < 0 || !devices_[device].tun) return false;
  TunKey key{device, addr};
  auto it = tun_routes_.find(key);
  if (it != tun_routes_.end()) {
    it->second = mac;
    return true;
  }
  if (tun_routes_.size() >= kTunRoutesMax) return false;
  tun_routes_.emplace(key, mac);
  return true;
}

void FlowCache::Clear() {
  std::unique_lock<WriterFirstLock> lk(mu_);
  send_.clear();
  tun_routes_.clear();
  hops_.clear();
  recv_.clear();
  fwd_.clear();
}

size_t FlowCache::Entries() {
  std::shared_lock<WriterFirstLock> lk(mu_);
  size_t kids = 0;
  for (const auto& r : recv_) kids += r.second.kids.size();
  return send_.size() + tun_routes_.size() + hops_.size() + recv_.size() + kids + fwd_.size();
}

uint32_t FlowCache::FromDevice(uint32_t device, const ReaderConfig& c, uint8_t* data,
                               uint32_t* meta, uint32_t count) {
  uint32_t* offsets = meta;
  uint32_t* lengths = meta + c.batch_frames;
  std::shared_lock<WriterFirstLock> lk(mu_);
  if (udp_fd_ < 0 || send_.empty() || device >= devices_.size()) return count;
  const bool vnet = devices_[device].vnet;
  const bool tun = devices_[device].tun;
  // Per thread: each device has one reader thread, which alone uses these.
  thread_local std::vector<uint8_t> out;
  thread_local std::vector<const uint8_t*> datas;
  thread_local std::vector<size_t> lens;
  thread_local std::vector<uint8_t> addrs;
  thread_local std::vector<const SendEntry*> entries;
  thread_local std::vector<uint8_t> plain(kDatagramMax);
  if (out.size() < size_t{count} * kDatagramMax) out.resize(size_t{count} * kDatagramMax);
  datas.resize(count);
  lens.resize(count);
  addrs.resize(size_t{count} * kUdpAddrBytes);
  entries.resize(count);
  uint32_t kept = 0, n = 0;
  for (uint32_t i = 0; i < count; i++) {
    const uint8_t* f = data + offsets[i];
    size_t len = lengths[i];
    bool handled = false;
    do {
      // The plaintext's kind: 0, the Ethernet frame alone; 3, the device's
      // virtio-net header ‖ frame, for a header that asks for a checksum but
      // no segmentation (as the switch seals it). GSO frames go up.
      uint8_t kind = 0;
      const uint8_t* vh = nullptr;  // the device's virtio-net header, for kind 3
      if (vnet) {
        if (len < kVnetBytes || f[1] != 0) {
          stats_.send_other.fetch_add(1, std::memory_order_relaxed);
          break;
        }
        if (f[0] != 0) {  // a header that asks for nothing goes as kind 0
          kind = 3;
          vh = f;
        }
        f += kVnetBytes;
        len -= kVnetBytes;
      }
      const SendEntry* ep = nullptr;
      const uint8_t* dst = nullptr;  // a TUN packet's destination MAC, from its route
      uint16_t type = 0;
      if (tun) {
        // An IP packet (§18.4.9): its destination's route gives the MAC.
        std::array<uint8_t, 16> addr{};
        uint8_t proto;
        if (len >= 20 && f[0] >> 4 == 4) {
          addr[10] = addr[11] = 0xff;
          std::memcpy(addr.data() + 12, f + 16, 4);
          type = 0x0800;
          proto = f[9];
        } else if (len >= 40 && f[0] >> 4 == 6) {
          std::memcpy(addr.data(), f + 24, 16);
          type = 0x86dd;
          proto = f[6];
        } else {
          stats_.send_other.fetch_add(1, std::memory_order_relaxed);
          break;
        }
        auto rt = tun_routes_.find(TunKey{device, addr});
        auto it = rt == tun_routes_.end() ? send_.end() : send_.find(SendKey(device, rt->second.data()));
        if (it == send_.end()) {
          stats_.send_miss.fetch_add(1, std::memory_order_relaxed);
          break;
        }
        // As from a TAP with offloads: TCP goes up, so its small segments
        // do not overtake its large ones.
        if (vnet && proto == 6) {
          stats_.send_other.fetch_add(1, std::memory_order_relaxed);
          break;
        }
        ep = &it->second;
        dst = rt->second.data();
      } else {
        if (len < 14 || (f[0] & 1) != 0) {  // runts and group frames go up
          stats_.send_other.fetch_add(1, std::memory_order_relaxed);
          break;
        }
        auto it = send_.find(SendKey(device, f));
        if (it == send_.end()) {
          stats_.send_miss.fetch_add(1, std::memory_order_relaxed);
          break;
        }
        // From the port's own MAC only; and from a device with offloads no
        // TCP: its large segments (GSO) go up, and its small ones must not
        // overtake them.
        if (std::memcmp(f + 6, it->second.src.data(), 6) != 0 || (vnet && IsTcp(f, len))) {
          stats_.send_other.fetch_add(1, std::memory_order_relaxed);
          break;
        }
        ep = &it->second;
      }
      const SendEntry& e = *ep;
      // The body: [virtio-net header ‖] Ethernet frame; a TUN packet gains
      // its Ethernet header (14 bytes).
      size_t body_len = (kind == 3 ? kVnetBytes : 0) + (tun ? 14 : 0) + len;
      if (flow::kDataOverhead + kSealedOverheadMax + 1 + body_len > e.payload_max ||
          1 + body_len > plain.size()) {
        stats_.send_size.fetch_add(1, std::memory_order_relaxed);
        break;
      }
      uint8_t* p = plain.data();
      *p++ = kind;
      if (kind == 3) {
        std::memcpy(p, vh, kVnetBytes);
        // A TUN packet's offsets count from its IP header: 14 more on the VLAN.
        if (tun && !ShiftVnet(p, 14)) {
          stats_.send_other.fetch_add(1, std::memory_order_relaxed);
          break;
        }
        p += kVnetBytes;
      }
      if (tun) {
        std::memcpy(p, dst, 6);
        std::memcpy(p + 6, e.src.data(), 6);
        p[12] = static_cast<uint8_t>(type >> 8);
        p[13] = static_cast<uint8_t>(type);
        p += 14;
      }
      std::memcpy(p, f, len);
      int64_t ctr = flow::CounterTake(cell(e.counter_cell), kFrameCounterLimit);
      int64_t hop = ctr < 0 ? -1 : flow::CounterTake(cell(e.hop_counter_cell), kHopCounterLimit);
      if (hop < 0) {
        // A spent key or path: JavaScript moves to the next and clears us.
        stats_.send_spent.fetch_add(1, std::memory_order_relaxed);
        break;
      }
      uint8_t* o = out.data() + size_t{n} * kDatagramMax;
      size_t sealed = flow::SealPayload({e.gcm.get(), e.hp.get(), e.salt.data(), e.kid.data()},
                                        e.vft.data(), static_cast<uint64_t>(ctr), plain.data(),
                                        1 + body_len, o + flow::kDataOverhead);
      size_t dgram = sealed == 0 ? 0
                                 : flow::SealData(e.hop_gcm.get(), e.receiver_index,
                                                  static_cast<uint32_t>(hop), e.hop_limit,
                                                  e.vft.data(), o + flow::kDataOverhead, sealed, o);
      if (dgram == 0) {
        // OpenSSL failed: the counters are spent, the frame is lost.
        stats_.send_failed.fetch_add(1, std::memory_order_relaxed);
        handled = true;
        break;
      }
      datas[n] = o;
      lens[n] = dgram;
      std::memcpy(addrs.data() + size_t{n} * kUdpAddrBytes, e.addr.data(), kUdpAddrBytes);
      entries[n] = &e;
      n++;
      handled = true;
    } while (false);
    if (!handled) {
      offsets[kept] = offsets[i];
      lengths[kept] = lengths[i];
      kept++;
    }
  }
  if (n > 0) {
    uint32_t sent = SendQueued(n, datas.data(), lens.data(), addrs.data());
    stats_.sent.fetch_add(sent, std::memory_order_relaxed);
    stats_.send_failed.fetch_add(n - sent, std::memory_order_relaxed);
    for (uint32_t i = 0; i < n; i++) {
      Stat(entries[i]->vlan_stats, kSentFrames, 1);
      Stat(entries[i]->vlan_stats, kSentBytes, lens[i] - flow::kDataOverhead);
      Stat(entries[i]->link_stats, kSentFrames, 1);
      Stat(entries[i]->link_stats, kSentBytes, lens[i]);
    }
  }
  return kept;
}

uint32_t FlowCache::FromUdp(const ReaderConfig& c, uint8_t* data, uint32_t* meta, uint32_t count,
                            std::vector<DeviceReader*>* written) {
  uint32_t* offsets = meta;
  uint32_t* lengths = meta + c.batch_frames;
  uint8_t* records = reinterpret_cast<uint8_t*>(meta + 2 * size_t{c.batch_frames});
  std::shared_lock<WriterFirstLock> lk(mu_);
  if (hops_.empty() || (recv_.empty() && fwd_.empty())) return count;
  // The plaintext lands at 16, so that the 10-byte virtio-net header a
  // device with offloads takes fits before the frame (at 7, the frame at 17).
  thread_local std::vector<uint8_t> scratch(16 + kDatagramMax);
  // Datagrams a relay forwards, sent together after the batch.
  thread_local std::vector<uint8_t> out;
  thread_local std::vector<const uint8_t*> datas;
  thread_local std::vector<size_t> lens;
  thread_local std::vector<uint8_t> addrs;
  thread_local std::vector<uint32_t> stats_of;
  if (!fwd_.empty() && out.size() < size_t{count} * kDatagramMax) out.resize(size_t{count} * kDatagramMax);
  datas.resize(count);
  lens.resize(count);
  addrs.resize(size_t{count} * kUdpAddrBytes);
  stats_of.resize(count);
  uint32_t n = 0;
  uint32_t kept = 0;
  for (uint32_t i = 0; i < count; i++) {
    const uint8_t* d = data + offsets[i];
    size_t len = lengths[i];
    const uint8_t* rec = records + size_t{i} * kUdpAddrBytes;
    bool handled = false;
    do {
      flow::DataHeader h;
      if (len > kDatagramMax || flow::ParseData(d, len, &h) != DataDrop::kNone) {
        stats_.recv_other.fetch_add(1, std::memory_order_relaxed);
        break;
      }
      auto hit = hops_.find(h.receiver_index);
      if (hit == hops_.end()) {
        stats_.recv_miss.fetch_add(1, std::memory_order_relaxed);
        break;
      }
      HopEntry& hop = hit->second;
      // From another address than the path's: JavaScript decides (roaming).
      if (std::memcmp(rec, hop.addr.data(), kUdpAddrBytes) != 0) {
        stats_.recv_other.fetch_add(1, std::memory_order_relaxed);
        break;
      }
      // TCP for a port whose switch coalesces it goes up before any AEAD
      // (a peek; the verified frame is checked again below).
      if (!recv_.empty() && PuntsTcp(hop, d, len, h.counter)) {
        stats_.recv_other.fetch_add(1, std::memory_order_relaxed);
        break;
      }
      uint8_t hop_limit = 0;
      std::array<uint8_t, 16> vft;
      if (flow::WindowCheck(cell(hop.window_cell), h.counter) != Replay::kFresh ||
          flow::OpenData(hop.gcm.get(), d, len, &hop_limit, vft.data()) != DataDrop::kNone) {
        stats_.recv_checks.fetch_add(1, std::memory_order_relaxed);
        break;
      }
      auto rit = recv_.find(vft);
      if (rit == recv_.end()) {
        // A relay's: forwarded to the one neighbour that receives it.
        auto fit = fwd_.find(ForwardKey{h.receiver_index, vft});
        if (fit == fwd_.end()) {
          stats_.recv_miss.fetch_add(1, std::memory_order_relaxed);
          break;
        }
        ForwardEntry& fe = fit->second;
        size_t sealed_len = len - flow::kDataOverhead;
        // Hop limit 1 or less (the table drops it), or too large for the next path: up.
        if (hop_limit <= 1 || flow::kDataOverhead + sealed_len > fe.payload_max) {
          stats_.forward_other.fetch_add(1, std::memory_order_relaxed);
          break;
        }
        // The next hop's counter first: a spent one (JavaScript offers a fresh
        // path and clears us) leaves the datagram untouched, to go up.
        int64_t c = flow::CounterTake(cell(fe.hop_counter_cell), kHopCounterLimit);
        if (c < 0) {
          stats_.forward_other.fetch_add(1, std::memory_order_relaxed);
          break;
        }
        if (flow::WindowAccept(cell(hop.window_cell), h.counter) != Replay::kFresh) {
          stats_.recv_raced.fetch_add(1, std::memory_order_relaxed);
          break;
        }
        handled = true;
        Stat(hop.link_stats, kRecvFrames, 1);
        Stat(hop.link_stats, kRecvBytes, len);
        // A frame forwarded before (a loop while a spanning tree converges): dropped, counted.
        if (duplicates_.SeenOrAdd(d + len - flow::kTagBytes)) {
          stats_.forward_duplicate.fetch_add(1, std::memory_order_relaxed);
          break;
        }
        uint8_t* o = out.data() + size_t{n} * kDatagramMax;
        size_t dl = flow::SealData(fe.hop_gcm.get(), fe.receiver_index, static_cast<uint32_t>(c),
                                   static_cast<uint8_t>(hop_limit - 1), vft.data(),
                                   d + flow::kDataOverhead, sealed_len, o);
        if (dl == 0) {
          // OpenSSL failed: lost.
          stats_.forward_failed.fetch_add(1, std::memory_order_relaxed);
          break;
        }
        datas[n] = o;
        lens[n] = dl;
        std::memcpy(addrs.data() + size_t{n} * kUdpAddrBytes, fe.addr.data(), kUdpAddrBytes);
        stats_of[n] = fe.link_stats;
        n++;
        break;
      }
      RecvEntry& re = rit->second;
      const Device& dev = devices_[re.device];
      const uint8_t* sealed = d + flow::kDataOverhead;
      size_t sealed_len = len - flow::kDataOverhead;
      flow::PayloadHeader ph;
      if (flow::ParsePayload(re.hp.get(), sealed, sealed_len, &ph) != PayloadDrop::kNone) {
        stats_.recv_checks.fetch_add(1, std::memory_order_relaxed);
        break;
      }
      auto kit = re.kids.find(ph.kid);
      if (kit == re.kids.end()) {
        stats_.recv_miss.fetch_add(1, std::memory_order_relaxed);
        break;
      }
      KidEntry& ke = kit->second;
      uint8_t* pt = scratch.data() + 16;
      size_t pt_len = sealed_len - ph.length - flow::kTagBytes;
      if (flow::WindowCheck(cell(ke.window_cell), static_cast<uint32_t>(ph.counter)) !=
              Replay::kFresh ||
          flow::OpenPayload(ke.gcm.get(), ke.salt.data(), vft.data(), ph, sealed, sealed_len,
                            pt) != PayloadDrop::kNone) {
        stats_.recv_checks.fetch_add(1, std::memory_order_relaxed);
        break;
      }
      // Only a whole Ethernet frame for this port's MAC is ours: kind 0, or
      // kind 3 (virtio-net header ‖ frame, no GSO, checked) for a device
      // that takes the header. Fragments, control, GSO, runts and TCP
      // (coalesced by the switch) go up to JavaScript.
      const uint8_t kind = pt[0];
      const uint8_t* frame = pt + 1;
      size_t frame_len = pt_len - 1;
      const uint8_t* eth = frame;
      size_t eth_len = frame_len;
      if (kind == 3) {
        if (!dev.vnet || !VnetFrameOk(frame, frame_len)) {
          stats_.recv_other.fetch_add(1, std::memory_order_relaxed);
          break;
        }
        eth += kVnetBytes;
        eth_len -= kVnetBytes;
      }
      if ((kind != 0 && kind != 3) || eth_len < 14 || std::memcmp(eth, re.mac.data(), 6) != 0 ||
          (re.punt_tcp && IsTcp(eth, eth_len)) || dev.fd < 0 ||
          (dev.tun && !TunPasses(eth, eth_len))) {
        stats_.recv_other.fetch_add(1, std::memory_order_relaxed);
        break;
      }
      // A TUN device's header counts from the IP packet: 14 less (zero for kind 0).
      uint8_t tun_vnet[kVnetBytes] = {};
      if (dev.tun && kind == 3) {
        std::memcpy(tun_vnet, frame, kVnetBytes);
        if (!ShiftVnet(tun_vnet, -14)) {  // offsets inside the Ethernet header
          stats_.recv_other.fetch_add(1, std::memory_order_relaxed);
          break;
        }
      }
      // Accepted by the hop window first: from here the datagram is ours.
      if (flow::WindowAccept(cell(hop.window_cell), h.counter) != Replay::kFresh) {
        // JavaScript took the same counter meanwhile: it counts the replay.
        stats_.recv_raced.fetch_add(1, std::memory_order_relaxed);
        break;
      }
      handled = true;
      Stat(hop.link_stats, kRecvFrames, 1);
      Stat(hop.link_stats, kRecvBytes, len);
      if (flow::WindowAccept(cell(ke.window_cell), static_cast<uint32_t>(ph.counter)) !=
          Replay::kFresh) {
        stats_.recv_raced.fetch_add(1, std::memory_order_relaxed);  // a replay, dropped
        break;
      }
      // Kind 3 carries the header the device takes; kind 0 gets a zero one.
      const uint8_t* w = frame;
      size_t wlen = frame_len;
      if (dev.tun) {
        // A TUN device takes the IP packet: [virtio-net header ‖] packet,
        // the header over the Ethernet header's last 10 bytes (§18.4.9).
        uint8_t* ip = const_cast<uint8_t*>(eth) + 14;
        w = ip;
        wlen = eth_len - 14;
        if (dev.vnet) {
          w -= kVnetBytes;
          wlen += kVnetBytes;
          std::memcpy(const_cast<uint8_t*>(w), tun_vnet, kVnetBytes);
        }
      } else if (dev.vnet && kind == 0) {
        w -= kVnetBytes;
        wlen += kVnetBytes;
        std::memset(const_cast<uint8_t*>(w), 0, kVnetBytes);
      }
      ssize_t r;
      do {
        r = write(dev.fd, w, wlen);
      } while (r < 0 && errno == EINTR);
      if (r < 0) {
        stats_.write_failed.fetch_add(1, std::memory_order_relaxed);
        break;
      }
      stats_.received.fetch_add(1, std::memory_order_relaxed);
      if (written != nullptr && dev.source != nullptr &&
          std::find(written->begin(), written->end(), dev.source) == written->end()) {
        dev.source->Ref();  // dropped by the caller, after ReadThrough, outside our lock
        written->push_back(dev.source);
      }
      Stat(re.vlan_stats, kRecvFrames, 1);
      Stat(re.vlan_stats, kRecvBytes, eth_len);
    } while (false);
    if (!handled) {
      offsets[kept] = offsets[i];
      lengths[kept] = lengths[i];
      if (kept != i) {
        std::memmove(records + size_t{kept} * kUdpAddrBytes, rec, kUdpAddrBytes);
      }
      kept++;
    }
  }
  if (n > 0) {
    uint32_t sent = SendQueued(n, datas.data(), lens.data(), addrs.data());
    stats_.forwarded.fetch_add(sent, std::memory_order_relaxed);
    stats_.forward_failed.fetch_add(n - sent, std::memory_order_relaxed);
    for (uint32_t i = 0; i < n; i++) {
      Stat(stats_of[i], kSentFrames, 1);
      Stat(stats_of[i], kSentBytes, lens[i]);
    }
  }
  return kept;
}

}  // namespace peertap
