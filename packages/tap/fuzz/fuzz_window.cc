// Fuzz target `window`: the replay window cells of src/flow-core.cc
// (WindowCheck, WindowAccept, WindowReset; docs/spec/04-sealed-payload.md
// §6) over counter sequences decoded from the input, each decision
// checked against a reference model written straight from the spec: the
// newest accepted counter and the set of every counter accepted.
//
//   counter > last          fresh
//   last - counter >= 2048  too-old
//   otherwise               replay if accepted before, else fresh
//
// The input is a program: each step is an op byte, then its operand bytes.
//   op & 3 == 0  WindowCheck   } of a counter chosen by (op >> 2) & 7:
//   op & 3 == 1  WindowAccept  }   0 last + small (-128..127)
//   op & 3 == 2  WindowAccept  }   1 last - 2048 + small (the window's edge)
//                                   2 last + 1 + u16 (a slide, maybe past the ring)
//                                   3 any counter (u32 & 0x7fffffff)
//                                   4 a word boundary near last (32k - 1, 32k, 32k + 1)
//                                   5 the last accepted counter again
//                                   6 last - small (0..4095)
//                                   7 0 or 2^31 - 1
//   op & 3 == 3  (op >> 2) == 0: WindowReset; else a sweep: WindowCheck of
//                every counter from last - 2100 to last + 40 against the model
//                (two per input at most, and one after the last step)
// Counters stay within 0 .. 2^31 - 1, the range both users pass (hop
// counters are at most 2^31 - 1, frame counters below 2^23), as the cell
// keeps `last` in an int32. Every step also checks that the lock word is
// free again and that the cell's `last` is the model's.
#include <cstring>
#include <unordered_set>

#include "../src/flow-core.h"
#include "fuzz.h"

namespace {

namespace flow = peertap::flow;
using flow::Replay;

constexpr int64_t kMax = 0x7fffffff;

struct Model {
  int64_t last = -1;
  std::unordered_set<uint32_t> accepted;
  Replay Check(uint32_t c) const {
    if (int64_t{c} > last) return Replay::kFresh;
    if (last - c >= 2048) return Replay::kTooOld;
    return accepted.count(c) ? Replay::kReplay : Replay::kFresh;
  }
  Replay Accept(uint32_t c) {
    Replay r = Check(c);
    if (r == Replay::kFresh) {
      accepted.insert(c);
      if (int64_t{c} > last) last = c;
    }
    return r;
  }
  void Reset() {
    last = -1;
    accepted.clear();
  }
};

const char* Name(Replay r) {
  return r == Replay::kFresh ? "fresh" : r == Replay::kReplay ? "replay" : "too-old";
}

[[noreturn]] void Mismatch(const char* what, uint32_t counter, int64_t last, Replay got,
                           Replay want, size_t step) {
  std::fprintf(stderr, "peertap-fuzz: step %zu: %s(%u) with last %lld: cell says %s, model %s\n",
               step, what, counter, static_cast<long long>(last), Name(got), Name(want));
  fuzz::Fail(__FILE__, __LINE__, "the window decides as 04-sealed-payload.md §6");
}

uint32_t Clamp(int64_t v) { return static_cast<uint32_t>(v < 0 ? 0 : v > kMax ? kMax : v); }

}  // namespace

const char* const fuzz::kTargetName = "window";

