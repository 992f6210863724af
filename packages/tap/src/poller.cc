// The main-thread reader; see poller.h for the pipeline.
#include "poller.h"

#include <errno.h>

namespace peertap {

Poller::Poller(napi_env env, int fd, const ReaderConfig& config)
    : env_(env), fd_(fd), config_(config) {}

Poller::~Poller() { free(mem_); }

napi_status Poller::Create(napi_env env, int fd, const ReaderConfig& config, napi_value callback,
                           Poller** out, napi_value* pool) {
  uv_loop_t* loop = nullptr;
  napi_status s = napi_get_uv_event_loop(env, &loop);
  if (s != napi_ok) return s;
  Poller* p = new Poller(env, fd, config);
  p->mem_ = AllocatePool(config, &p->data_offset_, &p->mem_bytes_);
  if (config.kind == ReaderConfig::kUdp) p->udp_ = NewUdpScratch(config.batch_frames, config.gro);
  if (p->mem_ == nullptr || (config.kind == ReaderConfig::kUdp && p->udp_ == nullptr) ||
      uv_poll_init(loop, &p->poll_, fd) != 0) {
    delete p;
    return napi_generic_failure;
  }
  p->poll_.data = p;
  for (uint32_t i = config.slots; i-- > 0;) p->free_.push_back(i);
  // From here on the uv handle exists and is freed only through uv_close
  // (Stop), whose callback drops the handle's reference.
  s = napi_create_external_arraybuffer(
      env, p->mem_, p->mem_bytes_,
      [](napi_env, void*, void* hint) { static_cast<Poller*>(hint)->Unref(); }, p, pool);
  if (s != napi_ok) {
    p->refs_ = 1;  // no JS handle, no pool: only the uv handle's, dropped once closed
    p->Stop();
    return s;
  }
  napi_value resource, name;
  s = napi_create_reference(env, callback, 1, &p->callback_);
  if (s == napi_ok) s = napi_create_object(env, &resource);
  if (s == napi_ok) s = napi_create_reference(env, resource, 1, &p->resource_);
  if (s == napi_ok) {
    s = napi_create_string_utf8(env, "peertap.tap.poller", NAPI_AUTO_LENGTH, &name);
  }
  if (s == napi_ok) s = napi_async_init(env, resource, name, &p->async_);
  if (s == napi_ok && uv_poll_start(&p->poll_, UV_READABLE, &Poller::OnPoll) != 0) {
    s = napi_generic_failure;
  }
  p->events_ = UV_READABLE;
  if (s != napi_ok) {
    p->refs_ = 2;  // no JS handle; the pool's goes with the ArrayBuffer
    p->Stop();
    return s;
  }
  p->polling_ = true;
  napi_add_env_cleanup_hook(env, &Poller::CleanupHook, p);
  p->hook_added_ = true;
  *out = p;
  return napi_ok;
}

void Poller::Unref() {
  if (--refs_ == 0) delete this;
}

void Poller::CleanupHook(void* arg) {
  Poller* p = static_cast<Poller*>(arg);
  p->hook_added_ = false;
  p->Stop();
}

void Poller::OnPoll(uv_poll_t* handle, int status, int /*events*/) {
  Poller* p = static_cast<Poller*>(handle->data);
  if (p->stopped_) return;
  // On an error report (the device was deleted: POLLERR) a read still tells
  // the real errno (EBADFD), as the Reader would see it; libuv's own code
  // (a negated errno) is the fallback.
  if (p->ReadBatch() || status >= 0 || p->stopped_) {
    if (p->polling_) p->Resume();  // GRO datagrams pending or not: writable or not
    return;
  }
  uv_poll_stop(&p->poll_);
  p->polling_ = false;
  p->Call(-1, 0, static_cast<uint32_t>(-status));
}

bool Poller::ReadBatch() {
  if (free_.empty()) {
    // Every slot is in JavaScript's hands: stop asking until one comes back.
    stats_.slot_waits.fetch_add(1, std::memory_order_relaxed);
    uv_poll_stop(&poll_);
    polling_ = false;
    return true;
  }
  const ReaderConfig& c = config_;
  uint32_t slot = free_.back();
  free_.pop_back();
  uint8_t* data = mem_ + data_offset_ + size_t{slot} * c.slot_bytes;
  uint32_t* meta = reinterpret_cast<uint32_t*>(mem_) + size_t{slot} * c.batch_frames * MetaWords(c);
  // Non-blocking: an empty first read (a spurious report) ends the batch.
  SlotFill f = FillAny(fd_, c, data, meta, stats_, udp_, [] { return false; });
  const bool read = f.count > 0;
  if (read) {
    stats_.batches.fetch_add(1, std::memory_order_relaxed);
    stats_.frames.fetch_add(f.count, std::memory_order_relaxed);
    stats_.bytes.fetch_add(f.bytes, std::memory_order_relaxed);
    // The fast path carries what its flow cache holds entries for (as the Reader does).
    f.count = RunFlow(c, data, meta, f.count);
    // A socket: what the cache wrote to devices may have been answered.
    if (!written_.empty()) ReadThroughWritten();
  }
  if (f.count == 0) free_.push_back(slot);
  if (f.err != 0) {
    uv_poll_stop(&poll_);
    polling_ = false;
  }
  if (f.count > 0) Call(static_cast<int32_t>(slot), f.count, 0);
  if (f.err != 0 && !stopped_) Call(-1, 0, static_cast<uint32_t>(f.err));
  return read || f.err != 0;
}

void Poller::Call(int32_t slot, uint32_t count, uint32_t err) {
  napi_env env = env_;
  napi_handle_scope scope;
  if (napi_open_handle_scope(env, &scope) != napi_ok) return;
  napi_value cb, resource, argv[3], result;
  if (napi_get_reference_value(env, callback_, &cb) == napi_ok &&
      napi_get_reference_value(env, resource_, &resource) == napi_ok) {
    napi_create_int32(env, slot, &argv[0]);
    napi_create_uint32(env, count, &argv[1]);
    napi_create_uint32(env, err, &argv[2]);
    // As a TSFN callback would: an exception thrown by the handler surfaces
    // as an uncaught exception, and the loop goes on.
    if (napi_make_callback(env, async_, resource, cb, 3, argv, &result) ==
        napi_pending_exception) {
      napi_value error;
      if (napi_get_and_clear_last_exception(env, &error) == napi_ok) napi_fatal_exception(env, error);
    }
  }
  napi_close_handle_scope(env, scope);
}

void Poller::Release(uint32_t slot) {
  if (slot >= config_.slots || stopped_) return;
  free_.push_back(slot);
  if (!polling_) Resume();
}

void Poller::Resume() {
  int want = UV_READABLE | (UdpPending(udp_) ? UV_WRITABLE : 0);
  if (polling_ && want == events_) return;  // a restart would cost an epoll_ctl
  if (uv_poll_start(&poll_, want, &Poller::OnPoll) == 0) {
    polling_ = true;
    events_ = want;
  }
}

void Poller::Stop() {
  if (stopped_) return;
  stopped_ = true;
  polling_ = false;
  uv_poll_stop(&poll_);
  uv_close(reinterpret_cast<uv_handle_t*>(&poll_),
           [](uv_handle_t* h) { static_cast<Poller*>(h->data)->Unref(); });
  if (hook_added_) {
    napi_remove_env_cleanup_hook(env_, &Poller::CleanupHook, this);
    hook_added_ = false;
  }
  if (async_ != nullptr) napi_async_destroy(env_, async_);
  async_ = nullptr;
  if (callback_ != nullptr) napi_delete_reference(env_, callback_);
  callback_ = nullptr;
  if (resource_ != nullptr) napi_delete_reference(env_, resource_);
  resource_ = nullptr;
}

void Poller::SetRef(bool ref) {
  if (stopped_) return;
  if (ref) {
    uv_ref(reinterpret_cast<uv_handle_t*>(&poll_));
  } else {
    uv_unref(reinterpret_cast<uv_handle_t*>(&poll_));
  }
}

}  // namespace peertap
