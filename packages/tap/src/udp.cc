// UDP socket I/O in batches; see udp.h.
#include "udp.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <new>
#include <vector>

namespace peertap {

#ifndef UDP_GRO
#define UDP_GRO 104  // <linux/udp.h>, Linux 5.0; older C libraries lack it
#endif

namespace {

// Room for the UDP_GRO control message (an int) and some to spare, so that
// MSG_CTRUNC means something is wrong.
union GroCmsg {
  char buf[CMSG_SPACE(sizeof(int)) + 32];
  cmsghdr align;
};

}  // namespace

struct UdpScratch {
  std::vector<mmsghdr> msgs;
  std::vector<iovec> iovs;
  std::vector<sockaddr_in6> names;  // large enough for either family
  // GRO only: gro_slots receive buffers of kGroBufBytes, kGroStride apart
  // (udp.h), and where delivering the last recvmmsg's messages stands.
  uint8_t* gro_mem = nullptr;
  size_t gro_bytes = 0;
  uint32_t gro_slots = 0;
  std::vector<GroCmsg> cmsgs;
  uint32_t received = 0;  // messages the last recvmmsg returned
  uint32_t next = 0;      // the first of them not yet wholly delivered
  bool open = false;      // whether `next` is parsed (seg, off, rec valid)
  size_t seg = 0;         // its segment size (its length when it is one datagram)
  size_t off = 0;         // its bytes already delivered or dropped
  uint8_t rec[kUdpAddrBytes];  // its source

