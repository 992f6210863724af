// The background reader: one thread per device that reads frames into a
// fixed pool of slots and hands each filled slot to JavaScript as one batch.
//
// Pipeline, in order (the thread's loop, Reader::Run):
//   1. take a free slot; if JavaScript holds every slot, wait (backpressure:
//      the kernel's queue for the device fills and the kernel drops and
//      counts, in tx_dropped of `ip -s link`, as it does for a slow NIC);
//   2. read(2) frames into the slot back to back until EAGAIN, the batch
//      frame cap, or too little room for one more maximal frame; if the first
//      read finds nothing, poll(2) on the device and the wake eventfd;
//   3. post (slot, count) through a thread-safe function: one call into
//      JavaScript per batch, no allocation (the values ride in the pointer);
//   4. JavaScript reads the frames in place and returns the slot (Release).
//
// Memory: one allocation per reader, exposed to JavaScript as one external
// ArrayBuffer: the per-slot offsets and lengths (uint32) first, then the
// slots. It lives until the thread is joined, the ArrayBuffer is collected
// and the thread-safe function is finalized, whichever is last.
#pragma once

#include <errno.h>
#include <node_api.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>
#include <vector>

namespace peertap {

struct ReaderConfig {
  uint32_t slots;         // slots in the pool (batches JavaScript may hold)
  uint32_t batch_frames;  // most frames per batch
  uint32_t slot_bytes;    // bytes per slot
  uint32_t frame_max;     // read size: the largest frame accepted
  uint32_t headroom;      // free bytes kept before each frame
  uint32_t tailroom;      // free bytes kept after each frame
  // What fd is: a TAP/TUN device read with read(2), or a UDP socket read
  // with recvmmsg(2), whose batches also carry each datagram's source (udp.h).
  enum Kind : uint32_t { kDevice = 0, kUdp = 1 } kind = kDevice;
  // A UDP socket with UDP_GRO on: messages may hold several datagrams (udp.h).
  bool gro = false;
};

// uint32 words of per-frame metadata before the slots: offset and length;
// a UDP datagram also has its source address record (kUdpAddrWords, udp.h).
constexpr uint32_t kUdpAddrWords = 5;
inline uint32_t MetaWords(const ReaderConfig& c) {
  return c.kind == ReaderConfig::kUdp ? 2 + kUdpAddrWords : 2;
}

struct ReaderStats {
  std::atomic<uint64_t> batches{0};
  std::atomic<uint64_t> frames{0};
  std::atomic<uint64_t> bytes{0};
  std::atomic<uint64_t> slot_waits{0};  // times the thread waited for a slot
  std::atomic<uint64_t> truncated{0};   // frames longer than frame_max, dropped
  // UDP GRO: received messages that carried a UDP_GRO control message, and
  // the datagrams they held (udp.h); zero for a device.
  std::atomic<uint64_t> gro_messages{0};
  std::atomic<uint64_t> gro_datagrams{0};
  // A device: batches the datagram socket's reader thread read from it
  // right after the flow cache wrote to it (FrameSource::ReadThrough).
  std::atomic<uint64_t> read_throughs{0};
  // A device: times its reader lent it to the datagram socket's reader
  // after an idle spell (docs/spec/18-fast-path.md §18.4.11).
  std::atomic<uint64_t> lends{0};
};

// What the addon's reader functions (release, stop, ref, stats) need of a
// frame source: the background Reader below or the main-thread Poller
// (poller.h). Both lay out their pool the same way, so JavaScript builds the
// same batches over either.
// Scratch space of recvmmsg(2) for one batch (udp.cc); none for a device.
// With `gro`, it also holds the 64 KiB receive buffers GRO needs (udp.h).
struct UdpScratch;
UdpScratch* NewUdpScratch(uint32_t batch_frames, bool gro);  // nullptr when out of memory
void DeleteUdpScratch(UdpScratch* s);                        // accepts nullptr
// Whether the scratch holds received datagrams not yet delivered (a GRO
// message split over more records than the last slot had left): the next
// fill delivers them first, before it reads the socket again.
bool UdpPending(const UdpScratch* s);  // accepts nullptr

class FlowCache;  // flow-cache.h

// What the flow cache needs of a device's reader (FrameSource below is
// one): references, and reading through it after writing to it. No key
// function, so that code using the cache alone (the fuzz targets) links.
class DeviceReader {
 public:
  virtual void Ref() = 0;
  virtual void Unref() = 0;
  virtual void ReadThrough() = 0;
  // Lending (docs/spec/18-fast-path.md §18.4.11): a device's reader that
  // has been idle lends its fd to the socket's reader, whose thread then
  // waits on it and reads it (ReadLent) until it gives it back.
  // Wakes the reader's thread out of its wait (it looks again at what to wait on).
  virtual void Wake() = 0;
  // A device lent to the socket's reader.
  virtual bool Lent() const = 0;
  // The socket's thread: reads a lent device now, as ReadThrough. False:
  // give it back (a full batch, no free slot, a read error, stopping).
  virtual bool ReadLent() = 0;
  // No longer lent: its own thread waits on it again.
  virtual void GiveBack() = 0;

