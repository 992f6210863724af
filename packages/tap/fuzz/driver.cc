// A small self-contained fuzz driver for g++ (which has no libFuzzer): a
// main() that runs a target's LLVMFuzzerTestOneInput over
//   1. every corpus file (or every file in a corpus directory) named on the
//      command line, once each, as given;
//   2. every seed of the target (FuzzSeeds), once each;
//   3. a seeded mutation loop: random bytes, bit flips, byte and word
//      overwrites with boundary values, truncations, extensions, range
//      deletions and duplications, and splices of two seeds, inputs of 0 to
//      --max-len bytes (2100), for --iterations inputs or --seconds seconds.
// Iteration i of seed S is a function of (S, i) alone: --seed S
// --from i --iterations 1 regenerates it. Each input sits in a heap block of
// exactly its length, so AddressSanitizer reports a read one byte past it.
//
// On a sanitizer report or a failed FUZZ_CHECK (see fuzz.h) the input is
// written to ARTIFACTS/crash-TARGET-HASH (--artifacts, default .), and the
// process exits non-zero: run it again with that file as the only argument
// and --iterations 0 to reproduce.
//
// Usage: fuzz-TARGET [--seconds S] [--iterations N] [--seed S] [--from I]
//                    [--max-len L] [--artifacts DIR] [FILE|DIR]...
#include <dirent.h>
#include <fcntl.h>
#include <sanitizer/common_interface_defs.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "fuzz.h"

// Sanitizer defaults: abort (SIGABRT, which writes the input) on the first
// report of either sanitizer; the environment's own options come after
// these and win.
extern "C" const char* __asan_default_options() {
  return "abort_on_error=1:halt_on_error=1:detect_leaks=1:allocator_may_return_null=1";
}
extern "C" const char* __ubsan_default_options() {
  return "abort_on_error=1:halt_on_error=1:print_stacktrace=1";
}

namespace {

using fuzz::Bytes;

const uint8_t* g_input = nullptr;
size_t g_input_len = 0;
const char* g_artifacts = ".";
volatile sig_atomic_t g_written = 0;

// Writes the current input once; async-signal-safe (no stdio, no malloc).
void WriteInput() {
  if (g_written || g_input == nullptr) return;
  g_written = 1;
  uint64_t h = 0xcbf29ce484222325ull;  // FNV-1a
  for (size_t i = 0; i < g_input_len; i++) h = (h ^ g_input[i]) * 0x100000001b3ull;
  char path[4096];
  size_t n = 0;
  auto put = [&](const char* s) {
    while (*s && n + 1 < sizeof path) path[n++] = *s++;
  };
  put(g_artifacts);
  put("/crash-");
  put(fuzz::kTargetName);
  put("-");
  for (int i = 15; i >= 0; i--) {
    if (n + 1 < sizeof path) path[n++] = "0123456789abcdef"[(h >> (4 * i)) & 15];
  }
  path[n] = 0;
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd >= 0) {
    size_t off = 0;
    while (off < g_input_len) {
      ssize_t w = write(fd, g_input + off, g_input_len - off);
      if (w <= 0) break;
      off += static_cast<size_t>(w);
    }
    close(fd);
  }
  static const char kMsg1[] = "\npeertap-fuzz: FINDING: the input is in ";
  static const char kMsg2[] = " (run the target with it as the only argument and --iterations 0)\n";
  (void)!write(2, kMsg1, sizeof kMsg1 - 1);
  (void)!write(2, path, n);
  (void)!write(2, kMsg2, sizeof kMsg2 - 1);
}

void OnAbort(int sig) {
  WriteInput();
  signal(sig, SIG_DFL);
  raise(sig);
}

void OnDeath() { WriteInput(); }

struct Rng {
  uint64_t s;
  uint64_t Next() { return fuzz::Mix(&s); }
  size_t Below(size_t n) { return n == 0 ? 0 : static_cast<size_t>(Next() % n); }
  bool OneIn(size_t n) { return Below(n) == 0; }
};

// Lengths at the formats' boundaries: the DATA header (9), header and tag
// (25), the DATA overhead (42), the shortest sealed payload (27) and DATA
// (69), the frame and datagram maxima; each also one below and above.
const size_t kLengths[] = {0,   1,   2,   8,   9,   10,  15,  16,  17,  24,   25,   26,   27,
                           28,  33,  35,  41,  42,  43,  52,  53,  54,  68,   69,   70,   80,
                           100, 512, 1400, 1472, 1514, 1515, 2005, 2006, 2047, 2048, 2049, 2100};
