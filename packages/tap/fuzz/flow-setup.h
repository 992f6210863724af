// Set-up shared by the flow cache's fuzz targets (cache, device, tun):
// keys made as src/flow-napi.cc makes them, and UDP sockets on
// 127.0.0.1 that the targets send to and read back (loopback only).
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>

#include "../src/flow-cache.h"

namespace fuzzsetup {

// A key as an entry owns one (src/cipher.h, the process's implementation:
// AES-NI here); exits on failure. The targets' own checks make theirs with
// Impl::kEvp, so that every datagram the cache seals is opened by OpenSSL
// and every one it opens was sealed by OpenSSL.
inline peertap::Cipher NewCtx(peertap::Aes256::Use use, const uint8_t* key,
                              peertap::Aes256::Impl impl = peertap::Aes256::Impl::kAuto) {
  peertap::Cipher c = peertap::Aes256::New(use, key, impl);
  if (c == nullptr) {
    std::fprintf(stderr, "peertap-fuzz: could not prepare a key\n");
    std::exit(2);
  }
  return c;
}

// A non-blocking UDP socket bound to 127.0.0.1 with a 4 MiB receive
// buffer; `*port` gets its port. Exits on failure.
inline int BoundUdp(uint16_t* port) {
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t n = sizeof a;
  if (fd < 0 || bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&a), &n) != 0) {
    std::perror("peertap-fuzz: a UDP socket on 127.0.0.1");
    std::exit(2);
  }
  int big = 4 << 20;
  setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &big, sizeof big);
  *port = ntohs(a.sin_port);
  return fd;
}

// One datagram from the non-blocking socket `fd`, waiting up to 1 s for one
// that has not arrived yet; what recv(2) returns.
inline ssize_t RecvWait(int fd, uint8_t* buf, size_t size) {
  ssize_t n = recv(fd, buf, size, 0);
  if (n >= 0) return n;
  pollfd p{fd, POLLIN, 0};
  poll(&p, 1, 1000);
  return recv(fd, buf, size, 0);
}

}  // namespace fuzzsetup
