// Fuzz target `aes`: the fast path's AES-256 (src/cipher.h) with AES-NI
// (src/aes-ni.cc) against OpenSSL's EVP, on any key, nonce, AAD split and
// text.
//
// The input is read as: key (32 bytes), nonce (12), a1 length (1 byte, at
// most what is left), a2 length (1 byte, likewise), a1, a2, then the text
// (up to 2100 bytes). Shorter inputs are padded with zeros.
//
// Checks, beyond memory safety:
// - both seal to the same ciphertext and tag, also in place;
// - each opens the other's output to the text, also in place;
// - with one bit of the tag, the text or an AAD flipped, both refuse, and
//   the output is zeroed;
// - both encrypt the text's whole blocks (ECB) to the same bytes.
#include <cstring>

#include "../src/cipher.h"
#include "fuzz.h"

namespace {

using peertap::Aes256;
using peertap::Cipher;

Cipher Key(Aes256::Use use, const uint8_t* key, Aes256::Impl impl) {
  Cipher c = Aes256::New(use, key, impl);
  FUZZ_CHECK(c != nullptr, "the key was prepared");
  return c;
}

struct Parsed {
  uint8_t key[32] = {};
  uint8_t nonce[12] = {};
  fuzz::Bytes a1, a2, text;
};

Parsed Parse(const uint8_t* d, size_t n) {
  Parsed p;
  fuzz::Bytes in(d, d + n);
  if (in.size() < 46) in.resize(46, 0);
  std::memcpy(p.key, in.data(), 32);
  std::memcpy(p.nonce, in.data() + 32, 12);
  size_t at = 46;
  size_t l1 = in[44] < in.size() - at ? in[44] : in.size() - at;
  p.a1.assign(in.begin() + at, in.begin() + at + l1);
  at += l1;
  size_t l2 = in[45] < in.size() - at ? in[45] : in.size() - at;
  p.a2.assign(in.begin() + at, in.begin() + at + l2);
  at += l2;
  p.text.assign(in.begin() + at, in.end());
  return p;
}

struct Sealed {
  fuzz::Bytes ct;
  uint8_t tag[16];
};

Sealed Seal(Aes256* k, const Parsed& p, bool in_place) {
  Sealed s;
  s.ct = p.text;
  fuzz::Bytes out(p.text.size());
  uint8_t* dst = in_place ? s.ct.data() : out.data();
  FUZZ_CHECK(k->Seal(p.nonce, p.a1.data(), p.a1.size(), p.a2.data(), p.a2.size(), s.ct.data(),
                     s.ct.size(), dst, s.tag),
             "Seal succeeded");
  if (!in_place) s.ct = out;
  return s;
}

// Opens s (in place or not): the plaintext, or nothing when refused (then
// the output must be zeros).
bool Open(Aes256* k, const Parsed& p, const Sealed& s, bool in_place, fuzz::Bytes* pt) {
  fuzz::Bytes buf = s.ct;
  fuzz::Bytes out(s.ct.size(), 0xa5);
  uint8_t* dst = in_place ? buf.data() : out.data();
  bool ok = k->Open(p.nonce, p.a1.data(), p.a1.size(), p.a2.data(), p.a2.size(), buf.data(),
                    buf.size(), dst, s.tag);
  *pt = in_place ? buf : out;
  if (!ok) {
    for (uint8_t b : *pt) FUZZ_CHECK(b == 0, "a refused open left its output zeroed");
  }
  return ok;
}

}  // namespace

const char* const fuzz::kTargetName = "aes";