const uint32_t kWords[] = {0,          1,          2,          0x7f,       0x80,       0xff,
                           0x100,      0x7ff,      0x800,      0x801,      0xffff,     0x10000,
                           0x7fffff,   0x800000,   0xffffff,   0x7ffffffe, 0x7fffffff, 0x80000000,
                           0xfffffffe, 0xffffffff};
const uint8_t kBytes[] = {0x00, 0x01, 0x02, 0x03, 0x04, 0x07, 0x08, 0x7f, 0x80,
                          0xf7, 0xf8, 0xf9, 0xfa, 0xfe, 0xff, 0x06, 0x11, 0x86};

Bytes Mutate(Rng& r, const std::vector<Bytes>& seeds, size_t max_len) {
  Bytes b;
  size_t mode = r.Below(16);
  if (seeds.empty() || mode == 0) {
    // Random bytes, half of them at a boundary length.
    size_t n = r.OneIn(2) ? kLengths[r.Below(sizeof kLengths / sizeof kLengths[0])]
                          : r.Below(max_len + 1);
    b.resize(n > max_len ? max_len : n);
    for (auto& x : b) x = static_cast<uint8_t>(r.Next());
    return b;
  }
  b = seeds[r.Below(seeds.size())];
  if (mode == 1) return b;  // a seed as it is
  size_t rounds = 1 + r.Below(r.OneIn(4) ? 8 : 3);
  for (size_t k = 0; k < rounds; k++) {
    switch (r.Below(10)) {
      case 0:  // bit flips
      case 1: {
        if (b.empty()) break;
        size_t flips = 1 + r.Below(4);
        for (size_t i = 0; i < flips; i++) b[r.Below(b.size())] ^= static_cast<uint8_t>(1u << r.Below(8));
        break;
      }
      case 2: {  // a byte set to a boundary or random value, often in the headers
        if (b.empty()) break;
        size_t at = r.OneIn(2) ? r.Below(b.size() < 64 ? b.size() : 64) : r.Below(b.size());
        b[at] = r.OneIn(2) ? kBytes[r.Below(sizeof kBytes)] : static_cast<uint8_t>(r.Next());
        break;
      }
      case 3: {  // a big-endian word set to a boundary value (indexes, counters)
        if (b.size() < 4) break;
        size_t at = r.OneIn(2) ? (r.OneIn(2) ? 1 : 5) : r.Below(b.size() - 3);
        if (at + 4 > b.size()) break;
        uint32_t w = kWords[r.Below(sizeof kWords / sizeof kWords[0])];
        if (r.OneIn(4)) w += static_cast<uint32_t>(r.Below(5)) - 2;
        for (int i = 0; i < 4; i++) b[at + i] = static_cast<uint8_t>(w >> (24 - 8 * i));
        break;
      }
      case 4: {  // truncated, often to a boundary length
        size_t n = r.OneIn(2) ? kLengths[r.Below(sizeof kLengths / sizeof kLengths[0])]
                              : r.Below(b.size() + 1);
        if (n < b.size()) b.resize(n);
        break;
      }
      case 5: {  // extended with random bytes
        size_t n = 1 + r.Below(r.OneIn(4) ? 600 : 16);
        for (size_t i = 0; i < n; i++) b.push_back(static_cast<uint8_t>(r.Next()));
        break;
      }
      case 6: {  // a range deleted
        if (b.empty()) break;
        size_t at = r.Below(b.size());
        size_t n = 1 + r.Below(b.size() - at);
        b.erase(b.begin() + static_cast<long>(at), b.begin() + static_cast<long>(at + n));
        break;
      }
      case 7: {  // a range duplicated in place
        if (b.empty()) break;
        size_t at = r.Below(b.size());
        size_t n = 1 + r.Below(b.size() - at < 64 ? b.size() - at : 64);
        Bytes part(b.begin() + static_cast<long>(at), b.begin() + static_cast<long>(at + n));
        b.insert(b.begin() + static_cast<long>(r.Below(b.size() + 1)), part.begin(), part.end());
        break;
      }
      case 8: {  // a splice: this one's prefix, another seed's suffix
        const Bytes& o = seeds[r.Below(seeds.size())];
        size_t cut = r.Below(b.size() + 1);
        size_t from = r.Below(o.size() + 1);
        b.resize(cut);
        b.insert(b.end(), o.begin() + static_cast<long>(from), o.end());
        break;
      }
      case 9: {  // random bytes over a range
        if (b.empty()) break;
        size_t at = r.Below(b.size());
        size_t n = 1 + r.Below(b.size() - at < 32 ? b.size() - at : 32);
        for (size_t i = 0; i < n; i++) b[at + i] = static_cast<uint8_t>(r.Next());
        break;
      }
    }
  }
  if (b.size() > max_len) b.resize(max_len);
  return b;
}