  ~UdpScratch() {
    if (gro_mem != nullptr) munmap(gro_mem, gro_bytes);
  }
};

UdpScratch* NewUdpScratch(uint32_t batch_frames, bool gro) {
  UdpScratch* s = new (std::nothrow) UdpScratch();
  if (s == nullptr) return nullptr;
  s->msgs.resize(batch_frames);
  s->iovs.resize(batch_frames);
  s->names.resize(batch_frames);
  if (gro) {
    s->gro_slots = batch_frames < kGroMaxMessages ? batch_frames : kGroMaxMessages;
    s->gro_bytes = size_t{s->gro_slots} * kGroStride;
    // Anonymous pages, untouched until the kernel writes a message there.
    void* mem = mmap(nullptr, s->gro_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
                     -1, 0);
    if (mem == MAP_FAILED) {
      delete s;
      return nullptr;
    }
    s->gro_mem = static_cast<uint8_t*>(mem);
    s->cmsgs.resize(s->gro_slots);
  }
  return s;
}

bool UdpPending(const UdpScratch* s) { return s != nullptr && s->next < s->received; }

void DeleteUdpScratch(UdpScratch* s) { delete s; }

namespace {

const uint8_t kV4Mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

// sockaddr -> address record; false for a family we do not handle.
bool to_record(const sockaddr* sa, uint8_t* rec) {
  memset(rec, 0, kUdpAddrBytes);
  if (sa->sa_family == AF_INET) {
    const sockaddr_in* in = reinterpret_cast<const sockaddr_in*>(sa);
    rec[0] = 4;
    memcpy(rec + 2, &in->sin_port, 2);
    memcpy(rec + 4, &in->sin_addr, 4);
    return true;
  }
  if (sa->sa_family == AF_INET6) {
    const sockaddr_in6* in6 = reinterpret_cast<const sockaddr_in6*>(sa);
    memcpy(rec + 2, &in6->sin6_port, 2);
    if (memcmp(&in6->sin6_addr, kV4Mapped, 12) == 0) {
      rec[0] = 4;
      memcpy(rec + 4, reinterpret_cast<const uint8_t*>(&in6->sin6_addr) + 12, 4);
    } else {
      rec[0] = 6;
      memcpy(rec + 4, &in6->sin6_addr, 16);
    }
    return true;
  }
  return false;
}

// Address record -> sockaddr for a socket of `family`; its length, or 0
// when the record cannot be sent from that socket.
socklen_t from_record(const uint8_t* rec, int family, sockaddr_in6* out) {
  memset(out, 0, sizeof(*out));
  if (family == 4) {
    if (rec[0] != 4) return 0;
    sockaddr_in* in = reinterpret_cast<sockaddr_in*>(out);
    in->sin_family = AF_INET;
    memcpy(&in->sin_port, rec + 2, 2);
    memcpy(&in->sin_addr, rec + 4, 4);
    return sizeof(sockaddr_in);
  }
  out->sin6_family = AF_INET6;
  memcpy(&out->sin6_port, rec + 2, 2);
  if (rec[0] == 4) {
    uint8_t* a = reinterpret_cast<uint8_t*>(&out->sin6_addr);
    memcpy(a, kV4Mapped, 12);
    memcpy(a + 12, rec + 4, 4);
  } else if (rec[0] == 6) {
    memcpy(&out->sin6_addr, rec + 4, 16);
  } else {
    return 0;
  }
  return sizeof(sockaddr_in6);
}

// Errors after which the socket cannot be used: stop instead of skipping.
bool fatal_socket_error(int err) {
  return err == EBADF || err == ENOTSOCK || err == EFAULT || err == EOPNOTSUPP;
}

}  // namespace

int udp_open(int family, const uint8_t* bind_addr, int rcvbuf, int sndbuf, bool dont_fragment,
             bool gro, bool* gro_on, uint16_t* port, const char** syscall) {
  *gro_on = false;
  int fd = socket(family == 6 ? AF_INET6 : AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    *syscall = "socket";
    return -errno;
  }
  auto fail = [&](const char* call) {
    int err = errno;
    close(fd);
    *syscall = call;
    return -err;
  };
  // Best effort, as node:dgram's setRecvBufferSize: the kernel caps them.
  if (rcvbuf > 0) setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
  if (sndbuf > 0) setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
  if (dont_fragment) {
    int v = family == 6 ? IPV6_PMTUDISC_PROBE : IP_PMTUDISC_PROBE;
    int r = family == 6 ? setsockopt(fd, IPPROTO_IPV6, IPV6_MTU_DISCOVER, &v, sizeof(v))
                        : setsockopt(fd, IPPROTO_IP, IP_MTU_DISCOVER, &v, sizeof(v));
    if (r < 0) return fail("setsockopt(IP_MTU_DISCOVER)");
  }
  if (gro) {
    // Refused (ENOPROTOOPT) before Linux 5.0: GRO simply stays off.
    int one = 1;
    *gro_on = setsockopt(fd, IPPROTO_UDP, UDP_GRO, &one, sizeof(one)) == 0;
  }
  sockaddr_in6 sa;
  socklen_t len = from_record(bind_addr, family, &sa);
  if (len == 0) {
    close(fd);
    *syscall = "bind";
    return -EAFNOSUPPORT;
  }
  if (bind(fd, reinterpret_cast<sockaddr*>(&sa), len) < 0) return fail("bind");
  sockaddr_in6 bound;
  socklen_t blen = sizeof(bound);
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&bound), &blen) < 0) return fail("getsockname");
  uint8_t rec[kUdpAddrBytes];
  to_record(reinterpret_cast<sockaddr*>(&bound), rec);
  *port = static_cast<uint16_t>((rec[2] << 8) | rec[3]);
  return fd;
}

