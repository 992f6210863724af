// The fast path's flow cache (docs/spec/18-fast-path.md): entries that
// TypeScript installs for established unicast flows, which the reader
// threads then carry without waking JavaScript:
//
//   device reader: frame -> (device, destination MAC) entry -> seal
//     (sealed payload, then DATA) -> sendmmsg on the datagram socket
//   UDP reader: DATA -> receiver index entry (hop key) -> VFT entry ->
//     KID entry (sender key) -> open -> write(2) to the device
//
// Anything else, and anything an entry cannot carry or a check refuses,
// stays in the batch and goes up to JavaScript exactly as it arrived: the
// TypeScript switch and datagram link remain the reference, decide every
// protocol question, count every drop, and install and clear the entries.
// Counters and replay windows are shared cells (flow-core.h), so both
// paths draw nonces from one sequence and accept each counter once.
//
// Threads: each device's reader uses only its own send entries; the UDP
// reader uses the receive entries; both hold the tables' lock shared for a
// batch, and the main thread holds it exclusively to change them. Each
// entry owns its keys (cipher.h; an EVP context is not safe across threads).
#pragma once

#include <pthread.h>

#include <array>
#include <cstdlib>
#include <atomic>
#include <cstdint>
#include <memory>
#include <shared_mutex>
#include <unordered_map>
#include <vector>

#include "cipher.h"
#include "reader.h"

namespace peertap {

// A readers-writer lock that lets a waiting writer in ahead of new
// readers: the reader threads hold it shared for a batch each, back to
// back under load, and the main thread's installs and clears (exclusive)
// must not starve behind them (glibc's default, std::shared_mutex's,
// prefers readers). Meets the SharedMutex requirements std::shared_lock
// and std::unique_lock use.
class WriterFirstLock {
 public:
  WriterFirstLock() {
    pthread_rwlockattr_t attr;
    pthread_rwlockattr_init(&attr);
    pthread_rwlockattr_setkind_np(&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
    pthread_rwlock_init(&lock_, &attr);
    pthread_rwlockattr_destroy(&attr);
  }
  ~WriterFirstLock() { pthread_rwlock_destroy(&lock_); }
  WriterFirstLock(const WriterFirstLock&) = delete;
  WriterFirstLock& operator=(const WriterFirstLock&) = delete;
  void lock() { pthread_rwlock_wrlock(&lock_); }
  void unlock() { pthread_rwlock_unlock(&lock_); }
  void lock_shared() { pthread_rwlock_rdlock(&lock_); }
  void unlock_shared() { pthread_rwlock_unlock(&lock_); }

 private:
  pthread_rwlock_t lock_;
};

// The cell arena (flow-core.h's counters and windows, and the stats
// blocks): native memory that JavaScript sees as an Int32Array, alive while
// that array, the arena's handle or a flow cache holds it.
struct Arena {
  static constexpr uint32_t kTag = 0x61726e61;  // 'arna': a handle of another kind is refused
  const uint32_t tag = kTag;
  std::atomic<int> refs{1};
  int32_t* mem = nullptr;
  size_t words = 0;
  void Ref() { refs.fetch_add(1); }
  void Unref() {
    if (refs.fetch_sub(1) == 1) {
      std::free(mem);
      delete this;
    }
  }
};

// Frames and bytes, sent and received, in a stats block of the cell arena:
// four int64 words (8-byte aligned) that TypeScript reads into its counters.
enum StatWord { kSentFrames = 0, kSentBytes = 1, kRecvFrames = 2, kRecvBytes = 3 };

struct SendEntry {
  uint32_t device = 0;
  // Only frames from this source MAC (the port's own): a frame from a host
  // bridged behind the port goes up, so the switch keeps learning it.
  std::array<uint8_t, 6> src{};
  std::array<uint8_t, 16> vft{};
  uint8_t hop_limit = 0;
  // The VLAN epoch's sender key.
  Cipher gcm, hp;
  std::array<uint8_t, 12> salt{};
  std::array<uint8_t, 8> kid{};
  uint32_t counter_cell = 0;
  // The datagram path to the one neighbour that subscribes.
  Cipher hop_gcm;
  uint32_t receiver_index = 0;
  uint32_t hop_counter_cell = 0;
  std::array<uint8_t, 20> addr{};  // address record (udp.h)
  uint32_t payload_max = 0;        // largest UDP payload the path carries
  uint32_t vlan_stats = 0, link_stats = 0;
};

struct KidEntry {
  Cipher gcm;  // decrypt context with the sender key
  Cipher ecb;  // AES-256-ECB with the same key: the keystream of a peek (FlowCache::PuntsTcp)
  std::array<uint8_t, 12> salt{};
  uint32_t window_cell = 0;
};

struct RecvEntry {
  uint32_t device = 0;
  std::array<uint8_t, 6> mac{};  // the port's MAC: the frame's destination
  Cipher hp;
  bool punt_tcp = false;  // TCP goes up, for the switch to coalesce
  uint32_t vlan_stats = 0;
  std::unordered_map<uint64_t, KidEntry> kids;
};

struct HopEntry {
  Cipher gcm;  // decrypt context with the receive key
  Cipher ecb;  // AES-256-ECB with the same key: the keystream of a peek (FlowCache::PuntsTcp)
  uint32_t window_cell = 0;
  std::array<uint8_t, 20> addr{};  // the path's current peer address record
  uint32_t link_stats = 0;
};

struct VftHash {
  size_t operator()(const std::array<uint8_t, 16>& v) const {
    uint64_t a, b;
    __builtin_memcpy(&a, v.data(), 8);
    __builtin_memcpy(&b, v.data() + 8, 8);
    return static_cast<size_t>(a ^ (b * 0x9e3779b97f4a7c15ull));
  }
};

// A relay's forwarding of one VFT arriving on one path (its receiver index)
// to the one neighbour that receives it, over that neighbour's path: the
// sealed payload goes on untouched, under the next hop's DATA.
struct ForwardEntry {
  Cipher hop_gcm;  // encrypt context with the next hop's send key
  uint32_t receiver_index = 0;
  uint32_t hop_counter_cell = 0;
  std::array<uint8_t, 20> addr{};
  uint32_t payload_max = 0;
  uint32_t link_stats = 0;  // the outgoing link's block
};

struct ForwardKey {
  uint32_t in_index;
  std::array<uint8_t, 16> vft;
  bool operator==(const ForwardKey& o) const { return in_index == o.in_index && vft == o.vft; }
};

// A TUN device's route: an IP destination (IPv4 as ::ffff:a.b.c.d) on one
// device slot, whose packets go to the MAC of its next hop.
struct TunKey {
  uint32_t device;
  std::array<uint8_t, 16> addr;
  bool operator==(const TunKey& o) const { return device == o.device && addr == o.addr; }
};

struct TunHash {
  size_t operator()(const TunKey& k) const { return VftHash()(k.addr) ^ (k.device * 0x9e3779b1u); }
};

struct ForwardHash {
  size_t operator()(const ForwardKey& k) const { return VftHash()(k.vft) ^ (k.in_index * 0x9e3779b1u); }
};

// The tags (last 16 bytes of the sealed payload, its AEAD tag) of frames
// the fast path forwarded recently, so that a frame looping in a relay
// mesh while its spanning tree converges is forwarded once (as the table's
// duplicate cache does for what JavaScript forwards: 12-relay.md §7, 09 §6).
// Set-associative: 2^14 buckets of 8 keyed 64-bit fingerprints, newest
// first, 1 MiB. The UDP reader thread alone uses it.
class DuplicateTags {
 public:
  DuplicateTags();
  // True if the tag was seen (nothing changes); else remembers it.
  bool SeenOrAdd(const uint8_t* tag);