void RunOne(const Bytes& in) {
  // An exact heap block: a read past the input is a heap-buffer-overflow.
  uint8_t* p = static_cast<uint8_t*>(std::malloc(in.size() == 0 ? 1 : in.size()));
  if (!in.empty()) std::memcpy(p, in.data(), in.size());
  g_input = p;
  g_input_len = in.size();
  LLVMFuzzerTestOneInput(in.empty() ? p : p, in.size());
  g_input = nullptr;
  g_input_len = 0;
  std::free(p);
}

bool ReadFile(const std::string& path, Bytes* out) {
  FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) return false;
  out->clear();
  uint8_t buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) out->insert(out->end(), buf, buf + n);
  std::fclose(f);
  return true;
}

void Corpus(const std::string& path, std::vector<Bytes>* out) {
  struct stat st;
  if (stat(path.c_str(), &st) != 0) {
    std::fprintf(stderr, "peertap-fuzz: no such file: %s\n", path.c_str());
    std::exit(2);
  }
  if (S_ISDIR(st.st_mode)) {
    DIR* d = opendir(path.c_str());
    std::vector<std::string> names;
    while (dirent* e = d ? readdir(d) : nullptr) {
      if (e->d_name[0] != '.') names.push_back(path + "/" + e->d_name);
    }
    if (d) closedir(d);
    for (const auto& n : names) Corpus(n, out);
    return;
  }
  Bytes b;
  if (!ReadFile(path, &b)) {
    std::fprintf(stderr, "peertap-fuzz: cannot read %s\n", path.c_str());
    std::exit(2);
  }
  out->push_back(std::move(b));
}

}  // namespace

int main(int argc, char** argv) {
  double seconds = 0;
  uint64_t iterations = UINT64_MAX, seed = 1, from = 0;
  bool iterations_set = false;
  size_t max_len = 2100;
  std::vector<std::string> files;
  for (int i = 1; i < argc; i++) {
    std::string a = argv[i];
    auto value = [&]() -> const char* {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "peertap-fuzz: %s needs a value\n", a.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--seconds") {
      seconds = std::strtod(value(), nullptr);
    } else if (a == "--iterations") {
      iterations = std::strtoull(value(), nullptr, 0);
      iterations_set = true;
    } else if (a == "--seed") {
      seed = std::strtoull(value(), nullptr, 0);
    } else if (a == "--from") {
      from = std::strtoull(value(), nullptr, 0);
    } else if (a == "--max-len") {
      max_len = std::strtoull(value(), nullptr, 0);
    } else if (a == "--artifacts") {
      g_artifacts = value();
    } else if (a == "--help" || a == "-h") {
      std::fprintf(stderr,
                   "usage: %s [--seconds S] [--iterations N] [--seed S] [--from I] [--max-len L] "
                   "[--artifacts DIR] [FILE|DIR]...\n",
                   argv[0]);
      return 0;
    } else {
      files.push_back(a);
    }
  }
  if (seconds <= 0 && !iterations_set) iterations = files.empty() ? 100000 : 0;

  signal(SIGABRT, OnAbort);
  __sanitizer_set_death_callback(OnDeath);

  std::vector<Bytes> seeds;
  fuzz::FuzzSeeds(&seeds);
  std::vector<Bytes> corpus;
  for (const auto& f : files) Corpus(f, &corpus);

  auto start = std::chrono::steady_clock::now();
  for (const auto& c : corpus) RunOne(c);
  for (const auto& s : seeds) RunOne(s);
  seeds.insert(seeds.end(), corpus.begin(), corpus.end());

  uint64_t done = 0;
  double elapsed = 0;
  for (uint64_t i = from; done < iterations; i++, done++) {
    if ((done & 63) == 0) {
      elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      if (seconds > 0 && elapsed >= seconds) break;
    }
    Rng r{seed ^ (i * 0xd1342543de82ef95ull + 0x2545f4914f6cdd1dull)};
    r.Next();
    RunOne(Mutate(r, seeds, max_len));
  }
  elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("peertap-fuzz %s: %zu corpus inputs, %zu seeds, %" PRIu64
              " mutated inputs (seed %" PRIu64 ", from %" PRIu64 ") in %.1f s: %.0f inputs/s, no finding\n",
              fuzz::kTargetName, corpus.size(), seeds.size() - corpus.size(), done, seed, from,
              elapsed, elapsed > 0 ? static_cast<double>(done) / elapsed : 0.0);
  return 0;
}
