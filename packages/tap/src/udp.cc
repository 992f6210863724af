// UDP socket I/O in batches; see udp.h.
#include "udp.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <new>
#include <vector>

namespace peertap {

struct UdpScratch {
  std::vector<mmsghdr> msgs;
  std::vector<iovec> iovs;
  std::vector<sockaddr_in6> names;  // large enough for either family
};

UdpScratch* NewUdpScratch(uint32_t batch_frames) {
  UdpScratch* s = new (std::nothrow) UdpScratch();
  if (s == nullptr) return nullptr;
  s->msgs.resize(batch_frames);
  s->iovs.resize(batch_frames);
  s->names.resize(batch_frames);
  return s;
}

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
             uint16_t* port, const char** syscall) {
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

SlotFill RecvUdpBatch(int fd, const ReaderConfig& c, uint8_t* data, uint32_t* meta,
                      ReaderStats& stats, UdpScratch* s) {
  SlotFill f;
  // Each datagram lands at a fixed stride (the kernel needs every buffer
  // before it knows any length), then is packed down behind the one before.
  const size_t stride = (size_t{c.frame_max} + 7) / 8 * 8;
  uint32_t vlen = c.batch_frames;
  if (size_t{vlen} * stride > c.slot_bytes) vlen = static_cast<uint32_t>(c.slot_bytes / stride);
  for (uint32_t i = 0; i < vlen; i++) {
    s->iovs[i] = {data + i * stride, c.frame_max};
    mmsghdr& m = s->msgs[i];
    memset(&m, 0, sizeof(m));
    m.msg_hdr.msg_name = &s->names[i];
    m.msg_hdr.msg_namelen = sizeof(sockaddr_in6);
    m.msg_hdr.msg_iov = &s->iovs[i];
    m.msg_hdr.msg_iovlen = 1;
  }
  int n;
  do {
    n = recvmmsg(fd, s->msgs.data(), vlen, MSG_DONTWAIT, nullptr);
  } while (n < 0 && errno == EINTR);
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

UdpSendResult udp_send(int fd, int family, uint32_t count, const uint8_t* const* datas,
                       const size_t* lengths, const uint8_t* addrs) {
  UdpSendResult r;
  static thread_local std::vector<mmsghdr> msgs(kUdpSendMax);
  static thread_local std::vector<iovec> iovs(kUdpSendMax);
  static thread_local std::vector<sockaddr_in6> names(kUdpSendMax);
  uint32_t done = 0;
  while (done < count) {
    // Build up to kUdpSendMax messages; a record this socket cannot reach
    // (another family) is refused here, as the kernel would.
    uint32_t n = 0;
    while (n < kUdpSendMax && done < count) {
      socklen_t len = from_record(addrs + size_t{done} * kUdpAddrBytes, family, &names[n]);
      if (len == 0) {
        r.failed++;
        r.last_err = EAFNOSUPPORT;
        done++;
        continue;
      }
      iovs[n] = {const_cast<uint8_t*>(datas[done]), lengths[done]};
      mmsghdr& m = msgs[n];
      memset(&m, 0, sizeof(m));
      m.msg_hdr.msg_name = &names[n];
      m.msg_hdr.msg_namelen = len;
      m.msg_hdr.msg_iov = &iovs[n];
      m.msg_hdr.msg_iovlen = 1;
      n++;
      done++;
    }
    uint32_t i = 0;
    while (i < n) {
      int k = sendmmsg(fd, msgs.data() + i, n - i, 0);
      if (k > 0) {
        r.sent += static_cast<uint32_t>(k);
        i += static_cast<uint32_t>(k);
        continue;
      }
      int err = errno;
      if (err == EINTR) continue;
      r.last_err = err;
      if (fatal_socket_error(err)) {
        r.fatal = err;
        return r;
      }
      if (err == EAGAIN || err == ENOBUFS) return r;  // full: drop the rest
      r.failed++;  // this one datagram was refused: skip it
      i++;
    }
  }
  return r;
}

}  // namespace peertap
