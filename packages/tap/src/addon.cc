// Node-API bindings for @peertap/tap. Plain C Node-API (<node_api.h>), no
// dependencies. The TypeScript side (index.ts) is the public API; these
// functions are its private, minimal core: open, link control, batched
// write, the background reader. No protocol logic lives here.
//
// Errors: a failing system call throws an Error carrying `errno` (positive)
// and `syscall`; index.ts maps them to a TapError with a stable code and a
// message that says what to do.
#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <sys/ioctl.h>
#include <node_api.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "aead.h"
#include "flow-napi.h"
#include "poller.h"
#include "reader.h"
#include "tun.h"
#include "udp.h"

namespace peertap {
namespace {

#define CHECK_NAPI(env, call)                                  \
  do {                                                         \
    if ((call) != napi_ok) {                                   \
      ThrowIfNone(env, "internal Node-API failure: " #call);  \
      return nullptr;                                          \
    }                                                          \
  } while (0)

void ThrowIfNone(napi_env env, const char* msg) {
  bool pending = false;
  napi_is_exception_pending(env, &pending);
  if (!pending) napi_throw_error(env, nullptr, msg);
}

// Throws Error(`${syscall} ${what}: ${strerror}`) with errno and syscall set.
napi_value ThrowErrno(napi_env env, int err, const char* syscall, const std::string& what) {
  std::string msg = std::string(syscall) + " " + what + ": " + strerror(err);
  napi_value message, error, errno_value, syscall_value;
  napi_create_string_utf8(env, msg.c_str(), msg.size(), &message);
  napi_create_error(env, nullptr, message, &error);
  napi_create_int32(env, err, &errno_value);
  napi_create_string_utf8(env, syscall, NAPI_AUTO_LENGTH, &syscall_value);
  napi_set_named_property(env, error, "errno", errno_value);
  napi_set_named_property(env, error, "syscall", syscall_value);
  napi_throw(env, error);
  return nullptr;
}

bool GetArgs(napi_env env, napi_callback_info info, size_t want, napi_value* argv) {
  size_t argc = want;
  if (napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr) != napi_ok || argc < want) {
    napi_throw_type_error(env, nullptr, "missing arguments");
    return false;
  }
  return true;
}

bool GetString(napi_env env, napi_value v, char* buf, size_t size) {
  size_t len = 0;
  if (napi_get_value_string_utf8(env, v, buf, size, &len) != napi_ok) {
    napi_throw_type_error(env, nullptr, "expected a string");
    return false;
  }
  return true;
}

bool GetU32(napi_env env, napi_value v, uint32_t* out) {
  if (napi_get_value_uint32(env, v, out) != napi_ok) {
    napi_throw_type_error(env, nullptr, "expected a number");
    return false;
  }
  return true;
}

bool GetI32(napi_env env, napi_value v, int32_t* out) {
  if (napi_get_value_int32(env, v, out) != napi_ok) {
    napi_throw_type_error(env, nullptr, "expected a number");
    return false;
  }
  return true;
}

// Bytes of a Uint8Array (or Buffer); false with a TypeError otherwise.
bool GetBytes(napi_env env, napi_value v, uint8_t** data, size_t* len) {
  bool is_typed = false;
  napi_is_typedarray(env, v, &is_typed);
  if (is_typed) {
    napi_typedarray_type type;
    void* p = nullptr;
    if (napi_get_typedarray_info(env, v, &type, len, &p, nullptr, nullptr) == napi_ok &&
        (type == napi_uint8_array || type == napi_int8_array ||
         type == napi_uint8_clamped_array)) {
      *data = static_cast<uint8_t*>(p);
      return true;
    }
  }
  napi_throw_type_error(env, nullptr, "expected a Uint8Array");
  return false;
}

bool GetU32Array(napi_env env, napi_value v, uint32_t** data, size_t* len) {
  bool is_typed = false;
  napi_is_typedarray(env, v, &is_typed);
  if (is_typed) {
    napi_typedarray_type type;
    void* p = nullptr;
    if (napi_get_typedarray_info(env, v, &type, len, &p, nullptr, nullptr) == napi_ok &&
        type == napi_uint32_array) {
      *data = static_cast<uint32_t*>(p);
      return true;
    }
  }
  napi_throw_type_error(env, nullptr, "expected a Uint32Array");
  return false;
}

napi_value U32(napi_env env, uint32_t v) {
  napi_value out;
  napi_create_uint32(env, v, &out);
  return out;
}

napi_value F64(napi_env env, double v) {
  napi_value out;
  napi_create_double(env, v, &out);
  return out;
}

// open(clonePath, name, flags) -> { fd, name }
napi_value Open(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  if (!GetArgs(env, info, 3, argv)) return nullptr;
  char path[4096], name[64];
  uint32_t flags;
  if (!GetString(env, argv[0], path, sizeof(path)) ||
      !GetString(env, argv[1], name, sizeof(name)) || !GetU32(env, argv[2], &flags)) {
    return nullptr;
  }
  char final_name[kNameMax + 1];
  const char* syscall = "";
  int fd = tun_open(path, name, static_cast<int>(flags), final_name, &syscall);
  if (fd < 0) return ThrowErrno(env, -fd, syscall, std::string(syscall[0] == 'o' ? path : name));
  napi_value out, fd_value, name_value;
  CHECK_NAPI(env, napi_create_object(env, &out));
  CHECK_NAPI(env, napi_create_int32(env, fd, &fd_value));
  CHECK_NAPI(env, napi_create_string_utf8(env, final_name, NAPI_AUTO_LENGTH, &name_value));
  CHECK_NAPI(env, napi_set_named_property(env, out, "fd", fd_value));
  CHECK_NAPI(env, napi_set_named_property(env, out, "name", name_value));
  return out;
}

// setOffload(fd, tunFlags): TUNSETOFFLOAD, the offloads the kernel may hand
// over in frames read from a device opened with IFF_VNET_HDR (TUN_F_CSUM,
// TUN_F_TSO4, ...). Throws with errno EINVAL when the kernel does not know a
// bit, so that the caller can retry without it.
napi_value SetOffload(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  int32_t fd;
  uint32_t offloads;
  if (!GetArgs(env, info, 2, argv) || !GetI32(env, argv[0], &fd) || !GetU32(env, argv[1], &offloads))
    return nullptr;
  if (ioctl(fd, TUNSETOFFLOAD, static_cast<unsigned long>(offloads)) < 0)
    return ThrowErrno(env, errno, "ioctl(TUNSETOFFLOAD)", "device");
  return nullptr;
}

// adopt(fd) -> { name, flags }: a TUN/TAP fd opened elsewhere (another
// process, Android's VpnService): made non-blocking and close-on-exec, as
// open() makes its own, and TUNGETIFF's interface name and flags (IFF_TUN or
// IFF_TAP, IFF_NO_PI, IFF_VNET_HDR). Throws with errno (ENOTTY, EBADFD) for
// an fd that is not an attached TUN/TAP device.
napi_value Adopt(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  int32_t fd;
  if (!GetArgs(env, info, 1, argv) || !GetI32(env, argv[0], &fd)) return nullptr;
  // Asked first, so that a descriptor which is no TUN/TAP device is left as it was.
  struct ifreq ifr;
  memset(&ifr, 0, sizeof(ifr));
  if (ioctl(fd, TUNGETIFF, &ifr) < 0) return ThrowErrno(env, errno, "TUNGETIFF", "device fd");
  int fl = fcntl(fd, F_GETFL);
  if (fl < 0) return ThrowErrno(env, errno, "fcntl(F_GETFL)", "device fd");
  if ((fl & O_NONBLOCK) == 0 && fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
    return ThrowErrno(env, errno, "fcntl(F_SETFL)", "device fd");
  if (fcntl(fd, F_SETFD, FD_CLOEXEC) < 0) return ThrowErrno(env, errno, "fcntl(F_SETFD)", "device fd");
  char name[IFNAMSIZ + 1];
  memcpy(name, ifr.ifr_name, IFNAMSIZ);
  name[IFNAMSIZ] = '\0';
  napi_value out, name_value;
  CHECK_NAPI(env, napi_create_object(env, &out));
  CHECK_NAPI(env, napi_create_string_utf8(env, name, NAPI_AUTO_LENGTH, &name_value));
  CHECK_NAPI(env, napi_set_named_property(env, out, "name", name_value));
  CHECK_NAPI(env, napi_set_named_property(env, out, "flags", U32(env, static_cast<uint16_t>(ifr.ifr_flags))));
  return out;
}

// close(fd): the caller stops the reader first.
napi_value Close(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  int32_t fd;
  if (!GetArgs(env, info, 1, argv) || !GetI32(env, argv[0], &fd)) return nullptr;
  if (close(fd) < 0 && errno != EINTR) return ThrowErrno(env, errno, "close", "device fd");
  return nullptr;
}

// ifGet(name) -> { index, mtu, flags, hwFamily, mac: Uint8Array(6) }
napi_value IfGet(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  char name[64];
  if (!GetArgs(env, info, 1, argv) || !GetString(env, argv[0], name, sizeof(name))) {
    return nullptr;
  }
  IfInfo ifi;
  const char* syscall = "";
  int r = if_get(name, &ifi, &syscall);
  if (r < 0) return ThrowErrno(env, -r, syscall, name);
  napi_value out, mac_ab, mac;
  void* mac_data = nullptr;
  CHECK_NAPI(env, napi_create_object(env, &out));
  CHECK_NAPI(env, napi_create_arraybuffer(env, 6, &mac_data, &mac_ab));
  memcpy(mac_data, ifi.mac, 6);
  CHECK_NAPI(env, napi_create_typedarray(env, napi_uint8_array, 6, mac_ab, 0, &mac));
  napi_set_named_property(env, out, "index", U32(env, static_cast<uint32_t>(ifi.index)));
  napi_set_named_property(env, out, "mtu", U32(env, static_cast<uint32_t>(ifi.mtu)));
  napi_set_named_property(env, out, "flags", U32(env, ifi.flags));
  napi_set_named_property(env, out, "hwFamily", U32(env, ifi.hw_family));
  napi_set_named_property(env, out, "mac", mac);
  return out;
}

napi_value IfSetMtu(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  char name[64];
  uint32_t mtu;
  if (!GetArgs(env, info, 2, argv) || !GetString(env, argv[0], name, sizeof(name)) ||
      !GetU32(env, argv[1], &mtu)) {
    return nullptr;
  }
  const char* syscall = "";
  int r = if_set_mtu(name, static_cast<int>(mtu), &syscall);
  if (r < 0) return ThrowErrno(env, -r, syscall, name);
  return nullptr;
}

napi_value IfSetMac(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  char name[64];
  uint8_t* mac;
  size_t len;
  if (!GetArgs(env, info, 2, argv) || !GetString(env, argv[0], name, sizeof(name)) ||
      !GetBytes(env, argv[1], &mac, &len)) {
    return nullptr;
  }
  if (len != 6) {
    napi_throw_range_error(env, nullptr, "a MAC address has 6 bytes");
    return nullptr;
  }
  const char* syscall = "";
  int r = if_set_mac(name, mac, &syscall);
  if (r < 0) return ThrowErrno(env, -r, syscall, name);
  return nullptr;
}

// ifSetFlags(name, set, clear) -> new flags
napi_value IfSetFlags(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  char name[64];
  uint32_t set, clear;
  if (!GetArgs(env, info, 3, argv) || !GetString(env, argv[0], name, sizeof(name)) ||
      !GetU32(env, argv[1], &set) || !GetU32(env, argv[2], &clear)) {
    return nullptr;
  }
  unsigned flags = 0;
  const char* syscall = "";
  int r = if_set_flags(name, set, clear, &flags, &syscall);
  if (r < 0) return ThrowErrno(env, -r, syscall, name);
  return U32(env, flags);
}

// Common tail of the two write functions: a fatal error throws, after the
// frames before it were written; otherwise the count written is returned
// and the caller counts the rest as dropped.
napi_value WriteResultValue(napi_env env, uint32_t written, int fatal) {
  if (fatal != 0) return ThrowErrno(env, fatal, "write", "device");
  return U32(env, written);
}

// writeFrames(fd, frames: Uint8Array[], count) -> frames written.
// One crossing per batch; one write(2) per frame.
napi_value WriteFrames(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  int32_t fd;
  uint32_t count, length;
  if (!GetArgs(env, info, 3, argv) || !GetI32(env, argv[0], &fd) ||
      !GetU32(env, argv[2], &count)) {
    return nullptr;
  }
  CHECK_NAPI(env, napi_get_array_length(env, argv[1], &length));
  if (count > length) count = length;
  uint32_t written = 0;
  for (uint32_t i = 0; i < count; i++) {
    napi_value frame;
    uint8_t* data;
    size_t len;
    CHECK_NAPI(env, napi_get_element(env, argv[1], i, &frame));
    if (!GetBytes(env, frame, &data, &len)) return nullptr;
    int r = write_frame(fd, data, len);
    if (r == 0) {
      written++;
    } else if (write_error_is_fatal(-r)) {
      return WriteResultValue(env, written, -r);
    }
  }
  return WriteResultValue(env, written, 0);
}

// writePacked(fd, data, offsets, lengths, count) -> frames written.
// The zero-copy form: frames lie in one buffer, as a read batch delivers
// them. Frames outside the buffer are dropped, never read out of bounds.
napi_value WritePacked(napi_env env, napi_callback_info info) {
  napi_value argv[5];
  int32_t fd;
  uint8_t* data;
  size_t data_len, n_off, n_len;
  uint32_t *offsets, *lengths, count;
  if (!GetArgs(env, info, 5, argv) || !GetI32(env, argv[0], &fd) ||
      !GetBytes(env, argv[1], &data, &data_len) ||
      !GetU32Array(env, argv[2], &offsets, &n_off) ||
      !GetU32Array(env, argv[3], &lengths, &n_len) || !GetU32(env, argv[4], &count)) {
    return nullptr;
  }
  if (count > n_off) count = static_cast<uint32_t>(n_off);
  if (count > n_len) count = static_cast<uint32_t>(n_len);
  uint32_t written = 0;
  for (uint32_t i = 0; i < count; i++) {
    uint64_t off = offsets[i], len = lengths[i];
    if (off + len > data_len) continue;
    int r = write_frame(fd, data + off, static_cast<size_t>(len));
    if (r == 0) {
      written++;
    } else if (write_error_is_fatal(-r)) {
      return WriteResultValue(env, written, -r);
    }
  }
  return WriteResultValue(env, written, 0);
}

FrameSource* GetReader(napi_env env, napi_value v) {
  void* p = nullptr;
  if (napi_get_value_external(env, v, &p) != napi_ok || p == nullptr) {
    napi_throw_type_error(env, nullptr, "expected a reader handle");
    return nullptr;
  }
  return static_cast<FrameSource*>(p);
}

// Starts a Reader thread or a main-thread Poller over fd and returns
// { handle, pool, dataOffset, slotBytes } (readerStart, udpReaderStart).
napi_value StartSource(napi_env env, int fd, const ReaderConfig& c, napi_value callback,
                       bool main_thread) {
  FrameSource* r = nullptr;
  napi_value pool = nullptr;
  napi_status started;
  if (main_thread) {
    Poller* p = nullptr;
    started = Poller::Create(env, fd, c, callback, &p, &pool);
    r = p;
  } else {
    Reader* t = nullptr;
    started = Reader::Create(env, fd, c, callback, &t, &pool);
    r = t;
  }
  if (started != napi_ok) {
    ThrowIfNone(env, "could not start the reader (out of memory?)");
    return nullptr;
  }
  napi_value out, handle;
  // The handle owns one reference; collecting it stops a forgotten reader.
  CHECK_NAPI(env, napi_create_external(
                      env, r,
                      [](napi_env, void* data, void*) {
                        FrameSource* reader = static_cast<FrameSource*>(data);
                        reader->Stop();
                        reader->Unref();
                      },
                      nullptr, &handle));
  CHECK_NAPI(env, napi_create_object(env, &out));
  napi_set_named_property(env, out, "handle", handle);
  napi_set_named_property(env, out, "pool", pool);
  napi_set_named_property(env, out, "dataOffset", F64(env, static_cast<double>(r->data_offset())));
  napi_set_named_property(env, out, "slotBytes", F64(env, static_cast<double>(r->slot_bytes())));
  return out;
}


// readerStart(fd, slots, batchFrames, slotBytes, frameMax, headroom,
//             tailroom, callback, mainThread) -> { handle, pool, dataOffset, slotBytes }
// mainThread: a Poller on the event loop instead of a Reader thread.
napi_value ReaderStart(napi_env env, napi_callback_info info) {
  napi_value argv[9];
  int32_t fd;
  ReaderConfig c;
  bool main_thread = false;
  if (!GetArgs(env, info, 9, argv) || !GetI32(env, argv[0], &fd) ||
      !GetU32(env, argv[1], &c.slots) || !GetU32(env, argv[2], &c.batch_frames) ||
      !GetU32(env, argv[3], &c.slot_bytes) || !GetU32(env, argv[4], &c.frame_max) ||
      !GetU32(env, argv[5], &c.headroom) || !GetU32(env, argv[6], &c.tailroom)) {
    return nullptr;
  }
  // index.ts validates these for people; this guards the memory arithmetic.
  if (c.slots < 1 || c.slots > 1024 || c.batch_frames < 1 || c.batch_frames > 4096 ||
      c.frame_max < 64 || c.frame_max > (1u << 20) || c.headroom > 4096 || c.tailroom > 4096 ||
      c.slot_bytes > (64u << 20) ||
      size_t{c.slot_bytes} < size_t{c.headroom} + c.frame_max + c.tailroom) {
    napi_throw_range_error(env, nullptr, "reader configuration out of range");
    return nullptr;
  }
  c.slot_bytes = (c.slot_bytes + 63) / 64 * 64;
  napi_get_value_bool(env, argv[8], &main_thread);
  return StartSource(env, fd, c, argv[7], main_thread);
}

napi_value ReaderRelease(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  uint32_t slot;
  if (!GetArgs(env, info, 2, argv)) return nullptr;
  FrameSource* r = GetReader(env, argv[0]);
  if (r == nullptr || !GetU32(env, argv[1], &slot)) return nullptr;
  r->Release(slot);
  return nullptr;
}

// readerSetFlow(handle, cache | null, device): the fast path for a reader
// (flow-cache.h); device is the device slot of flowCacheAddDevice, or -1
// for a UDP socket.
napi_value ReaderSetFlow(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  if (!GetArgs(env, info, 3, argv)) return nullptr;
  FrameSource* r = GetReader(env, argv[0]);
  if (r == nullptr) return nullptr;
  napi_valuetype t;
  napi_typeof(env, argv[1], &t);
  FlowCache* cache = nullptr;
  if (t != napi_null && t != napi_undefined) {
    cache = GetFlowCache(env, argv[1]);
    if (cache == nullptr) return nullptr;
  }
  int32_t device = -1;
  if (napi_get_value_int32(env, argv[2], &device) != napi_ok) {
    ThrowIfNone(env, "readerSetFlow(handle, cache, device)");
    return nullptr;
  }
  r->SetFlow(cache, device);
  return nullptr;
}

napi_value ReaderStop(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  if (!GetArgs(env, info, 1, argv)) return nullptr;
  FrameSource* r = GetReader(env, argv[0]);
  if (r == nullptr) return nullptr;
  r->Stop();
  return nullptr;
}

napi_value ReaderRef(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  bool ref = true;
  if (!GetArgs(env, info, 2, argv)) return nullptr;
  FrameSource* r = GetReader(env, argv[0]);
  if (r == nullptr) return nullptr;
  napi_get_value_bool(env, argv[1], &ref);
  r->SetRef(ref);
  return nullptr;
}

// readerStats(handle) -> { batches, frames, bytes, slotWaits, truncated, groMessages,
//                          groDatagrams, readThroughs, lends }
napi_value ReaderStats(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  if (!GetArgs(env, info, 1, argv)) return nullptr;
  FrameSource* r = GetReader(env, argv[0]);
  if (r == nullptr) return nullptr;
  const peertap::ReaderStats& s = r->stats();
  napi_value out;
  CHECK_NAPI(env, napi_create_object(env, &out));
  auto put = [&](const char* key, const std::atomic<uint64_t>& v) {
    napi_set_named_property(env, out, key,
                            F64(env, static_cast<double>(v.load(std::memory_order_relaxed))));
  };
  put("batches", s.batches);
  put("frames", s.frames);
  put("bytes", s.bytes);
  put("slotWaits", s.slot_waits);
  put("truncated", s.truncated);
  put("groMessages", s.gro_messages);
  put("groDatagrams", s.gro_datagrams);
  put("readThroughs", s.read_throughs);
  put("lends", s.lends);
  return out;
}

// udpOpen(family, bindRecord, rcvbuf, sndbuf, dontFragment, gro) -> { fd, port, gro }
// bindRecord: an address record (udp.h); gro (out): whether the kernel took
// UDP_GRO. Throws with errno and syscall.
napi_value UdpOpen(napi_env env, napi_callback_info info) {
  napi_value argv[6];
  uint32_t family, rcvbuf, sndbuf;
  uint8_t* rec;
  size_t rec_len;
  bool dont_fragment = false, gro = false, gro_on = false;
  if (!GetArgs(env, info, 6, argv) || !GetU32(env, argv[0], &family) ||
      !GetBytes(env, argv[1], &rec, &rec_len) || !GetU32(env, argv[2], &rcvbuf) ||
      !GetU32(env, argv[3], &sndbuf)) {
    return nullptr;
  }
  napi_get_value_bool(env, argv[4], &dont_fragment);
  napi_get_value_bool(env, argv[5], &gro);
  if ((family != 4 && family != 6) || rec_len < kUdpAddrBytes || rcvbuf > (1u << 30) ||
      sndbuf > (1u << 30)) {
    napi_throw_range_error(env, nullptr, "UDP socket configuration out of range");
    return nullptr;
  }
  uint16_t port = 0;
  const char* syscall = "";
  int fd = udp_open(static_cast<int>(family), rec, static_cast<int>(rcvbuf),
                    static_cast<int>(sndbuf), dont_fragment, gro, &gro_on, &port, &syscall);
  if (fd < 0) return ThrowErrno(env, -fd, syscall, "UDP socket");
  napi_value out;
  CHECK_NAPI(env, napi_create_object(env, &out));
  napi_set_named_property(env, out, "fd", U32(env, static_cast<uint32_t>(fd)));
  napi_set_named_property(env, out, "port", U32(env, port));
  napi_value gro_value;
  napi_get_boolean(env, gro_on, &gro_value);
  napi_set_named_property(env, out, "gro", gro_value);
  return out;
}

// udpSend(fd, family, datagrams: Uint8Array[], records: Uint8Array, count,
//         gso: Float64Array(3) | undefined) -> datagrams the kernel took.
// gso: [enabled (1/0), GSO messages sent, datagrams in them], read and
// updated here; undefined sends without GSO. One crossing and, per 1024 datagrams, one
// sendmmsg(2) in the common case; record i (udp.h) is datagram i's
// destination. Refused datagrams and those a full socket buffer left over
// are not sent (the caller counts them); throws only when the socket itself
// is unusable (EBADF, ...).
napi_value UdpSend(napi_env env, napi_callback_info info) {
  napi_value argv[6];
  int32_t fd;
  uint32_t family, count, length;
  uint8_t* records;
  size_t records_len;
  if (!GetArgs(env, info, 6, argv) || !GetI32(env, argv[0], &fd) ||
      !GetU32(env, argv[1], &family) || !GetBytes(env, argv[3], &records, &records_len) ||
      !GetU32(env, argv[4], &count)) {
    return nullptr;
  }
  CHECK_NAPI(env, napi_get_array_length(env, argv[2], &length));
  if (count > length) count = length;
  if (count > records_len / kUdpAddrBytes) count = static_cast<uint32_t>(records_len / kUdpAddrBytes);
  static thread_local std::vector<const uint8_t*> datas;
  static thread_local std::vector<size_t> lengths;
  datas.resize(count);
  lengths.resize(count);
  for (uint32_t i = 0; i < count; i++) {
    napi_value d;
    uint8_t* p;
    size_t len;
    CHECK_NAPI(env, napi_get_element(env, argv[2], i, &d));
    if (!GetBytes(env, d, &p, &len)) return nullptr;
    datas[i] = p;
    lengths[i] = len;
  }
  double* gso_state = nullptr;
  bool is_typed = false;
  napi_is_typedarray(env, argv[5], &is_typed);
  if (is_typed) {
    napi_typedarray_type type;
    size_t n = 0;
    void* p = nullptr;
    if (napi_get_typedarray_info(env, argv[5], &type, &n, &p, nullptr, nullptr) == napi_ok &&
        type == napi_float64_array && n >= 3) {
      gso_state = static_cast<double*>(p);
    }
  }
  UdpGso gso;
  if (gso_state != nullptr) gso.enabled = gso_state[0] != 0;
  UdpSendResult r = udp_send(fd, static_cast<int>(family), count, datas.data(), lengths.data(),
                             records, gso_state != nullptr ? &gso : nullptr);
  if (gso_state != nullptr) {
    gso_state[0] = gso.enabled ? 1 : 0;
    gso_state[1] += static_cast<double>(gso.messages);
    gso_state[2] += static_cast<double>(gso.segments);
  }
  if (r.fatal != 0) return ThrowErrno(env, r.fatal, "sendmmsg", "UDP socket");
  return U32(env, r.sent);
}

// udpReaderStart(fd, slots, batchFrames, frameMax, callback, mainThread, gro)
// -> { handle, pool, dataOffset, slotBytes }: recvmmsg(2) batches; the
// reader functions (release, stop, ref, stats) take its handle. gro: the
// socket has UDP_GRO on, so received messages are split (udp.h).
napi_value UdpReaderStart(napi_env env, napi_callback_info info) {
  napi_value argv[7];
  int32_t fd;
  ReaderConfig c;
  bool main_thread = false, gro = false;
  if (!GetArgs(env, info, 7, argv) || !GetI32(env, argv[0], &fd) ||
      !GetU32(env, argv[1], &c.slots) || !GetU32(env, argv[2], &c.batch_frames) ||
      !GetU32(env, argv[3], &c.frame_max)) {
    return nullptr;
  }
  if (c.slots < 1 || c.slots > 1024 || c.batch_frames < 1 || c.batch_frames > 1024 ||
      c.frame_max < 64 || c.frame_max > 65535) {
    napi_throw_range_error(env, nullptr, "UDP reader configuration out of range");
    return nullptr;
  }
  c.kind = ReaderConfig::kUdp;
  c.headroom = 0;
  c.tailroom = 0;
  c.slot_bytes = static_cast<uint32_t>((size_t{c.frame_max} + 7) / 8 * 8 * c.batch_frames);
  c.slot_bytes = (c.slot_bytes + 63) / 64 * 64;
  napi_get_value_bool(env, argv[5], &main_thread);
  napi_get_value_bool(env, argv[6], &gro);
  c.gro = gro;
  return StartSource(env, fd, c, argv[4], main_thread);
}

// udpGroReplay(messages: Uint8Array[], gsoSizes: number[], flags: number[],
//              batchFrames, frameMax) -> { batches: Uint8Array[][],
//              truncated, groMessages, groDatagrams }
// For tests: the receive side's GRO split (udp.h NewUdpReplay, DrainUdp) over
// messages as if one recvmmsg(2) had returned them (gsoSizes[i] < 0: no
// UDP_GRO control message; flags: msg_flags), slot after slot of
// batchFrames records; each batch's datagrams copied out.
napi_value UdpGroReplay(napi_env env, napi_callback_info info) {
  napi_value argv[5];
  uint32_t count, batch_frames, frame_max;
  if (!GetArgs(env, info, 5, argv) || !GetU32(env, argv[3], &batch_frames) ||
      !GetU32(env, argv[4], &frame_max)) {
    return nullptr;
  }
  CHECK_NAPI(env, napi_get_array_length(env, argv[0], &count));
  if (batch_frames < 1 || batch_frames > 1024 || frame_max < 1 || frame_max > 65535 ||
      count > batch_frames || count > kGroMaxMessages) {
    napi_throw_range_error(env, nullptr, "replay configuration out of range");
    return nullptr;
  }
  std::vector<const uint8_t*> datas(count);
  std::vector<size_t> lengths(count);
  std::vector<int32_t> gso_sizes(count), flags(count);
  for (uint32_t i = 0; i < count; i++) {
    napi_value v;
    uint8_t* p;
    CHECK_NAPI(env, napi_get_element(env, argv[0], i, &v));
    if (!GetBytes(env, v, &p, &lengths[i])) return nullptr;
    datas[i] = p;
    CHECK_NAPI(env, napi_get_element(env, argv[1], i, &v));
    if (!GetI32(env, v, &gso_sizes[i])) return nullptr;
    CHECK_NAPI(env, napi_get_element(env, argv[2], i, &v));
    if (!GetI32(env, v, &flags[i])) return nullptr;
  }
  UdpScratch* s = NewUdpReplay(batch_frames, count, datas.data(), lengths.data(),
                               gso_sizes.data(), flags.data());
  if (s == nullptr) {
    ThrowIfNone(env, "out of memory");
    return nullptr;
  }
  ReaderConfig c;
  c.kind = ReaderConfig::kUdp;
  c.gro = true;
  c.slots = 1;
  c.batch_frames = batch_frames;
  c.frame_max = frame_max;
  c.slot_bytes = static_cast<uint32_t>((size_t{frame_max} + 7) / 8 * 8 * batch_frames);
  std::vector<uint8_t> slot(c.slot_bytes);
  std::vector<uint32_t> meta(size_t{batch_frames} * MetaWords(c));
  peertap::ReaderStats stats;
  napi_value out, batches;
  uint32_t b = 0;
  bool ok = napi_create_object(env, &out) == napi_ok && napi_create_array(env, &batches) == napi_ok;
  // Every fill delivers at least one datagram or consumes one message, so
  // this ends; a slot's datagrams never outlast it here.
  while (ok && UdpPending(s)) {
    SlotFill f = DrainUdp(c, slot.data(), meta.data(), stats, s);
    if (f.count == 0) continue;
    napi_value batch;
    ok = napi_create_array_with_length(env, f.count, &batch) == napi_ok;
    for (uint32_t i = 0; ok && i < f.count; i++) {
      void* p = nullptr;
      napi_value ab, view;
      uint32_t len = meta[batch_frames + i];
      ok = napi_create_arraybuffer(env, len, &p, &ab) == napi_ok &&
           napi_create_typedarray(env, napi_uint8_array, len, ab, 0, &view) == napi_ok &&
           napi_set_element(env, batch, i, view) == napi_ok;
      if (ok && len > 0) memcpy(p, slot.data() + meta[i], len);
    }
    ok = ok && napi_set_element(env, batches, b++, batch) == napi_ok;
  }
  DeleteUdpScratch(s);
  if (!ok) {
    ThrowIfNone(env, "internal Node-API failure: udpGroReplay");
    return nullptr;
  }
  napi_set_named_property(env, out, "batches", batches);
  napi_set_named_property(env, out, "truncated", F64(env, static_cast<double>(stats.truncated)));
  napi_set_named_property(env, out, "groMessages",
                          F64(env, static_cast<double>(stats.gro_messages)));
  napi_set_named_property(env, out, "groDatagrams",
                          F64(env, static_cast<double>(stats.gro_datagrams)));
  return out;
}

napi_value Init(napi_env env, napi_value exports) {
  struct Fn {
    const char* name;
    napi_callback cb;
  } fns[] = {
      {"open", Open},
      {"close", Close},
      {"adopt", Adopt},
      {"setOffload", SetOffload},
      {"ifGet", IfGet},
      {"ifSetMtu", IfSetMtu},
      {"ifSetMac", IfSetMac},
      {"ifSetFlags", IfSetFlags},
      {"writeFrames", WriteFrames},
      {"writePacked", WritePacked},
      {"readerStart", ReaderStart},
      {"readerRelease", ReaderRelease},
      {"readerStop", ReaderStop},
      {"readerRef", ReaderRef},
      {"readerSetFlow", ReaderSetFlow},
      {"readerStats", ReaderStats},
      {"udpOpen", UdpOpen},
      {"udpSend", UdpSend},
      {"udpReaderStart", UdpReaderStart},
      {"udpGroReplay", UdpGroReplay},
  };
  for (const Fn& f : fns) {
    napi_value fn;
    CHECK_NAPI(env, napi_create_function(env, f.name, NAPI_AUTO_LENGTH, f.cb, nullptr, &fn));
    CHECK_NAPI(env, napi_set_named_property(env, exports, f.name, fn));
  }
  if (!RegisterAead(env, exports)) {
    ThrowIfNone(env, "internal Node-API failure: RegisterAead");
    return nullptr;
  }
  if (!RegisterFlow(env, exports)) {
    ThrowIfNone(env, "internal Node-API failure: RegisterFlow");
    return nullptr;
  }
  // The flag values index.ts passes to open(), from <linux/if_tun.h>.
  napi_value flags;
  CHECK_NAPI(env, napi_create_object(env, &flags));
  napi_set_named_property(env, flags, "IFF_TUN", U32(env, IFF_TUN));
  napi_set_named_property(env, flags, "IFF_TAP", U32(env, IFF_TAP));
  napi_set_named_property(env, flags, "IFF_NO_PI", U32(env, IFF_NO_PI));
  napi_set_named_property(env, flags, "IFF_VNET_HDR", U32(env, IFF_VNET_HDR));
  napi_set_named_property(env, exports, "flags", flags);
  // TUNSETOFFLOAD bits, from <linux/if_tun.h> (USO since Linux 6.2).
  napi_value offloads;
  CHECK_NAPI(env, napi_create_object(env, &offloads));
  napi_set_named_property(env, offloads, "TUN_F_CSUM", U32(env, TUN_F_CSUM));
  napi_set_named_property(env, offloads, "TUN_F_TSO4", U32(env, TUN_F_TSO4));
  napi_set_named_property(env, offloads, "TUN_F_TSO6", U32(env, TUN_F_TSO6));
  napi_set_named_property(env, offloads, "TUN_F_TSO_ECN", U32(env, TUN_F_TSO_ECN));
  napi_set_named_property(env, exports, "offloads", offloads);
  return exports;
}

}  // namespace
}  // namespace peertap

NAPI_MODULE(NODE_GYP_MODULE_NAME, peertap::Init)
