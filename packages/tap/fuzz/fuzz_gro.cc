// Fuzz target `gro`: the UDP reader's split of received messages into a
// slot (src/udp.cc, DrainUdp over a scratch that NewUdpReplay loads as if
// recvmmsg(2) had returned the messages): with UDP GRO, one message may hold
// several datagrams of gso_size bytes, the last shorter, which the reader
// cuts apart into the slot that FlowCache::FromUdp and JavaScript read.
//
// The input describes the messages, not their bytes (a message may be 64
// KiB): byte 0 the slot's batch (1 to 16 datagrams), byte 1 its frame
// maximum (one of 1, 9, 64, 1472, 2048, 65535), then 5 bytes a message:
// its length (u16; half the time below 2048), its gso_size (i16: below 0 no
// UDP_GRO control message, else that value in one), and its flags (bit 0
// MSG_TRUNC, bit 1 MSG_CTRUNC). Message i's byte j is a function of (i, j).
//
// Checks, beyond memory safety (the slot and its metadata are heap blocks
// of exactly their size): DrainUdp, called until nothing is pending,
// delivers exactly the datagrams a reference split gives (a truncated
// message, or one whose control message was cut and that has no
// gso_size, dropped; a gso_size of 0 or at or above the length, one
// datagram; an empty message, one empty datagram; a datagram above the
// frame maximum dropped), in order, byte for byte, each with the source
// record of 127.0.0.1:9; each call delivers at most the batch, inside the
// slot, and makes progress.
#include <sys/socket.h>

#include <cstring>

#include "../src/reader.h"
#include "../src/udp.h"
#include "fuzz.h"

namespace {

using peertap::ReaderConfig;
using peertap::ReaderStats;

constexpr uint32_t kFrameMax[] = {1, 9, 64, 1472, 2048, 65535};

uint8_t ByteOf(uint32_t i, size_t j) {
  return static_cast<uint8_t>(i * 131 + j * 7 + (j >> 8));
}

struct Msg {
  size_t len;
  int32_t gso;
  int32_t flags;
};

}  // namespace

const char* const fuzz::kTargetName = "gro";

