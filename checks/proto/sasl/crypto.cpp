#include "checks/proto/sasl/crypto.hpp"

// SHA1_* / SHA256_* are deprecated in OpenSSL 3 in favour of EVP, but they are the same
// (assembly) implementation without the provider dispatch; PBKDF2 below needs thousands
// of them per login.
#define OPENSSL_SUPPRESS_DEPRECATED

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include <algorithm>
#include <climits>
#include <cstdint>
#include <memory>
#include <utility>

namespace mailready::proto::sasl::crypto {
namespace {

struct MdFree {
  void operator()(EVP_MD* md) const { EVP_MD_free(md); }
};
using Md = std::unique_ptr<EVP_MD, MdFree>;

/// Fetches from the default provider (OpenSSL 3); MD5 and SHA are there, MD4 is not.
Result<Md> fetch(const char* algorithm) {
  Md md(EVP_MD_fetch(nullptr, algorithm, nullptr));
  if (!md) return fail(Failure::Kind::other, std::string("OpenSSL has no digest ") + algorithm);
  return Result<Md>(std::move(md));
}

const unsigned char* bytes(std::string_view s) {
  return reinterpret_cast<const unsigned char*>(s.data());
}

bool fits_int(std::size_t n) {
  return n <= static_cast<std::size_t>(INT_MAX);
}

/// A chaining value as the digest's bytes: each word big-endian.
template <std::size_t N>
void store_be(const SHA_LONG (&h)[N], unsigned char* out) {
  for (std::size_t i = 0; i < N; ++i) {
    out[4 * i] = static_cast<unsigned char>(h[i] >> 24);
    out[4 * i + 1] = static_cast<unsigned char>(h[i] >> 16);
    out[4 * i + 2] = static_cast<unsigned char>(h[i] >> 8);
    out[4 * i + 3] = static_cast<unsigned char>(h[i]);
  }
}

/// One hash function as PBKDF2 needs it: its context, block and digest sizes, and one
/// compression of a whole block with the chaining value read back (big-endian).
struct Sha1 {
  using Ctx = SHA_CTX;
  static constexpr std::size_t block = SHA_CBLOCK, size = SHA_DIGEST_LENGTH;
  static void init(Ctx* c) { SHA1_Init(c); }
  static void update(Ctx* c, const void* d, std::size_t n) { SHA1_Update(c, d, n); }
  static void final(unsigned char* out, Ctx* c) { SHA1_Final(out, c); }
  static void compress(Ctx* c, const unsigned char* b) { SHA1_Transform(c, b); }
  static void state(const Ctx& c, unsigned char* out) {
    const SHA_LONG h[] = {c.h0, c.h1, c.h2, c.h3, c.h4};
    store_be(h, out);
  }
};
struct Sha256 {
  using Ctx = SHA256_CTX;
  static constexpr std::size_t block = SHA256_CBLOCK, size = SHA256_DIGEST_LENGTH;
  static void init(Ctx* c) { SHA256_Init(c); }
  static void update(Ctx* c, const void* d, std::size_t n) { SHA256_Update(c, d, n); }
  static void final(unsigned char* out, Ctx* c) { SHA256_Final(out, c); }
  static void compress(Ctx* c, const unsigned char* b) { SHA256_Transform(c, b); }
  static void state(const Ctx& c, unsigned char* out) { store_be(c.h, out); }
};

/// PBKDF2-HMAC (RFC 8018 §5.2) with the HMAC key's inner and outer states computed once,
/// so each iteration costs two compressions of one block, with no padding or length
/// bookkeeping per call. PKCS5_PBKDF2_HMAC does the same work through EVP and the
/// provider layer, at ~6 k instructions an iteration: SCRAM's 4,096 iterations per login
/// were a third of a full run's CPU; SHA*_Update/Final per half still doubled it.
template <class H>
std::string fast_pbkdf2(std::string_view password, std::string_view salt, unsigned iterations,
                        std::size_t length) {
  unsigned char key[H::block] = {};
  if (password.size() > H::block) {
    typename H::Ctx c;
    H::init(&c);
    H::update(&c, password.data(), password.size());
    H::final(key, &c);
  } else {
    std::copy(password.begin(), password.end(), key);
  }
  unsigned char pad[H::block];
  typename H::Ctx inner, outer;
  for (std::size_t i = 0; i < H::block; ++i) pad[i] = key[i] ^ 0x36;
  H::init(&inner);
  H::update(&inner, pad, H::block);
  for (std::size_t i = 0; i < H::block; ++i) pad[i] = key[i] ^ 0x5c;
  H::init(&outer);
  H::update(&outer, pad, H::block);
  OPENSSL_cleanse(key, sizeof key);
  OPENSSL_cleanse(pad, sizeof pad);

  std::string out;
  unsigned char u[H::size], t[H::size];
  unsigned char m[H::block] = {};
  m[H::size] = 0x80;
  const std::uint64_t bits = (H::block + H::size) * 8;
  for (std::size_t i = 0; i < 8; ++i) m[H::block - 1 - i] = static_cast<unsigned char>(bits >> (8 * i));
  for (std::uint32_t block = 1; out.size() < length; ++block) {
    const unsigned char index[4] = {static_cast<unsigned char>(block >> 24),
                                    static_cast<unsigned char>(block >> 16),
                                    static_cast<unsigned char>(block >> 8),
                                    static_cast<unsigned char>(block)};
    typename H::Ctx c = inner;
    H::update(&c, salt.data(), salt.size());
    H::update(&c, index, sizeof index);
    H::final(u, &c);
    c = outer;
    H::update(&c, u, H::size);
    H::final(u, &c);
    std::copy(u, u + H::size, t);
    // Every later HMAC input is one digest after the 64-byte pad, so each half is one
    // compression of the same padded block: U, 0x80, zeros, the bit length of pad + U.
    std::copy(u, u + H::size, m);
    for (unsigned j = 1; j < iterations; ++j) {
      c = inner;
      H::compress(&c, m);
      H::state(c, m);
      c = outer;
      H::compress(&c, m);
      H::state(c, m);
      for (std::size_t k = 0; k < H::size; ++k) t[k] ^= m[k];
    }
    out.append(reinterpret_cast<const char*>(t), std::min(H::size, length - out.size()));
  }
  OPENSSL_cleanse(u, sizeof u);
  OPENSSL_cleanse(t, sizeof t);
  OPENSSL_cleanse(m, sizeof m);
  OPENSSL_cleanse(&inner, sizeof inner);
  OPENSSL_cleanse(&outer, sizeof outer);
  return out;
}

}  // namespace

Result<std::string> digest(const char* algorithm, std::string_view data) {
  auto md = fetch(algorithm);
  if (!md) return md.failure();
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  if (EVP_Digest(data.data(), data.size(), out, &length, md->get(), nullptr) != 1) {
    return fail(Failure::Kind::other, std::string(algorithm) + " digest failed");
  }
  return std::string(reinterpret_cast<const char*>(out), length);
}

Result<std::string> hmac(const char* algorithm, std::string_view key, std::string_view data) {
  auto md = fetch(algorithm);
  if (!md) return md.failure();
  if (!fits_int(key.size())) return fail(Failure::Kind::other, "HMAC key too long");
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  if (HMAC(md->get(), key.data(), static_cast<int>(key.size()), bytes(data), data.size(), out,
           &length) == nullptr) {
    return fail(Failure::Kind::other, std::string("HMAC-") + algorithm + " failed");
  }
  return std::string(reinterpret_cast<const char*>(out), length);
}

Result<std::string> pbkdf2(const char* algorithm, std::string_view password, std::string_view salt,
                           unsigned iterations, std::size_t length) {
  auto md = fetch(algorithm);
  if (!md) return md.failure();
  if (!fits_int(password.size()) || !fits_int(salt.size()) || !fits_int(length) ||
      iterations == 0 || iterations > static_cast<unsigned>(INT_MAX)) {
    return fail(Failure::Kind::other, "PBKDF2 parameters out of range");
  }
  const std::string_view name(algorithm);
  if (name == "SHA1") return fast_pbkdf2<Sha1>(password, salt, iterations, length);
  if (name == "SHA256") return fast_pbkdf2<Sha256>(password, salt, iterations, length);
  std::string out(length, '\0');
  if (PKCS5_PBKDF2_HMAC(password.data(), static_cast<int>(password.size()), bytes(salt),
                        static_cast<int>(salt.size()), static_cast<int>(iterations), md->get(),
                        static_cast<int>(length),
                        reinterpret_cast<unsigned char*>(out.data())) != 1) {
    return fail(Failure::Kind::other, std::string("PBKDF2-HMAC-") + algorithm + " failed");
  }
  return out;
}

Result<std::string> random_bytes(std::size_t count) {
  std::string out(count, '\0');
  if (!fits_int(count) ||
      RAND_bytes(reinterpret_cast<unsigned char*>(out.data()), static_cast<int>(count)) != 1) {
    return fail(Failure::Kind::other, "the random generator failed");
  }
  return out;
}

std::string hex(std::string_view data) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string out;
  out.reserve(data.size() * 2);
  for (const char c : data) {
    const auto b = static_cast<unsigned char>(c);
    out += digits[b >> 4];
    out += digits[b & 0x0F];
  }
  return out;
}

