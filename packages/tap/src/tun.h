// Device I/O on Linux TAP/TUN devices: plain POSIX, no Node-API.
//
// Every function returns 0 (or a count) on success and a negative errno on
// failure, and sets *syscall to the name of the call that failed, so that the
// Node-API layer can throw an error that says exactly what went wrong.
#pragma once

#include <cstddef>
#include <cstdint>

namespace peertap {

// Interface names are at most IFNAMSIZ - 1 = 15 bytes (linux/if.h).
constexpr size_t kNameMax = 15;

// Opens `clone_path` (normally /dev/net/tun) non-blocking and close-on-exec,
// then attaches it with TUNSETIFF to the device `name` with `flags`
// (IFF_TAP or IFF_TUN, with IFF_NO_PI; later IFF_VNET_HDR). The kernel may
// rewrite the name (a "tap%d" pattern); the final name is copied to
// `out_name` (kNameMax + 1 bytes). Returns the fd or -errno.
int tun_open(const char* clone_path, const char* name, int flags, char* out_name,
             const char** syscall);

// What SIOCGIFINDEX/SIOCGIFMTU/SIOCGIFFLAGS/SIOCGIFHWADDR report.
struct IfInfo {
  int index;
  int mtu;
  unsigned flags;
  unsigned short hw_family;  // ARPHRD_ETHER for TAP, ARPHRD_NONE for TUN
  uint8_t mac[6];
};

// Link control by interface name, through ioctls on an AF_INET datagram
// socket of the calling thread's network namespace.
int if_get(const char* name, IfInfo* out, const char** syscall);
int if_set_mtu(const char* name, int mtu, const char** syscall);
int if_set_mac(const char* name, const uint8_t mac[6], const char** syscall);
// Sets the bits of `set` and clears those of `clear` (IFF_UP, ...); the new
// flags are stored in *out_flags.
int if_set_flags(const char* name, unsigned set, unsigned clear, unsigned* out_flags,
                 const char** syscall);

// Writes one frame with one write(2): a TAP/TUN fd takes exactly one frame
// per write. Returns 0 or -errno (EINTR is retried).
int write_frame(int fd, const uint8_t* frame, size_t length);

// Whether a write error means the device itself is unusable (detached,
// deleted, bad fd) rather than that the kernel refused this one frame.
bool write_error_is_fatal(int err);

}  // namespace peertap
