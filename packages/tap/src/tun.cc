// Device I/O on Linux TAP/TUN devices; see tun.h.
#include "tun.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_arp.h>
#include <linux/if_tun.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>

namespace peertap {

namespace {

// Copies a validated name into ifr_name (NUL-terminated, IFNAMSIZ bytes).
bool set_name(struct ifreq* ifr, const char* name) {
  size_t n = strlen(name);
  if (n > kNameMax) return false;
  memset(ifr, 0, sizeof(*ifr));
  memcpy(ifr->ifr_name, name, n);
  return true;
}

// A short-lived control socket. Link ioctls need some socket of the
// namespace the device lives in; AF_INET/SOCK_DGRAM is the classic choice
// (what ifconfig uses) and needs no privilege to create.
struct CtlSocket {
  int fd;
  CtlSocket() : fd(socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0)) {}
  ~CtlSocket() {
    if (fd >= 0) close(fd);
  }
};

int ioctl_by_name(const char* name, unsigned long req, struct ifreq* ifr, const char** syscall,
                  const char* what) {
  CtlSocket s;
  if (s.fd < 0) {
    *syscall = "socket";
    return -errno;
  }
  if (ioctl(s.fd, req, ifr) < 0) {
    *syscall = what;
    return -errno;
  }
  return 0;
}

}  // namespace

int tun_open(const char* clone_path, const char* name, int flags, char* out_name,
             const char** syscall) {
  struct ifreq ifr;
  if (!set_name(&ifr, name)) {
    *syscall = "TUNSETIFF";
    return -EINVAL;
  }
  ifr.ifr_flags = static_cast<short>(flags);

  int fd = open(clone_path, O_RDWR | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) {
    *syscall = "open";
    return -errno;
  }
  // Creates the device if the name is free (needs CAP_NET_ADMIN), attaches
  // to it if it exists, is persistent, of this kind and has no reader yet
  // (EBUSY otherwise; EINVAL if the name is some other kind of interface).
  if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
    int err = errno;
    close(fd);
    *syscall = "TUNSETIFF";
    return -err;
  }
  memcpy(out_name, ifr.ifr_name, kNameMax);
  out_name[kNameMax] = '\0';
  return fd;
}

int if_get(const char* name, IfInfo* out, const char** syscall) {
  struct ifreq ifr;
  if (!set_name(&ifr, name)) {
    *syscall = "SIOCGIFINDEX";
    return -EINVAL;
  }
  CtlSocket s;
  if (s.fd < 0) {
    *syscall = "socket";
    return -errno;
  }
  // Each ioctl reads one field of the union, so the name is set again.
  if (ioctl(s.fd, SIOCGIFINDEX, &ifr) < 0) {
    *syscall = "SIOCGIFINDEX";
    return -errno;
  }
  out->index = ifr.ifr_ifindex;
  set_name(&ifr, name);
  if (ioctl(s.fd, SIOCGIFMTU, &ifr) < 0) {
    *syscall = "SIOCGIFMTU";
    return -errno;
  }
  out->mtu = ifr.ifr_mtu;
  set_name(&ifr, name);
  if (ioctl(s.fd, SIOCGIFFLAGS, &ifr) < 0) {
    *syscall = "SIOCGIFFLAGS";
    return -errno;
  }
  out->flags = static_cast<unsigned short>(ifr.ifr_flags);
  set_name(&ifr, name);
  if (ioctl(s.fd, SIOCGIFHWADDR, &ifr) < 0) {
    *syscall = "SIOCGIFHWADDR";
    return -errno;
  }
  out->hw_family = ifr.ifr_hwaddr.sa_family;
  memcpy(out->mac, ifr.ifr_hwaddr.sa_data, 6);
  return 0;
}

int if_set_mtu(const char* name, int mtu, const char** syscall) {
  struct ifreq ifr;
  if (!set_name(&ifr, name)) {
    *syscall = "SIOCSIFMTU";
    return -EINVAL;
  }
  ifr.ifr_mtu = mtu;
  return ioctl_by_name(name, SIOCSIFMTU, &ifr, syscall, "SIOCSIFMTU");
}

int if_set_mac(const char* name, const uint8_t mac[6], const char** syscall) {
  struct ifreq ifr;
  if (!set_name(&ifr, name)) {
    *syscall = "SIOCSIFHWADDR";
    return -EINVAL;
  }
  ifr.ifr_hwaddr.sa_family = ARPHRD_ETHER;
  memcpy(ifr.ifr_hwaddr.sa_data, mac, 6);
  return ioctl_by_name(name, SIOCSIFHWADDR, &ifr, syscall, "SIOCSIFHWADDR");
}

int if_set_flags(const char* name, unsigned set, unsigned clear, unsigned* out_flags,
                 const char** syscall) {
  struct ifreq ifr;
  if (!set_name(&ifr, name)) {
    *syscall = "SIOCGIFFLAGS";
    return -EINVAL;
  }
  CtlSocket s;
  if (s.fd < 0) {
    *syscall = "socket";
    return -errno;
  }
  if (ioctl(s.fd, SIOCGIFFLAGS, &ifr) < 0) {
    *syscall = "SIOCGIFFLAGS";
    return -errno;
  }
  unsigned flags = (static_cast<unsigned short>(ifr.ifr_flags) | set) & ~clear;
  ifr.ifr_flags = static_cast<short>(flags);
  if (ioctl(s.fd, SIOCSIFFLAGS, &ifr) < 0) {
    *syscall = "SIOCSIFFLAGS";
    return -errno;
  }
  *out_flags = flags;
  return 0;
}

int write_frame(int fd, const uint8_t* frame, size_t length) {
  for (;;) {
    ssize_t n = write(fd, frame, length);
    if (n >= 0) return 0;
    if (errno != EINTR) return -errno;
  }
}

bool write_error_is_fatal(int err) {
  // EBADFD: the device was deleted or detached under us (tun_get() failed);
  // EBADF: the fd is closed. Anything else (EINVAL for a short or oversized
  // frame, EFAULT, ENOMEM, EAGAIN) concerns one frame only.
  return err == EBADFD || err == EBADF || err == ENXIO;
}

}  // namespace peertap