void fuzz::FuzzSeeds(std::vector<fuzz::Bytes>* seeds) {
  // Plain datagrams; a GRO message of 1472-byte segments and a short last;
  // segments across slots; truncations; an empty message; gso_size 0.
  seeds->push_back({3, 4, 0x05, 0xc0, 0xff, 0xff, 0, 0x00, 0x40, 0xff, 0xff, 0});
  seeds->push_back({7, 4, 0xb0, 0x00, 0x05, 0xc0, 0, 0x05, 0xc0, 0xff, 0xff, 0});
  seeds->push_back({1, 3, 0x2e, 0x00, 0x05, 0xc0, 0, 0x00, 0x20, 0x00, 0x10, 0});
  seeds->push_back({15, 5, 0xff, 0xff, 0x05, 0xc0, 0, 0x10, 0x00, 0x00, 0x00, 1, 0x00, 0x00,
                    0xff, 0xff, 0, 0x01, 0x00, 0xff, 0xff, 2, 0x01, 0x00, 0x00, 0x00, 2});
  seeds->push_back({4, 2, 0x00, 0x41, 0x00, 0x40, 0, 0x00, 0x41, 0x00, 0x41, 0, 0x00, 0x41, 0x00,
                    0x00, 0});
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* d, size_t len) {
  if (len < 2) return 0;
  const uint32_t batch = d[0] % 16 + 1;
  const uint32_t frame_max = kFrameMax[d[1] % (sizeof kFrameMax / sizeof kFrameMax[0])];
  std::vector<Msg> msgs;
  for (size_t at = 2; at + 5 <= len && msgs.size() < batch && msgs.size() < peertap::kGroMaxMessages;
       at += 5) {
    uint32_t l = uint32_t{d[at]} << 8 | d[at + 1];
    if ((d[at + 4] & 0x80) == 0) l &= 0x7ff;
    int16_t gso = static_cast<int16_t>(d[at + 2] << 8 | d[at + 3]);
    int32_t flags = ((d[at + 4] & 1) ? MSG_TRUNC : 0) | ((d[at + 4] & 2) ? MSG_CTRUNC : 0);
    msgs.push_back({l, gso, flags});
  }
  std::vector<fuzz::Bytes> bodies(msgs.size());
  std::vector<const uint8_t*> datas(msgs.size());
  std::vector<size_t> lengths(msgs.size());
  std::vector<int32_t> gsos(msgs.size()), flags(msgs.size());
  // The reference split.
  std::vector<fuzz::Bytes> want;
  for (uint32_t i = 0; i < msgs.size(); i++) {
    const Msg& m = msgs[i];
    bodies[i].resize(m.len);
    for (size_t j = 0; j < m.len; j++) bodies[i][j] = ByteOf(i, j);
    static const uint8_t kNone = 0;
    datas[i] = m.len > 0 ? bodies[i].data() : &kNone;  // memcpy takes no null, even for 0 bytes
    lengths[i] = m.len;
    gsos[i] = m.gso;
    flags[i] = m.flags;
    size_t seg = m.gso > 0 ? static_cast<size_t>(m.gso) : 0;
    if ((m.flags & MSG_TRUNC) != 0 || ((m.flags & MSG_CTRUNC) != 0 && seg == 0)) continue;
    if (seg == 0 || seg >= m.len) seg = m.len;
    size_t off = 0;
    do {
      size_t l = seg < m.len - off ? seg : m.len - off;
      if (l <= frame_max) want.emplace_back(bodies[i].begin() + off, bodies[i].begin() + off + l);
      off += l;
    } while (off < m.len);
  }

  peertap::UdpScratch* s = peertap::NewUdpReplay(batch, static_cast<uint32_t>(msgs.size()),
                                                 datas.data(), lengths.data(), gsos.data(),
                                                 flags.data());
  FUZZ_CHECK(s != nullptr, "NewUdpReplay");
  ReaderConfig c{};
  c.slots = 1;
  c.batch_frames = batch;
  c.frame_max = frame_max;
  c.slot_bytes = batch * ((frame_max + 7) / 8 * 8);
  c.kind = ReaderConfig::kUdp;
  c.gro = true;
  auto* slot = static_cast<uint8_t*>(std::malloc(c.slot_bytes));
  auto* meta = static_cast<uint32_t*>(std::malloc(size_t{batch} * peertap::MetaWords(c) * 4));
  const uint8_t* records = reinterpret_cast<uint8_t*>(meta + 2 * size_t{batch});
  const uint8_t source[peertap::kUdpAddrBytes] = {4, 0, 0, 9, 127, 0, 0, 1};
  ReaderStats stats;
  size_t got = 0;
  uint32_t rounds = 0;
  do {
    peertap::SlotFill f = peertap::DrainUdp(c, slot, meta, stats, s);
    FUZZ_CHECK(f.err == 0 && f.count <= batch, "a fill delivers at most the batch");
    for (uint32_t k = 0; k < f.count; k++) {
      uint32_t off = meta[k], l = meta[batch + k];
      FUZZ_CHECK(size_t{off} + l <= c.slot_bytes, "a datagram lies inside the slot");
      FUZZ_CHECK(got < want.size(), "no datagram more than the reference split");
      FUZZ_CHECK(l == want[got].size() && (l == 0 || std::memcmp(slot + off, want[got].data(), l) == 0),
                 "the datagrams of the reference split, in order, byte for byte");
      FUZZ_CHECK(std::memcmp(records + size_t{k} * peertap::kUdpAddrBytes, source, sizeof source) == 0,
                 "each with its message's source");
      got++;
    }
    FUZZ_CHECK(++rounds <= 64 * 65536 + 1, "the split makes progress");
  } while (peertap::UdpPending(s));
  FUZZ_CHECK(got == want.size(), "every datagram of the reference split");
  peertap::DeleteUdpScratch(s);
  std::free(meta);
  std::free(slot);
  return 0;
}
