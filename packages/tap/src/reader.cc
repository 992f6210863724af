// The background reader; see reader.h for the pipeline.
#include "reader.h"

#include "flow-cache.h"

#include <errno.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>

namespace peertap {

namespace {

constexpr size_t kAlign = 64;  // cache line: slots never share one

// A device's reader idle this long lends its device to the socket's reader
// (docs/spec/18-fast-path.md §18.4.11).
constexpr int kLendAfterMs = 5;

size_t align_up(size_t n, size_t a) { return (n + a - 1) / a * a; }

// A batch or an error travels to the main thread encoded in the TSFN's data
// pointer, so posting allocates nothing: bit 63 marks an error, bits 32..62
// hold the slot, bits 0..31 the frame count or the errno.
constexpr uint64_t kErrorBit = uint64_t{1} << 63;

void* encode(int32_t slot, uint32_t value) {
  uint64_t v = slot < 0 ? kErrorBit : (static_cast<uint64_t>(slot) << 32);
  v |= value;
  return reinterpret_cast<void*>(static_cast<uintptr_t>(v));
}

}  // namespace

uint8_t* AllocatePool(const ReaderConfig& config, size_t* data_offset, size_t* bytes) {
  size_t meta = size_t{config.slots} * config.batch_frames * MetaWords(config) * sizeof(uint32_t);
  *data_offset = align_up(meta, kAlign);
  *bytes = *data_offset + size_t{config.slots} * config.slot_bytes;
  void* mem = nullptr;
  if (posix_memalign(&mem, kAlign, *bytes) != 0) return nullptr;
  memset(mem, 0, *data_offset);
  return static_cast<uint8_t*>(mem);
}

Reader::Reader(napi_env env, int fd, const ReaderConfig& config)
    : env_(env), fd_(fd), config_(config) {}

Reader::~Reader() {
  if (wake_fd_ >= 0) close(wake_fd_);
  free(mem_);
}

napi_status Reader::Create(napi_env env, int fd, const ReaderConfig& config, napi_value callback,
                           Reader** out, napi_value* pool) {
  Reader* r = new Reader(env, fd, config);
  r->mem_ = AllocatePool(config, &r->data_offset_, &r->mem_bytes_);
  if (r->mem_ == nullptr) {
    delete r;
    return napi_generic_failure;
  }
  r->wake_fd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (r->wake_fd_ < 0) {
    delete r;
    return napi_generic_failure;
  }
  if (config.kind == ReaderConfig::kUdp && (r->udp_ = NewUdpScratch(config.batch_frames, config.gro)) == nullptr) {
    delete r;
    return napi_generic_failure;
  }
  for (uint32_t i = config.slots; i-- > 0;) r->free_.push_back(i);

  // The pool memory is ours (not V8's), so a detached or transferred
  // ArrayBuffer can never free memory the thread still writes into.
  napi_status s = napi_create_external_arraybuffer(
      env, r->mem_, r->mem_bytes_,
      [](napi_env, void*, void* hint) { static_cast<Reader*>(hint)->Unref(); }, r, pool);
  if (s != napi_ok) {
    delete r;
    return s;
  }
  // From here on the ArrayBuffer holds a reference; failures below release
  // the other two so the reader dies with the ArrayBuffer.
  napi_value name;
  napi_create_string_utf8(env, "peertap.tap.reader", NAPI_AUTO_LENGTH, &name);
  s = napi_create_threadsafe_function(
      env, callback, nullptr, name, 0 /* unbounded: at most `slots` items */, 1,
      r, [](napi_env, void* data, void*) { static_cast<Reader*>(data)->Unref(); }, r,
      &Reader::CallJs, &r->tsfn_);
  if (s != napi_ok) {
    r->stopped_ = true;
    r->Unref();  // the TSFN's reference
    r->Unref();  // the handle's reference
    return s;
  }
  napi_add_env_cleanup_hook(env, &Reader::CleanupHook, r);
  r->hook_added_ = true;
  r->thread_ = std::thread([r] { r->Run(); });
  *out = r;
  return napi_ok;
}

FrameSource::~FrameSource() {
  DeleteUdpScratch(udp_);
  for (DeviceReader* s : written_) s->Unref();
  if (flow_ != nullptr) {
    if (flow_device_ >= 0) {
      flow_->ClearSource(static_cast<uint32_t>(flow_device_), this);
    } else {
      flow_->ClearSocketSource(this);
    }
    flow_->Unref();
  }
}

void FrameSource::SetFlow(FlowCache* cache, int32_t device) {
  if (cache != nullptr) cache->Ref();
  FlowCache* old;
  int32_t old_device;
  {
    std::lock_guard<std::mutex> lk(flow_mu_);
    old = flow_;
    old_device = flow_device_;
    flow_ = cache;
    flow_device_ = device;
  }
  if (old != nullptr) {
    if (old_device >= 0) {
      old->ClearSource(static_cast<uint32_t>(old_device), this);
    } else {
      old->ClearSocketSource(this);
    }
    old->Unref();
  }
  // A reader with a thread of its own may be read through by the socket's;
  // a socket's with a thread of its own may be lent devices (§18.4.11).
  if (cache != nullptr && ReadsOnThread()) {
    if (device >= 0) {
      cache->SetSource(static_cast<uint32_t>(device), this);
    } else {
      cache->SetSocketSource(this);
    }
  }
}

uint32_t FrameSource::RunFlow(const ReaderConfig& c, uint8_t* data, uint32_t* meta,
                              uint32_t count) {
  std::lock_guard<std::mutex> lk(flow_mu_);
  if (flow_ == nullptr) return count;
  return c.kind == ReaderConfig::kUdp
             ? flow_->FromUdp(c, data, meta, count, &written_)
             : flow_->FromDevice(static_cast<uint32_t>(flow_device_), c, data, meta, count);
}

void FrameSource::ReadThroughWritten() {
  // No lock held here: each ReadThrough runs that device's cache pass.
  for (DeviceReader* s : written_) {
    s->ReadThrough();
    s->Unref();
  }
  written_.clear();
}

void Reader::Unref() {
  if (refs_.fetch_sub(1) == 1) delete this;
}

void Reader::CleanupHook(void* arg) {
  // The environment is going away (process exit, worker termination) with
  // the device still open: stop the thread before the TSFN disappears.
  Reader* r = static_cast<Reader*>(arg);
  r->hook_added_ = false;
  r->Stop();
}

void Reader::Release(uint32_t slot) {
  if (slot >= config_.slots) return;
  {
    std::lock_guard<std::mutex> lk(mu_);
    if (stopping_) return;
    free_.push_back(slot);
  }
  cv_.notify_one();
}

void Reader::Stop() {
  if (stopped_) return;
  stopped_ = true;
  // A socket's reader gives back the devices lent to it before its thread
  // ends, so that their own threads read them again.
  FlowCache* cache = nullptr;
  {
    std::lock_guard<std::mutex> lk(flow_mu_);
    if (flow_ != nullptr && flow_device_ < 0) {
      cache = flow_;
      cache->Ref();
    }
  }
  if (cache != nullptr) {
    cache->ClearSocketSource(this);
    cache->Unref();
  }
  {
    std::lock_guard<std::mutex> lk(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  Wake();  // out of poll(2) in WaitReadable
  if (thread_.joinable()) thread_.join();
  // A ReadThrough that saw us running may still be reading the fd: wait for
  // it, so that the fd is never read after Stop returns (it closes next).
  { std::lock_guard<std::mutex> fill(fill_mu_); }
  if (hook_added_) {
    napi_remove_env_cleanup_hook(env_, &Reader::CleanupHook, this);
    hook_added_ = false;
  }
  // Batches already queued are still delivered; JavaScript ignores them
  // once the device is closed. The TSFN finalizer drops its reference.
  napi_release_threadsafe_function(tsfn_, napi_tsfn_release);
}

void Reader::SetRef(bool ref) {
  if (stopped_) return;
  if (ref) {
    napi_ref_threadsafe_function(env_, tsfn_);
  } else {
    napi_unref_threadsafe_function(env_, tsfn_);
  }
}

void Reader::Post(int32_t slot, uint32_t value) {
  // Non-blocking and unbounded: the queue never holds more than `slots`
  // batches plus one error, and a blocking call could deadlock Stop().
  napi_call_threadsafe_function(tsfn_, encode(slot, value), napi_tsfn_nonblocking);
}

void Reader::CallJs(napi_env env, napi_value js_cb, void* /*context*/, void* data) {
  if (env == nullptr || js_cb == nullptr) return;  // TSFN torn down
  uint64_t v = static_cast<uint64_t>(reinterpret_cast<uintptr_t>(data));
  int32_t slot = (v & kErrorBit) ? -1 : static_cast<int32_t>((v >> 32) & 0x7fffffff);
  uint32_t value = static_cast<uint32_t>(v & 0xffffffffu);
  napi_value argv[3];
  napi_create_int32(env, slot, &argv[0]);
  napi_create_uint32(env, slot >= 0 ? value : 0, &argv[1]);
  napi_create_uint32(env, slot >= 0 ? 0 : value, &argv[2]);
  napi_value undefined;
  napi_get_undefined(env, &undefined);
  // An exception thrown by the callback surfaces as an uncaught exception.
  napi_call_function(env, undefined, js_cb, 3, argv, nullptr);
}

bool Reader::Stopping() {
  std::lock_guard<std::mutex> lk(mu_);
  return stopping_;
}

void Reader::Wake() {
  // The eventfd's counter cannot overflow here.
  uint64_t one = 1;
  ssize_t ignored = write(wake_fd_, &one, sizeof(one));
  (void)ignored;
}

// Empties the wake eventfd after a wake-up that was not Stop's (Stop's
// write is left, so that every later wait returns at once).
static void Drain(int fd) {
  uint64_t v;
  ssize_t ignored = read(fd, &v, sizeof v);
  (void)ignored;
}

bool Reader::WaitReadable() {
  return config_.kind == ReaderConfig::kUdp ? WaitSocket() : WaitDevice();
}

bool Reader::WaitDevice() {
  for (;;) {
    bool lent = lent_.load(std::memory_order_acquire);
    bool can_lend = false;
    if (!lent) {
      std::lock_guard<std::mutex> lk(flow_mu_);
      can_lend = flow_ != nullptr && flow_device_ >= 0 && flow_->CanLend();
    }
    // poll(2) ignores a negative fd: a lent device is the socket's to wait on.
    struct pollfd fds[2] = {{lent ? -1 : fd_, POLLIN, 0}, {wake_fd_, POLLIN, 0}};
    int n = poll(fds, 2, can_lend ? kLendAfterMs : -1);
    if (n < 0 && errno == EINTR) continue;
    if (Stopping()) return false;
    if (n > 0 && (fds[1].revents & POLLIN)) Drain(wake_fd_);
    if (n == 0) {
      // Idle for kLendAfterMs: lend the device to the socket's reader.
      std::lock_guard<std::mutex> lk(flow_mu_);
      if (flow_ != nullptr && flow_device_ >= 0 && flow_->CanLend()) {
        lent_.store(true, std::memory_order_release);
        stats_.lends.fetch_add(1, std::memory_order_relaxed);
        flow_->Lend();
      }
      continue;
    }
    if (lent && lent_.load(std::memory_order_acquire)) continue;  // still lent
    return true;  // readable, given back, or woken: read
  }
}

bool Reader::WaitSocket() {
  thread_local std::vector<std::pair<int, DeviceReader*>> lent;
  thread_local std::vector<pollfd> fds;
  for (;;) {
    lent.clear();
    {
      std::lock_guard<std::mutex> lk(flow_mu_);
      if (flow_ != nullptr && flow_device_ < 0) flow_->LentDevices(&lent);
    }
    fds.assign({{fd_, POLLIN, 0}, {wake_fd_, POLLIN, 0}});
    for (const auto& d : lent) fds.push_back({d.first, POLLIN, 0});
    int n = poll(fds.data(), fds.size(), -1);
    bool stop = Stopping();
    if (n > 0 && !stop) {
      if (fds[1].revents & POLLIN) Drain(wake_fd_);
      for (size_t i = 0; i < lent.size(); i++) {
        if (fds[2 + i].revents != 0 && !lent[i].second->ReadLent()) lent[i].second->GiveBack();
      }
    }
    for (const auto& d : lent) d.second->Unref();
    if (stop) return false;
    if (n > 0 && fds[0].revents != 0) return true;
  }
}

void Reader::Run() {
  const ReaderConfig& c = config_;
  for (;;) {
    // 1. Take a free slot, waiting for JavaScript to return one if needed.
    uint32_t slot;
    {
      std::unique_lock<std::mutex> lk(mu_);
      if (free_.empty() && !stopping_) {
        stats_.slot_waits.fetch_add(1, std::memory_order_relaxed);
        cv_.wait(lk, [this] { return stopping_ || !free_.empty(); });
      }
      if (stopping_) return;
      slot = free_.back();
      free_.pop_back();
    }
    uint8_t* data = mem_ + data_offset_ + size_t{slot} * c.slot_bytes;
    uint32_t* meta = reinterpret_cast<uint32_t*>(mem_) + size_t{slot} * c.batch_frames * MetaWords(c);

    // 2. Fill it: read until EAGAIN, the frame cap or the slot is full (a
    //    socket: one recvmmsg); an empty fd is waited for in poll(2), with
    //    fill_mu_ let go meanwhile (ReadThrough may read it then).
    std::unique_lock<std::mutex> fill(fill_mu_);
    SlotFill f = FillAny(fd_, c, data, meta, stats_, udp_, [this, &fill] {
      fill.unlock();
      bool go = WaitReadable();
      fill.lock();
      return go;
    });

    // 3. The fast path carries what its flow cache holds entries for; the
    //    rest is handed over, or the slot goes back if nothing is left.
    Deliver(slot, data, meta, f);
    fill.unlock();
    // A socket: what the cache wrote to devices may have been answered.
    if (!written_.empty()) ReadThroughWritten();
    if (f.stop) return;
    if (f.err != 0) {
      Post(-1, static_cast<uint32_t>(f.err));
      return;
    }
  }
}

// Fills one slot from the fd now, without waiting, on another thread than
// the reader's own (§18.4.8, §18.4.11), and delivers it.
Reader::Fill Reader::FillNow() {
  std::unique_lock<std::mutex> fill(fill_mu_, std::try_to_lock);
  if (!fill.owns_lock()) return Fill::kBusy;
  const ReaderConfig& c = config_;
  uint32_t slot;
  {
    std::lock_guard<std::mutex> lk(mu_);
    if (stopping_ || free_.empty()) return Fill::kNoSlot;
    slot = free_.back();
    free_.pop_back();
  }
  uint8_t* data = mem_ + data_offset_ + size_t{slot} * c.slot_bytes;
  uint32_t* meta = reinterpret_cast<uint32_t*>(mem_) + size_t{slot} * c.batch_frames * MetaWords(c);
  // A read error is left to its own thread's next read.
  SlotFill f = FillAny(fd_, c, data, meta, stats_, udp_, [] { return false; });
  if (f.count > 0) stats_.read_throughs.fetch_add(1, std::memory_order_relaxed);
  Fill r = f.err != 0 ? Fill::kError : f.count >= c.batch_frames ? Fill::kFull : Fill::kRead;
  Deliver(slot, data, meta, f);
  return r;
}

// Its own thread, if reading, gets the reply; nothing else to do either way.
void Reader::ReadThrough() { FillNow(); }

bool Reader::ReadLent() {
  // Kept while its own thread happens to be reading, or after an ordinary
  // read; given back with no slot or stopping (its own thread waits for a
  // slot, or ends), a full batch (a burst: two threads share the work
  // again) or a read error (its own thread reads it again and reports it).
  Fill r = FillNow();
  return r == Fill::kBusy || r == Fill::kRead;
}

void Reader::GiveBack() {
  if (lent_.exchange(false, std::memory_order_acq_rel)) Wake();
}

void Reader::Deliver(uint32_t slot, uint8_t* data, uint32_t* meta, SlotFill& f) {
  if (f.count > 0) {
    stats_.batches.fetch_add(1, std::memory_order_relaxed);
    stats_.frames.fetch_add(f.count, std::memory_order_relaxed);
    stats_.bytes.fetch_add(f.bytes, std::memory_order_relaxed);
    f.count = RunFlow(config_, data, meta, f.count);
  }
  if (f.count > 0) {
    Post(static_cast<int32_t>(slot), f.count);
  } else {
    std::lock_guard<std::mutex> lk(mu_);
    free_.push_back(slot);
  }
}

}  // namespace peertap