namespace {

// Message i of a receive: iovec i (set by the caller), source address slot
// i, and with `control` the control buffer for a UDP_GRO segment size.
void InitMsg(UdpScratch* s, uint32_t i, bool control) {
  mmsghdr& m = s->msgs[i];
  memset(&m, 0, sizeof(m));
  m.msg_hdr.msg_name = &s->names[i];
  m.msg_hdr.msg_namelen = sizeof(sockaddr_in6);
  m.msg_hdr.msg_iov = &s->iovs[i];
  m.msg_hdr.msg_iovlen = 1;
  if (control) {
    m.msg_hdr.msg_control = s->cmsgs[i].buf;
    m.msg_hdr.msg_controllen = sizeof(s->cmsgs[i].buf);
  }
}

// One recvmmsg(2) of the first `vlen` messages without waiting, again on
// EINTR; its result (-1 with errno set on failure).
int RecvMsgs(int fd, UdpScratch* s, uint32_t vlen) {
  int n;
  do {
    n = recvmmsg(fd, s->msgs.data(), vlen, MSG_DONTWAIT, nullptr);
  } while (n < 0 && errno == EINTR);
  return n;
}

// Without GRO: one recvmmsg(2) straight into the slot.
SlotFill RecvPlain(int fd, const ReaderConfig& c, uint8_t* data, uint32_t* meta,
                   ReaderStats& stats, UdpScratch* s) {
  SlotFill f;
  // Each datagram lands at a fixed stride (the kernel needs every buffer
  // before it knows any length), then is packed down behind the one before.
  const size_t stride = (size_t{c.frame_max} + 7) / 8 * 8;
  uint32_t vlen = c.batch_frames;
  if (size_t{vlen} * stride > c.slot_bytes) vlen = static_cast<uint32_t>(c.slot_bytes / stride);
  for (uint32_t i = 0; i < vlen; i++) {
    s->iovs[i] = {data + i * stride, c.frame_max};
    InitMsg(s, i, false);
  }
  const int n = RecvMsgs(fd, s, vlen);
  if (n < 0) {
    // EAGAIN: nothing now. A queued socket error (an ICMP report) is
    // cleared by this call and means nothing to an unconnected socket.
    if (fatal_socket_error(errno) || errno == EINVAL) f.err = errno;
    return f;
  }
  uint32_t* offsets = meta;
  uint32_t* lengths = meta + c.batch_frames;
  uint8_t* records = reinterpret_cast<uint8_t*>(meta + 2 * size_t{c.batch_frames});
  size_t pos = 0;
  for (int i = 0; i < n; i++) {
    const mmsghdr& m = s->msgs[i];
    uint8_t* rec = records + size_t{f.count} * kUdpAddrBytes;
    if ((m.msg_hdr.msg_flags & MSG_TRUNC) != 0) {
      stats.truncated.fetch_add(1, std::memory_order_relaxed);
      continue;
    }
    if (!to_record(static_cast<const sockaddr*>(m.msg_hdr.msg_name), rec)) continue;
    size_t len = m.msg_len;
    if (pos != i * stride) memmove(data + pos, data + i * stride, len);
    offsets[f.count] = static_cast<uint32_t>(pos);
    lengths[f.count] = static_cast<uint32_t>(len);
    f.count++;
    f.bytes += len;
    pos = (pos + len + 7) / 8 * 8;
  }
  return f;
}

// The UDP_GRO segment size of a received message: > 0 when the kernel put
// several datagrams in it, 0 when it is one datagram (no control message).
size_t gro_size(const msghdr& h) {
  for (const cmsghdr* cm = CMSG_FIRSTHDR(&h); cm != nullptr;
       cm = CMSG_NXTHDR(const_cast<msghdr*>(&h), const_cast<cmsghdr*>(cm))) {
    if (cm->cmsg_level == IPPROTO_UDP && cm->cmsg_type == UDP_GRO &&
        cm->cmsg_len >= CMSG_LEN(sizeof(int))) {
      int v;
      memcpy(&v, CMSG_DATA(cm), sizeof(v));
      return v > 0 ? static_cast<size_t>(v) : 0;
    }
  }
  return 0;
}

// Delivers the scratch's received messages into the slot from `pos` on,
// one datagram per record, until they are all out or the slot has
// batch_frames records; what is left stays pending for the next slot.
void Drain(const ReaderConfig& c, uint8_t* data, uint32_t* meta, ReaderStats& stats,
           UdpScratch* s, SlotFill& f, size_t& pos) {
  uint32_t* offsets = meta;
  uint32_t* lengths = meta + c.batch_frames;
  uint8_t* records = reinterpret_cast<uint8_t*>(meta + 2 * size_t{c.batch_frames});
  while (s->next < s->received && f.count < c.batch_frames) {
    const mmsghdr& m = s->msgs[s->next];
    const uint8_t* msg = s->gro_mem + size_t{s->next} * kGroStride;
    const size_t len = m.msg_len;
    if (!s->open) {
      size_t seg = gro_size(m.msg_hdr);
      // Cut short (longer than a buffer: no GRO message is), or its control
      // message lost (a GRO message would pass as one datagram): drop it.
      if ((m.msg_hdr.msg_flags & MSG_TRUNC) != 0 ||
          ((m.msg_hdr.msg_flags & MSG_CTRUNC) != 0 && seg == 0)) {
        stats.truncated.fetch_add(1, std::memory_order_relaxed);
        s->next++;
        continue;
      }
      if (!to_record(static_cast<const sockaddr*>(m.msg_hdr.msg_name), s->rec)) {
        s->next++;
        continue;
      }
      if (seg > 0) {
        // Segments of seg bytes, the last possibly shorter; a gso_size at or
        // above the length (the kernel sends none) leaves one datagram.
        stats.gro_messages.fetch_add(1, std::memory_order_relaxed);
        stats.gro_datagrams.fetch_add(len == 0 ? 1 : (len + seg - 1) / seg,
                                      std::memory_order_relaxed);
      }
      s->seg = seg == 0 || seg >= len ? len : seg;  // >= 1 unless len is 0
      s->off = 0;
      s->open = true;
    }
    // One datagram (an empty message is one empty datagram).
    const size_t l = s->seg < len - s->off ? s->seg : len - s->off;
    if (l > c.frame_max) {
      stats.truncated.fetch_add(1, std::memory_order_relaxed);
    } else {
      memcpy(data + pos, msg + s->off, l);
      offsets[f.count] = static_cast<uint32_t>(pos);
      lengths[f.count] = static_cast<uint32_t>(l);
      memcpy(records + size_t{f.count} * kUdpAddrBytes, s->rec, kUdpAddrBytes);
      f.count++;
      f.bytes += l;
      pos = (pos + l + 7) / 8 * 8;  // a slot fits batch_frames of frame_max: always room
    }
    s->off += l;
    if (s->off >= len) {
      s->open = false;
      s->next++;
    }
  }
}

// With GRO: what is pending first, then (room left, nothing pending) one
// recvmmsg(2) of up to gro_slots messages into the scratch's 64 KiB
// buffers, split into the slot. One message per buffer: a message the
// kernel coalesced takes one buffer and yields a record per datagram it
// holds (up to 64 from a NIC's GRO; a local GSO sender's up to
// UDP_MAX_SEGMENTS, 64 or 128 by kernel).
SlotFill RecvGro(int fd, const ReaderConfig& c, uint8_t* data, uint32_t* meta,
                 ReaderStats& stats, UdpScratch* s) {
  SlotFill f;
  size_t pos = 0;
  Drain(c, data, meta, stats, s, f, pos);
  if (f.count >= c.batch_frames || UdpPending(s)) return f;
  uint32_t vlen = c.batch_frames - f.count;
  if (vlen > s->gro_slots) vlen = s->gro_slots;
  for (uint32_t i = 0; i < vlen; i++) {
    s->iovs[i] = {s->gro_mem + size_t{i} * kGroStride, kGroBufBytes};
    InitMsg(s, i, true);
  }
  const int n = RecvMsgs(fd, s, vlen);
  if (n < 0) {
    // As RecvPlain; datagrams already drained above still go up.
    if (fatal_socket_error(errno) || errno == EINVAL) f.err = errno;
    return f;
  }
  s->received = static_cast<uint32_t>(n);
  s->next = 0;
  s->open = false;
  Drain(c, data, meta, stats, s, f, pos);
  return f;
}

}  // namespace