 private:
  static constexpr size_t kBuckets = size_t{1} << 14;
  static constexpr size_t kWays = 8;
  std::vector<uint64_t> slots_;
  uint64_t seed0_ = 0, seed1_ = 0;
};

struct Device {
  int fd = -1;
  bool vnet = false;  // frames carry a 10-byte virtio-net header
  // A TUN device: it reads and writes IP packets, which the cache puts in
  // Ethernet frames (a TUN route gives the destination MAC) and takes out
  // of them (docs/spec/18-fast-path.md §18.4.9).
  bool tun = false;
  // Its reader, when that reads on a thread of its own (SetSource): the
  // socket's reader reads through it after writing to it (reader.h).
  DeviceReader* source = nullptr;
};


// Why frames went up instead (counters; TypeScript reads them with stats()).
struct FlowStats {
  std::atomic<uint64_t> sent{0}, received{0};
  std::atomic<uint64_t> send_miss{0}, send_other{0}, send_size{0}, send_spent{0}, send_failed{0};
  std::atomic<uint64_t> recv_miss{0}, recv_other{0}, recv_checks{0}, recv_raced{0}, write_failed{0};
  // A relay's: datagrams forwarded, those that went up (hop limit, size),
  // lost (spent counter, sendmmsg), and dropped as duplicates.
  std::atomic<uint64_t> forwarded{0}, forward_other{0}, forward_failed{0}, forward_duplicate{0};
};

class FlowCache {
 public:
  explicit FlowCache(Arena* arena) : arena_(arena), cells_(arena->mem), words_(arena->words) {
    arena->Ref();
  }

  void Ref() { refs_.fetch_add(1); }
  void Unref() {
    if (refs_.fetch_sub(1) == 1) delete this;
  }

