// The interface between a fuzz target and the driver (driver.cc).
//
// A target is libFuzzer-shaped: LLVMFuzzerTestOneInput runs one input, and
// may be linked with libFuzzer where clang is at hand. Without it (g++ has
// no libFuzzer), driver.cc supplies main(): a seeded mutation loop over the
// target's seeds (FuzzSeeds) and any corpus files, with AddressSanitizer
// and UndefinedBehaviorSanitizer compiled in.
//
// A target checks more than memory safety: FUZZ_CHECK states a property
// (a decision against a reference model, a round trip, bytes left alone);
// when it fails, the driver writes the input to a file and aborts, exactly
// as on a sanitizer report.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace fuzz {

using Bytes = std::vector<uint8_t>;

// The target's valid inputs, which the driver mutates (bit flips,
// truncations, splices...). Called once, before the first input.
void FuzzSeeds(std::vector<Bytes>* seeds);

// The target's name, for messages and crash files.
extern const char* const kTargetName;

[[noreturn]] inline void Fail(const char* file, int line, const char* what) {
  std::fprintf(stderr, "peertap-fuzz: FINDING: check failed at %s:%d: %s\n", file, line, what);
  std::fflush(stderr);
  std::abort();  // the driver's SIGABRT handler writes the input
}

// Deterministic bytes from a 64-bit state (splitmix64), for keys and seeds.
inline uint64_t Mix(uint64_t* s) {
  uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}
inline void Fill(uint64_t* s, uint8_t* p, size_t n) {
  for (size_t i = 0; i < n; i++) p[i] = static_cast<uint8_t>(Mix(s));
}
inline Bytes Random(uint64_t* s, size_t n) {
  Bytes b(n);
  Fill(s, b.data(), n);
  return b;
}

}  // namespace fuzz

#define FUZZ_CHECK(cond, what)                               \
  do {                                                       \
    if (!(cond)) ::fuzz::Fail(__FILE__, __LINE__, what);     \
  } while (false)