SlotFill RecvUdpBatch(int fd, const ReaderConfig& c, uint8_t* data, uint32_t* meta,
                      ReaderStats& stats, UdpScratch* s) {
  return s->gro_mem != nullptr ? RecvGro(fd, c, data, meta, stats, s)
                               : RecvPlain(fd, c, data, meta, stats, s);
}

SlotFill DrainUdp(const ReaderConfig& c, uint8_t* data, uint32_t* meta, ReaderStats& stats,
                  UdpScratch* s) {
  SlotFill f;
  size_t pos = 0;
  Drain(c, data, meta, stats, s, f, pos);
  return f;
}

UdpScratch* NewUdpReplay(uint32_t batch_frames, uint32_t count, const uint8_t* const* datas,
                         const size_t* lengths, const int32_t* gso_sizes, const int32_t* flags) {
  UdpScratch* s = NewUdpScratch(batch_frames, true);
  if (s == nullptr) return nullptr;
  if (count > s->gro_slots) count = s->gro_slots;
  for (uint32_t i = 0; i < count; i++) {
    size_t len = lengths[i] < kGroBufBytes ? lengths[i] : kGroBufBytes;
    memcpy(s->gro_mem + size_t{i} * kGroStride, datas[i], len);
    sockaddr_in* in = reinterpret_cast<sockaddr_in*>(&s->names[i]);
    memset(&s->names[i], 0, sizeof(s->names[i]));
    in->sin_family = AF_INET;
    in->sin_port = htons(9);
    in->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    mmsghdr& m = s->msgs[i];
    memset(&m, 0, sizeof(m));
    m.msg_len = static_cast<unsigned int>(len);
    m.msg_hdr.msg_name = &s->names[i];
    m.msg_hdr.msg_namelen = sizeof(sockaddr_in);
    m.msg_hdr.msg_flags = flags[i];
    if (gso_sizes[i] >= 0) {
      m.msg_hdr.msg_control = s->cmsgs[i].buf;
      m.msg_hdr.msg_controllen = CMSG_SPACE(sizeof(int));
      cmsghdr* cm = CMSG_FIRSTHDR(&m.msg_hdr);
      cm->cmsg_level = IPPROTO_UDP;
      cm->cmsg_type = UDP_GRO;
      cm->cmsg_len = CMSG_LEN(sizeof(int));
      int v = gso_sizes[i];
      memcpy(CMSG_DATA(cm), &v, sizeof(v));
    }
  }
  s->received = count;
  return s;
}