  // Main thread: the tables (exclusive lock inside).
  // The datagram socket (fd -1: none); `gso`: send runs to one destination
  // of one size as UDP GSO messages, as the socket's own sends do.
  void SetUdp(int fd, int family, bool gso);
  uint32_t AddDevice(int fd, bool vnet, bool tun);  // a device slot
  void RemoveDevice(uint32_t device);     // and every entry that names it
  // The device's reader (FrameSource::SetFlow), and its going: only if it
  // is still `source`.
  void SetSource(uint32_t device, DeviceReader* source);
  void ClearSource(uint32_t device, DeviceReader* source);
  // Lending (docs/spec/18-fast-path.md §18.4.11). The datagram socket's
  // reader, when it reads on a thread of its own: set, it may be lent
  // devices; cleared, every lent device is given back.
  void SetSocketSource(DeviceReader* socket);
  void ClearSocketSource(DeviceReader* socket);
  bool CanLend();
  // A device's reader just lent its device: wakes the socket's reader.
  void Lend();
  // The socket's reader: the fd and reader of each lent device, each with
  // a reference the caller drops.
  void LentDevices(std::vector<std::pair<int, DeviceReader*>>* out);
  // False when the entry's device slot is not open.
  bool InstallSend(uint64_t key, SendEntry&& e);
  // A TUN device's packets to `addr` (16 bytes, IPv4 mapped) go to `mac`
  // (its send entry, InstallSend, carries them). False when the slot is not
  // an open TUN device, or when kTunRoutesMax are held.
  bool InstallTunRoute(uint32_t device, const std::array<uint8_t, 16>& addr,
                       const std::array<uint8_t, 6>& mac);
  static constexpr size_t kTunRoutesMax = 4096;
  void InstallHop(uint32_t receiver_index, HopEntry&& e);
  bool InstallRecv(const std::array<uint8_t, 16>& vft, RecvEntry&& e);
  bool InstallKid(const std::array<uint8_t, 16>& vft, uint64_t kid, KidEntry&& e);
  void InstallForward(uint32_t in_index, const std::array<uint8_t, 16>& vft, ForwardEntry&& e);
  // Drops a VFT's forward entries, whatever path they arrive on; how many.
  size_t RemoveForwards(const std::array<uint8_t, 16>& vft);
  void Clear();  // every entry, devices and socket kept
  size_t Entries();
  const FlowStats& stats() const { return stats_; }
  bool CellsFit(uint32_t index, size_t words) const { return size_t{index} + words <= words_; }
  static uint64_t SendKey(uint32_t device, const uint8_t* mac);

  // Reader threads: run a filled slot through the cache; returns how many
  // frames are left in it (packed to the front, in order) for JavaScript.
  uint32_t FromDevice(uint32_t device, const ReaderConfig& c, uint8_t* data, uint32_t* meta,
                      uint32_t count);
  // `written`, if given, gets each device source it wrote to (once, with
  // a reference taken for the caller to drop after reading through it).
  uint32_t FromUdp(const ReaderConfig& c, uint8_t* data, uint32_t* meta, uint32_t count,
                   std::vector<DeviceReader*>* written = nullptr);

 private:
  ~FlowCache() { arena_->Unref(); }
  int32_t* cell(uint32_t i) { return cells_ + i; }
  // Whether a datagram would only go up as TCP to a port whose entry punts
  // TCP, decided from a peek at its hop plaintext and the frame's first
  // bytes (keystream alone: nothing verified, so it only ever sends a
  // datagram up, untouched, before any AEAD). Reader threads, lock held.
  bool PuntsTcp(HopEntry& hop, const uint8_t* d, size_t len, uint32_t counter);
  // One sendmmsg run of a reader thread's queued datagrams on the socket,
  // with UDP GSO as the socket's own sends; how many the kernel took.
  uint32_t SendQueued(uint32_t n, const uint8_t* const* datas, const size_t* lens,
                      const uint8_t* addrs);
  void Stat(uint32_t block, StatWord w, uint64_t v);
  // Sets the socket's reader to `to` (only if it is `from`, when given),
  // then wakes every device's reader or, with give_back, gives it back.
  void SwapSocketSource(DeviceReader* from, DeviceReader* to, bool give_back);
  // Lock held: gives `source` back if lent, and wakes the socket's reader.
  void ReturnLentLocked(DeviceReader* source);

  std::atomic<int> refs_{1};
  Arena* const arena_;
  int32_t* const cells_;
  const size_t words_;
  WriterFirstLock mu_;
  int udp_fd_ = -1;
  int udp_family_ = 4;
  bool udp_gso_ = false;
  std::vector<Device> devices_;
  DeviceReader* socket_source_ = nullptr;  // guarded by mu_
  std::unordered_map<uint64_t, SendEntry> send_;
  std::unordered_map<TunKey, std::array<uint8_t, 6>, TunHash> tun_routes_;
  std::unordered_map<uint32_t, HopEntry> hops_;
  std::unordered_map<std::array<uint8_t, 16>, RecvEntry, VftHash> recv_;
  std::unordered_map<ForwardKey, ForwardEntry, ForwardHash> fwd_;
  DuplicateTags duplicates_;  // the UDP reader thread's
  FlowStats stats_;
};

}  // namespace peertap