 protected:
  ~DeviceReader() = default;
};

class FrameSource : public DeviceReader {
 public:
  virtual ~FrameSource();
  virtual size_t data_offset() const = 0;
  virtual size_t slot_bytes() const = 0;
  virtual void Release(uint32_t slot) = 0;  // JavaScript is done with a slot
  virtual void Stop() = 0;                  // idempotent
  virtual void SetRef(bool ref) = 0;        // whether it keeps the loop alive
  void Unref() override = 0;                // drops one of its references
  void Ref() override = 0;                  // takes one more
  // Another thread, the datagram socket's reader, just wrote frames to this
  // device on the fast path: reads what the kernel answered at once (an
  // echo reply, a TCP ACK) and runs it as this reader would, so that the
  // reply needs no wake-up of this reader's own thread (docs/spec/
  // 18-fast-path.md §18.4.8). Does nothing while its own thread is reading,
  // when no slot is free, when stopping, or for a main-thread Poller.
  void ReadThrough() override {}
  // A Poller is never lent (it reads on the main thread).
  void Wake() override {}
  bool Lent() const override { return false; }
  bool ReadLent() override { return false; }
  void GiveBack() override {}
  // Whether it reads on a thread of its own (a Reader, not a Poller).
  virtual bool ReadsOnThread() const { return false; }
  const ReaderStats& stats() const { return stats_; }
  // Main thread: runs every filled slot through `cache` (the fast path,
  // flow-cache.h) before JavaScript sees it, as device slot `device` (a
  // device) or as the datagram socket (-1); nullptr detaches. Waits for a
  // batch in progress.
  void SetFlow(FlowCache* cache, int32_t device);

 protected:
  // Reader threads: the frames of a filled slot the flow cache leaves for
  // JavaScript (all of them without a cache), packed to the front.
  uint32_t RunFlow(const ReaderConfig& c, uint8_t* data, uint32_t* meta, uint32_t count);
  // The datagram socket's reader, after a batch: reads through the devices
  // the flow cache wrote to in it (each with a reference FromUdp took).
  void ReadThroughWritten();

  ReaderStats stats_;
  std::vector<DeviceReader*> written_;  // the socket reader's thread only
  std::mutex flow_mu_;
  FlowCache* flow_ = nullptr;  // guarded by flow_mu_
  int32_t flow_device_ = -1;   // guarded by flow_mu_
  UdpScratch* udp_ = nullptr;  // recvmmsg(2) scratch, UDP sockets only
};

// Frames read with one read(2) each into a slot until EAGAIN, the frame cap
// or too little room; shared by Reader and Poller. Returns 0, or the errno
// of a fatal read error (EAGAIN and EINTR are not). With `wait`, an empty
// first read calls it to block until readable; it returns false to stop.
struct SlotFill {
  uint32_t count = 0;
  uint64_t bytes = 0;
  int err = 0;
  bool stop = false;
};
template <typename Wait>
SlotFill FillSlot(int fd, const ReaderConfig& c, uint8_t* data, uint32_t* offsets,
                  uint32_t* lengths, ReaderStats& stats, Wait wait);

// One recvmmsg(2) into a slot without waiting (udp.cc): datagrams packed as
// FillSlot packs frames, each with its source address record (udp.h); with
// GRO, datagrams still pending from the last call first. count 0 and err 0:
// nothing to read now.
SlotFill RecvUdpBatch(int fd, const ReaderConfig& c, uint8_t* data, uint32_t* meta,
                      ReaderStats& stats, UdpScratch* scratch);

// Fills a slot from either kind of fd; `meta` is the slot's metadata
// (offsets, lengths, then for UDP the address records).
template <typename Wait>
SlotFill FillAny(int fd, const ReaderConfig& c, uint8_t* data, uint32_t* meta,
                 ReaderStats& stats, UdpScratch* scratch, Wait wait) {
  if (c.kind == ReaderConfig::kDevice) {
    return FillSlot(fd, c, data, meta, meta + c.batch_frames, stats, wait);
  }
  for (;;) {
    SlotFill f = RecvUdpBatch(fd, c, data, meta, stats, scratch);
    if (f.count > 0 || f.err != 0) return f;
    if (!wait()) {
      f.stop = true;
      return f;
    }
  }
}

class Reader : public FrameSource {
 public:
  // Allocates the pool, starts the thread and returns the pool as an
  // external ArrayBuffer in *pool. `callback(slot, count, errno)` is called
  // on the main thread: slot >= 0 for a batch, slot == -1 with errno for a
  // read error after which the thread has stopped.
  static napi_status Create(napi_env env, int fd, const ReaderConfig& config,
                            napi_value callback, Reader** out, napi_value* pool);

