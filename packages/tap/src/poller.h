// The main-thread reader: a libuv poll handle on the device fd in Node's own
// event loop, an alternative to the background Reader (reader.h) that saves
// a thread wake and a cross-thread hop per batch.
//
// Pipeline, in order (Poller::OnPoll, on the main thread):
//   1. the loop's epoll reports the device readable;
//   2. take a free slot; if JavaScript holds every slot, stop polling until
//      one comes back (backpressure: the kernel's queue for the device fills
//      and the kernel drops and counts, in tx_dropped, as for a slow NIC);
//   3. read(2) frames into the slot until EAGAIN, the batch frame cap, or
//      too little room for one more maximal frame (FillSlot, as the Reader);
//   4. call JavaScript directly with (slot, count, 0), through
//      napi_make_callback so that microtasks queued by the handler (the
//      trunk's flush) run before the loop moves on;
//   5. JavaScript returns the slot (Release), usually before step 4 returns.
// One batch per readiness report: the poll is level-triggered, so a device
// with more to read is reported again on the next loop turn, after the
// sockets had theirs. A UDP socket with GRO may have datagrams already
// received but not delivered (a coalesced message split over more records
// than the slot had left), which no readiness report would announce: while
// there are, it also polls for writable, which a UDP socket is at once
// (or as soon as its send buffer drains), so the next loop turn gets them.
//
// Why: on a latency-bound path (an ICMP echo across the overlay) the
// Reader's thread must wake, then wake the main thread through the TSFN's
// uv_async; on a small VM each wake of a sleeping CPU costs tens of
// microseconds. The price is that read(2) runs on the main thread.
#pragma once

#include <node_api.h>
#include <uv.h>

#include <cstdint>
#include <vector>

#include "reader.h"

namespace peertap {

class Poller : public FrameSource {
 public:
  // Allocates the pool, starts polling and returns the pool as an external
  // ArrayBuffer in *pool. `callback(slot, count, errno)` as for Reader.
  static napi_status Create(napi_env env, int fd, const ReaderConfig& config,
                            napi_value callback, Poller** out, napi_value* pool);

  size_t data_offset() const override { return data_offset_; }
  size_t slot_bytes() const override { return config_.slot_bytes; }
  void Release(uint32_t slot) override;
  void Stop() override;
  void SetRef(bool ref) override;
  // Ownership: the JS handle, the pool ArrayBuffer and the uv handle (until
  // its close callback) each hold one reference.
  void Unref() override;
  void Ref() override { ++refs_; }

 private:
  Poller(napi_env env, int fd, const ReaderConfig& config);
  ~Poller() override;
  static void OnPoll(uv_poll_t* handle, int status, int events);
  static void CleanupHook(void* arg);
  bool ReadBatch();  // true when it delivered a batch or an error
  void Call(int32_t slot, uint32_t count, uint32_t err);
  void Resume();  // (re)starts polling for what is wanted now, if that changed

  napi_env env_;
  int fd_;
  ReaderConfig config_;
  uint8_t* mem_ = nullptr;
  size_t data_offset_ = 0;
  size_t mem_bytes_ = 0;

  uv_poll_t poll_;
  bool polling_ = false;
  int events_ = 0;  // the events polled for while polling_
  bool stopped_ = false;
  bool hook_added_ = false;
  std::vector<uint32_t> free_;
  napi_ref callback_ = nullptr;
  napi_ref resource_ = nullptr;
  napi_async_context async_ = nullptr;
  int refs_ = 3;
};

}  // namespace peertap