void fuzz::FuzzSeeds(std::vector<fuzz::Bytes>* seeds) {
  // In order; a slide past the whole ring; the window's edge; replays.
  seeds->push_back({0x01, 0x01, 0x01, 0x01, 0x00, 0x15, 0x01, 0x15, 0x02, 0x03, 0x00, 0x00});
  seeds->push_back({0x09, 0x10, 0x00, 0x05, 0x06, 0x00, 0x05, 0x01, 0x00, 0x00, 0x07, 0x01,
                    0x01, 0x07, 0xff, 0x00, 0x07});
  seeds->push_back({0x0d, 0x00, 0x00, 0x10, 0x00, 0x15, 0x11, 0x04, 0x01, 0x81, 0x19, 0x7f, 0x05,
                    0x40, 0x04, 0x03});
  seeds->push_back({0x0d, 0x7f, 0xff, 0xf0, 0x00, 0x1d, 0x02, 0x1d, 0x01, 0x11, 0x01, 0x07});
  fuzz::Bytes steady;
  for (int i = 0; i < 600; i++) {
    steady.push_back(static_cast<uint8_t>(i % 5 == 0 ? 0x19 : 0x01));  // slides and steps
    steady.push_back(static_cast<uint8_t>(i * 29));
    if (i % 5 == 0) steady.push_back(static_cast<uint8_t>(i));
  }
  seeds->push_back(steady);
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* d, size_t len) {
  static int32_t* cell = [] {
    auto* p = static_cast<int32_t*>(std::calloc(flow::kWindowWords, sizeof(int32_t)));
    return p;
  }();
  static Model model;
  // Every counter from last - 2100 to last + 40, against the model.
  auto Sweep = [&](size_t step) {
    int64_t from = model.last - 2100 < 0 ? 0 : model.last - 2100;
    for (int64_t c = from; c <= model.last + 40 && c <= kMax; c++) {
      Replay got = flow::WindowCheck(cell, static_cast<uint32_t>(c));
      Replay want = model.Check(static_cast<uint32_t>(c));
      if (got != want) {
        Mismatch("sweep WindowCheck", static_cast<uint32_t>(c), model.last, got, want, step);
      }
    }
  };
  int sweeps = 0;
  flow::WindowReset(cell);
  model.Reset();
  size_t i = 0, step = 0;
  auto byte = [&]() -> uint8_t { return i < len ? d[i++] : 0; };
  auto u16 = [&]() -> uint32_t { return uint32_t{byte()} << 8 | byte(); };
  uint32_t last_accepted = 0;
  while (i < len) {
    uint8_t op = byte();
    step++;
    if ((op & 3) == 3) {
      if ((op >> 2) == 0) {
        flow::WindowReset(cell);
        model.Reset();
      } else if (sweeps < 2) {
        sweeps++;
        Sweep(step);
      }
    } else {
      int64_t base = model.last < 0 ? 0 : model.last;
      uint32_t c = 0;
      switch ((op >> 2) & 7) {
        case 0: c = Clamp(base + static_cast<int8_t>(byte())); break;
        case 1: c = Clamp(base - 2048 + static_cast<int8_t>(byte())); break;
        case 2: c = Clamp(model.last + 1 + u16()); break;
        case 3: c = (u16() << 16 | u16()) & 0x7fffffff; break;
        case 4: c = Clamp((base & ~int64_t{31}) + 32 * static_cast<int8_t>(byte()) + (op >> 5) % 3 - 1); break;
        case 5: c = last_accepted; break;
        case 6: c = Clamp(base - static_cast<int64_t>(u16() & 0xfff)); break;
        case 7: c = (op & 0x80) ? 0x7fffffff : 0; break;
      }
      int64_t before = model.last;
      if ((op & 3) == 0) {
        Replay got = flow::WindowCheck(cell, c);
        Replay want = model.Check(c);
        if (got != want) Mismatch("WindowCheck", c, before, got, want, step);
      } else {
        Replay got = flow::WindowAccept(cell, c);
        Replay want = model.Accept(c);
        if (got != want) Mismatch("WindowAccept", c, before, got, want, step);
        if (got == Replay::kFresh) last_accepted = c;
      }
    }
    FUZZ_CHECK(__atomic_load_n(&cell[0], __ATOMIC_ACQUIRE) == 0, "the lock word is free again");
    FUZZ_CHECK(int64_t{__atomic_load_n(&cell[1], __ATOMIC_ACQUIRE)} == model.last,
               "the cell's last is the newest accepted counter");
  }
  Sweep(step);
  return 0;
}