namespace {

// One message of a round: `segs` datagrams from `first`; more than one
// only as a UDP GSO super-datagram (segments of `seg_size`, the last may be
// shorter; Documentation/networking/segmentation-offloads.rst).
struct OutMsg {
  uint32_t first;
  uint32_t segs;
  uint32_t seg_size;
  size_t bytes;
  bool open;  // every segment so far is seg_size long: one more may join
};

union GsoCmsg {
  char buf[CMSG_SPACE(sizeof(uint16_t))];
  cmsghdr align;
};

// Sends one datagram with sendmsg(2): the fallback for the datagrams of a
// GSO message the kernel refused. Returns 0 or an errno.
int send_one(int fd, int family, const uint8_t* data, size_t len, const uint8_t* rec) {
  sockaddr_in6 name;
  socklen_t nlen = from_record(rec, family, &name);
  if (nlen == 0) return EAFNOSUPPORT;
  iovec iov = {const_cast<uint8_t*>(data), len};
  msghdr m;
  memset(&m, 0, sizeof(m));
  m.msg_name = &name;
  m.msg_namelen = nlen;
  m.msg_iov = &iov;
  m.msg_iovlen = 1;
  for (;;) {
    if (sendmsg(fd, &m, 0) >= 0) return 0;
    if (errno != EINTR) return errno;
  }
}

}  // namespace

