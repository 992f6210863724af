// UDP socket I/O in batches: recvmmsg(2) into the reader's slots (on the
// reader thread or the main-thread poller, as for a device) and sendmmsg(2)
// of a batch from JavaScript. Socket I/O only: what the datagrams mean is
// the caller's business.
//
// Address record, the form every address takes between JavaScript and here
// (kUdpAddrBytes bytes): byte 0 the family (4 or 6), byte 1 zero, bytes 2-3
// the port in network order, bytes 4.. the address in network order (IPv4
// in bytes 4-7, the rest zero). An IPv4-mapped IPv6 address (::ffff:a.b.c.d)
// received on an IPv6 socket is reported as family 4.
//
// A received slot holds the datagrams packed (offsets, lengths as for a
// device), then one address record per datagram: the source. With UDP GRO
// (udp_open's `gro`), one received message may hold several datagrams of
// one sender; they are split before the slot, so a slot holds one datagram
// per record either way (RecvUdpBatch).
#pragma once

#include <cstddef>
#include <cstdint>

#include "reader.h"

namespace peertap {

constexpr size_t kUdpAddrBytes = kUdpAddrWords * 4;
// sendmmsg(2) takes at most UIO_MAXIOV messages per call (and a message
// at most UIO_MAXIOV iovecs): datagrams handled per round.
constexpr uint32_t kUdpSendMax = 1024;
// UDP GSO: most segments per super-datagram (UDP_MAX_SEGMENTS, 64 on older
// kernels) and most bytes (under the 65,507-byte IPv4 UDP payload limit).
constexpr uint32_t kGsoMaxSegments = 64;
constexpr size_t kGsoMaxBytes = 65000;

// UDP GRO (UDP_GRO, receive side). With it the kernel may hand over one
// message holding several datagrams of one sender, every one `gso_size`
// bytes but the last, which may be shorter, with a UDP_GRO control message
// giving gso_size (a GSO message from this host, kept whole up to the
// socket; or datagrams the receiving NIC's GRO coalesced). Such a message
// can be up to 64 KiB, so each recvmmsg(2) buffer must be that large, or
// the kernel cuts the message and its datagrams are lost. These buffers are
// a scratch area per socket (not per slot: one recvmmsg at a time fills
// them), split from there into the slot:
//   kGroMaxMessages x kGroStride = 64 x 64.25 KiB = 4.0 MiB of address space
//   per socket (fewer with batchDatagrams < 64), mapped on first touch: the
//   kernel writes only a message's bytes, so small datagrams keep one or two
//   pages of each buffer resident, and only 64 KiB messages fill it.
constexpr size_t kGroBufBytes = 65536;       // any UDP payload (at most 65,535 bytes)
constexpr size_t kGroStride = 65536 + 256;   // staggered: buffers do not share cache sets
constexpr uint32_t kGroMaxMessages = 64;     // messages per recvmmsg with GRO

// A socket's UDP GSO state, kept by the caller between sends.
struct UdpGso {
  bool enabled = true;    // cleared when the kernel refuses GSO itself (EIO, ...)
  uint64_t messages = 0;  // GSO messages sent
  uint64_t segments = 0;  // datagrams in them
};

// Opens a non-blocking UDP socket of `family` (4 or 6) and binds it to the
// address record `bind_addr`; asks for the socket buffer sizes (0: leave),
// which the kernel caps at rmem_max/wmem_max; with `dont_fragment`, sets
// IP_MTU_DISCOVER (IPV6_MTU_DISCOVER) to IP_PMTUDISC_PROBE: DF set, the
// route's cached path MTU ignored, so a probe larger than the path is lost
// instead of fragmented; with `gro`, asks for UDP_GRO, and *gro_on says
// whether the kernel took it (Linux 5.0 and later; otherwise it stays off).
// Returns the fd and the bound port, or -errno with the failing call in
// *syscall.
int udp_open(int family, const uint8_t* bind_addr, int rcvbuf, int sndbuf, bool dont_fragment,
             bool gro, bool* gro_on, uint16_t* port, const char** syscall);

// For tests (the addon's udpGroReplay): a GRO scratch loaded as if one
// recvmmsg(2) had returned `count` messages (at most min(batch_frames,
// kGroMaxMessages)), message i `lengths[i]` bytes of `datas[i]` from
// 127.0.0.1 port 9, with a UDP_GRO control message of `gso_sizes[i]` when
// it is >= 0, and `flags[i]` as its msg_flags. DrainUdp then delivers them
// into slots exactly as RecvUdpBatch does after its recvmmsg. The kernel
// makes no odd messages on demand; this can. nullptr when out of memory.
UdpScratch* NewUdpReplay(uint32_t batch_frames, uint32_t count, const uint8_t* const* datas,
                         const size_t* lengths, const int32_t* gso_sizes, const int32_t* flags);
SlotFill DrainUdp(const ReaderConfig& c, uint8_t* data, uint32_t* meta, ReaderStats& stats,
                  UdpScratch* s);

struct UdpSendResult {
  uint32_t sent = 0;    // datagrams the kernel took
  uint32_t failed = 0;  // refused one by one (EMSGSIZE, unreachable, ...), skipped
  int last_err = 0;     // errno of the last refusal or of the stop
  int fatal = 0;        // errno that makes the socket unusable (EBADF, ...): stop
};

// Sends `count` datagrams with as few sendmmsg(2) calls as possible; with
// `gso` (not null, enabled), consecutive datagrams to one destination of one
// size go as one UDP GSO message (UDP_SEGMENT): the stack is traversed once
// for up to 64 of them, and the receiver still gets separate datagrams. A
// datagram the kernel refuses is skipped and counted; a full socket buffer
// (EAGAIN, ENOBUFS) ends the batch: the rest are dropped, as a full NIC
// queue drops. The caller counts count - sent as dropped.
UdpSendResult udp_send(int fd, int family, uint32_t count, const uint8_t* const* datas,
                       const size_t* lengths, const uint8_t* addrs, UdpGso* gso);

}  // namespace peertap