  // Byte offset of slot data in the pool (after the offsets/lengths).
  size_t data_offset() const override { return data_offset_; }
  size_t slot_bytes() const override { return config_.slot_bytes; }

  // Main thread only.
  void Release(uint32_t slot) override;  // JavaScript is done with a slot
  void Stop() override;                  // wake, join, release the TSFN; idempotent
  void SetRef(bool ref) override;        // whether the reader keeps the loop alive

  // Ownership: the JS handle, the pool ArrayBuffer and the TSFN each hold
  // one reference; the last Unref deletes the reader and its memory.
  void Unref() override;
  void Ref() override { refs_.fetch_add(1); }
  void ReadThrough() override;
  bool ReadsOnThread() const override { return true; }
  void Wake() override;
  bool Lent() const override { return lent_.load(std::memory_order_acquire); }
  bool ReadLent() override;
  void GiveBack() override;

 private:
  Reader(napi_env env, int fd, const ReaderConfig& config);
  ~Reader() override;
  void Run();
  bool WaitReadable();  // false when asked to stop
  bool WaitDevice();    // WaitReadable of a device: lends it after an idle spell
  bool WaitSocket();    // WaitReadable of the socket: also waits on lent devices
  bool Stopping();
  enum class Fill { kBusy, kNoSlot, kRead, kFull, kError };
  Fill FillNow();
  void Post(int32_t slot, uint32_t count_or_errno);
  // A filled slot, under fill_mu_: counted, run through the flow cache,
  // then handed to JavaScript, or back to the free list if nothing is left.
  void Deliver(uint32_t slot, uint8_t* data, uint32_t* meta, SlotFill& f);
  static void CallJs(napi_env env, napi_value js_cb, void* context, void* data);
  static void CleanupHook(void* arg);

  napi_env env_;
  int fd_;
  int wake_fd_ = -1;
  ReaderConfig config_;
  uint8_t* mem_ = nullptr;
  size_t data_offset_ = 0;
  size_t mem_bytes_ = 0;

  std::thread thread_;
  // Held while a slot is filled, run through the cache and posted, by the
  // reader's thread or by ReadThrough, so that batches reach JavaScript in
  // the order their frames were read; not while waiting in poll(2).
  std::mutex fill_mu_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<uint32_t> free_;  // free slots, guarded by mu_
  bool stopping_ = false;       // guarded by mu_
  bool stopped_ = false;        // main thread only
  bool hook_added_ = false;     // main thread only

  napi_threadsafe_function tsfn_ = nullptr;
  std::atomic<int> refs_{3};
  std::atomic<bool> lent_{false};  // a device lent to the socket's reader
};

// The pool both sources share: per-slot offsets and lengths (uint32), then
// the slots, cache-line aligned. Returns nullptr when out of memory.
uint8_t* AllocatePool(const ReaderConfig& config, size_t* data_offset, size_t* bytes);

template <typename Wait>
SlotFill FillSlot(int fd, const ReaderConfig& c, uint8_t* data, uint32_t* offsets,
                  uint32_t* lengths, ReaderStats& stats, Wait wait) {
  SlotFill f;
  const size_t need = size_t{c.headroom} + c.frame_max + c.tailroom;
  size_t pos = 0;
  while (f.count < c.batch_frames && pos + need <= c.slot_bytes) {
    ssize_t n = read(fd, data + pos + c.headroom, c.frame_max);
    if (n > 0) {
      // tun_put_user() reports the full frame length even when it copied
      // only frame_max bytes; such a frame is cut short: drop it.
      if (static_cast<size_t>(n) > c.frame_max) {
        stats.truncated.fetch_add(1, std::memory_order_relaxed);
        continue;
      }
      offsets[f.count] = static_cast<uint32_t>(pos + c.headroom);
      lengths[f.count] = static_cast<uint32_t>(n);
      f.count++;
      f.bytes += static_cast<uint64_t>(n);
      pos = (pos + c.headroom + static_cast<size_t>(n) + c.tailroom + 7) / 8 * 8;
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n == 0 || errno == EAGAIN) {
      if (f.count > 0) break;  // deliver what we have now: latency first
      if (!wait()) {
        f.stop = true;
        break;
      }
      continue;
    }
    f.err = errno;  // EBADFD: the device was deleted or detached
    break;
  }
  return f;
}

}  // namespace peertap