UdpSendResult udp_send(int fd, int family, uint32_t count, const uint8_t* const* datas,
                       const size_t* lengths, const uint8_t* addrs, UdpGso* gso) {
  UdpSendResult r;
  static thread_local std::vector<mmsghdr> msgs(kUdpSendMax);
  static thread_local std::vector<iovec> iovs(kUdpSendMax);
  static thread_local std::vector<sockaddr_in6> names(kUdpSendMax);
  static thread_local std::vector<OutMsg> outs(kUdpSendMax);
  static thread_local std::vector<GsoCmsg> cmsgs(kUdpSendMax);
  const uint8_t* rec_of = addrs;
  uint32_t done = 0;
  while (done < count) {
    // 1. Group up to kUdpSendMax datagrams into messages: consecutive ones
    //    to the same destination and of the same size (the last may be
    //    shorter) become one GSO message while GSO works; the others one
    //    message each. A record this socket cannot reach (another family)
    //    is refused here, as the kernel would.
    uint32_t n = 0, used = 0;
    while (used < kUdpSendMax && done < count) {
      const uint8_t* rec = rec_of + size_t{done} * kUdpAddrBytes;
      size_t len = lengths[done];
      if (gso != nullptr && gso->enabled && n > 0) {
        OutMsg& o = outs[n - 1];
        if (o.open && len > 0 && len <= o.seg_size && o.segs < kGsoMaxSegments &&
            o.bytes + len <= kGsoMaxBytes &&
            memcmp(rec_of + size_t{o.first} * kUdpAddrBytes, rec, kUdpAddrBytes) == 0) {
          iovs[used++] = {const_cast<uint8_t*>(datas[done]), len};
          o.segs++;
          o.bytes += len;
          if (len < o.seg_size) o.open = false;
          msgs[n - 1].msg_hdr.msg_iovlen = o.segs;
          done++;
          continue;
        }
      }
      socklen_t nlen = from_record(rec, family, &names[n]);
      if (nlen == 0) {
        r.failed++;
        r.last_err = EAFNOSUPPORT;
        done++;
        continue;
      }
      iovs[used] = {const_cast<uint8_t*>(datas[done]), len};
      outs[n] = {done, 1, static_cast<uint32_t>(len), len, len > 0};
      mmsghdr& m = msgs[n];
      memset(&m, 0, sizeof(m));
      m.msg_hdr.msg_name = &names[n];
      m.msg_hdr.msg_namelen = nlen;
      m.msg_hdr.msg_iov = &iovs[used];
      m.msg_hdr.msg_iovlen = 1;
      used++;
      n++;
      done++;
    }
    for (uint32_t k = 0; k < n; k++) {
      if (outs[k].segs < 2) continue;
      mmsghdr& m = msgs[k];
      m.msg_hdr.msg_control = cmsgs[k].buf;
      m.msg_hdr.msg_controllen = sizeof(cmsgs[k].buf);
      cmsghdr* cm = CMSG_FIRSTHDR(&m.msg_hdr);
      cm->cmsg_level = SOL_UDP;
      cm->cmsg_type = UDP_SEGMENT;
      cm->cmsg_len = CMSG_LEN(sizeof(uint16_t));
      uint16_t size = static_cast<uint16_t>(outs[k].seg_size);
      memcpy(CMSG_DATA(cm), &size, sizeof(size));
    }
    // 2. Send them, as few sendmmsg(2) calls as the kernel allows.
    uint32_t i = 0;
    while (i < n) {
      int k = sendmmsg(fd, msgs.data() + i, n - i, 0);
      if (k > 0) {
        for (int j = 0; j < k; j++) {
          const OutMsg& o = outs[i + j];
          r.sent += o.segs;
          if (o.segs > 1 && gso != nullptr) {
            gso->messages++;
            gso->segments += o.segs;
          }
        }
        i += static_cast<uint32_t>(k);
        continue;
      }
      int err = errno;
      if (err == EINTR) continue;
      r.last_err = err;
      if (err == EBADF || err == ENOTSOCK || err == EFAULT) {
        r.fatal = err;
        return r;
      }
      if (err == EAGAIN || err == ENOBUFS) return r;  // full: drop the rest
      const OutMsg& o = outs[i];
      if (o.segs > 1) {
        // The kernel refused the GSO message (no checksum offload on the
        // route's device: EIO; a segment over the device MTU: EINVAL; ...):
        // send its datagrams one by one, and stop using GSO if it is GSO
        // itself that does not work here.
        if (gso != nullptr && (err == EIO || err == EOPNOTSUPP || err == ENOPROTOOPT)) {
          gso->enabled = false;
        }
        for (uint32_t s = 0; s < o.segs; s++) {
          uint32_t d = o.first + s;
          int e = send_one(fd, family, datas[d], lengths[d], rec_of + size_t{d} * kUdpAddrBytes);
          if (e == 0) {
            r.sent++;
          } else {
            r.failed++;
            r.last_err = e;
          }
        }
      } else {
        if (fatal_socket_error(err)) {
          r.fatal = err;
          return r;
        }
        r.failed++;  // this one datagram was refused: skip it
      }
      i++;
    }
  }
  return r;
}

}  // namespace peertap