bool valid_utf8(std::string_view text) {
  std::size_t i = 0;
  while (i < text.size()) {
    const auto b0 = static_cast<unsigned char>(text[i]);
    std::size_t extra = 0;
    std::uint32_t cp = 0;
    if (b0 < 0x80) {
      ++i;
      continue;
    } else if ((b0 & 0xE0) == 0xC0) {
      extra = 1;
      cp = b0 & 0x1F;
    } else if ((b0 & 0xF0) == 0xE0) {
      extra = 2;
      cp = b0 & 0x0F;
    } else if ((b0 & 0xF8) == 0xF0) {
      extra = 3;
      cp = b0 & 0x07;
    } else {
      return false;
    }
    if (text.size() - i <= extra) return false;
    for (std::size_t k = 1; k <= extra; ++k) {
      const auto b = static_cast<unsigned char>(text[i + k]);
      if ((b & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (b & 0x3F);
    }
    static constexpr std::uint32_t smallest[] = {0, 0x80, 0x800, 0x10000};
    if (cp < smallest[extra] || cp > 0x10FFFF) return false;
    if (cp >= 0xD800 && cp <= 0xDFFF) return false;
    i += extra + 1;
  }
  return true;
}

bool equal_constant_time(std::string_view a, std::string_view b) {
  return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace mailready::proto::sasl::crypto