void fuzz::FuzzSeeds(std::vector<Bytes>* seeds) {
  uint64_t s = 0xae5;
  // Texts and AADs around the block, the 8-block GHASH and CTR steps.
  const size_t texts[] = {0, 1, 15, 16, 17, 63, 64, 65, 100, 127, 128, 129, 1400, 2048};
  const uint8_t aads[][2] = {{0, 0}, {16, 0}, {9, 17}, {16, 64}, {1, 2}, {63, 65}, {128, 0}, {200, 255}};
  for (size_t t : texts) {
    for (const auto& a : aads) {
      Bytes b = Random(&s, 46 + a[0] + a[1] + t);
      b[44] = a[0];
      b[45] = a[1];
      seeds->push_back(b);
    }
  }
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // Without AES-NI there is nothing to compare: the target checks nothing.
  if (!peertap::ni::Supported()) return 0;
  Parsed p = Parse(data, size);
  Cipher ni_seal = Key(Aes256::Use::kSeal, p.key, Aes256::Impl::kNi);
  Cipher evp_seal = Key(Aes256::Use::kSeal, p.key, Aes256::Impl::kEvp);
  Cipher ni_open = Key(Aes256::Use::kOpen, p.key, Aes256::Impl::kNi);
  Cipher evp_open = Key(Aes256::Use::kOpen, p.key, Aes256::Impl::kEvp);

  Sealed a = Seal(ni_seal.get(), p, false);
  Sealed b = Seal(evp_seal.get(), p, false);
  FUZZ_CHECK(a.ct == b.ct && std::memcmp(a.tag, b.tag, 16) == 0,
             "AES-NI and OpenSSL seal to the same bytes");
  Sealed c = Seal(ni_seal.get(), p, true);
  FUZZ_CHECK(c.ct == a.ct && std::memcmp(c.tag, a.tag, 16) == 0, "sealing in place is the same");

  fuzz::Bytes pt;
  for (bool in_place : {false, true}) {
    FUZZ_CHECK(Open(ni_open.get(), p, b, in_place, &pt) && pt == p.text,
               "AES-NI opens what OpenSSL sealed");
    FUZZ_CHECK(Open(evp_open.get(), p, a, in_place, &pt) && pt == p.text,
               "OpenSSL opens what AES-NI sealed");
  }

  // One bit flipped, chosen by the input: in the tag, the text or an AAD.
  uint32_t pick = size >= 4 ? data[size - 1] | uint32_t{data[size - 2]} << 8 : 0;
  size_t total = 16 + a.ct.size() + p.a1.size() + p.a2.size();
  size_t at = pick % (8 * total);
  Sealed forged = a;
  Parsed changed = p;
  size_t byte = at / 8;
  uint8_t bit = static_cast<uint8_t>(1u << (at % 8));
  if (byte < 16) {
    forged.tag[byte] ^= bit;
  } else if ((byte -= 16) < forged.ct.size()) {
    forged.ct[byte] ^= bit;
  } else if ((byte -= forged.ct.size()) < changed.a1.size()) {
    changed.a1[byte] ^= bit;
  } else {
    changed.a2[byte - changed.a1.size()] ^= bit;
  }
  for (bool in_place : {false, true}) {
    FUZZ_CHECK(!Open(ni_open.get(), changed, forged, in_place, &pt), "AES-NI refuses a forgery");
    FUZZ_CHECK(!Open(evp_open.get(), changed, forged, in_place, &pt), "OpenSSL refuses a forgery");
  }
  // Refusing left the keys usable.
  FUZZ_CHECK(Open(ni_open.get(), p, a, false, &pt) && pt == p.text, "AES-NI opens after a forgery");

  Cipher ni_blocks = Key(Aes256::Use::kBlocks, p.key, Aes256::Impl::kNi);
  Cipher evp_blocks = Key(Aes256::Use::kBlocks, p.key, Aes256::Impl::kEvp);
  size_t blocks = p.text.size() / 16;
  if (blocks > 0) {
    fuzz::Bytes x(16 * blocks), y(16 * blocks);
    FUZZ_CHECK(ni_blocks->Blocks(p.text.data(), blocks, x.data()) &&
                   evp_blocks->Blocks(p.text.data(), blocks, y.data()) && x == y,
               "AES-NI and OpenSSL encrypt blocks to the same bytes");
  }
  return 0;
}
