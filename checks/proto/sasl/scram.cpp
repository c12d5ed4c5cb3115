// SCRAM-SHA-1 (RFC 5802) and SCRAM-SHA-256 (RFC 7677), without channel binding: the
// GS2 header is "n,," ("n,a=authzid," with an authzid), so c= is base64 of that header.
//
//   C: n,,n=user,r=<cnonce>                            client-first
//   S: r=<cnonce><snonce>,s=<salt>,i=<count>           server-first
//   C: c=biws,r=<cnonce><snonce>,p=<ClientProof>       client-final
//   S: v=<ServerSignature>                             server-final
//
// SaltedPassword = Hi(Normalize(password), salt, i) is PBKDF2-HMAC (RFC 8018). The
// server-final message proves the server holds the key derived from the password: a
// mismatch is a failure, never a success.
//
// SASLprep (RFC 4013) is simplified: it is the identity on printable ASCII, so we accept
// passwords made only of printable ASCII and refuse any other with a clear failure
// rather than send a proof the server would compute differently. User names and
// authzids are sent as given (RFC 5802 §5.1 escaping only; most servers do not SASLprep
// them either), but must be UTF-8 without NUL.
//
// The server is not trusted: server-first is parsed strictly (attribute order r, s, i;
// the nonce must start with ours; the salt must be base64) and the iteration count is
// capped, because a hostile server could otherwise make us compute PBKDF2 for hours.

#include <cstdint>
#include <initializer_list>
#include <string>
#include <utility>
#include <vector>

#include "checks/proto/sasl/crypto.hpp"
#include "checks/proto/sasl/mechanisms.hpp"

namespace mailready::proto::sasl {
namespace {

/// The most PBKDF2 rounds we run for a server: ~0.2 s with SHA-256 here, above what
/// deployments use (RFC 7677's 4,096; OWASP's 600,000 for PBKDF2-HMAC-SHA256), and a bound
/// on the CPU a hostile server can make one login cost (no socket timeout covers it).
constexpr std::uint32_t kMaxIterations = 1'000'000;


/// RFC 5802 "printable": %x21-2B / %x2D-7E (no comma), the nonce alphabet.
bool printable(std::string_view text) {
  for (const char ch : text) {
    const auto b = static_cast<unsigned char>(ch);
    if (b < 0x21 || b > 0x7E || ch == ',') return false;
  }
  return true;
}

std::vector<std::string_view> split_commas(std::string_view text) {
  std::vector<std::string_view> out;
  while (true) {
    const auto comma = text.find(',');
    out.push_back(text.substr(0, comma));
    if (comma == std::string_view::npos) break;
    text.remove_prefix(comma + 1);
  }
  return out;
}

/// True for "x=..." with x a letter (RFC 5802 attr-val).
bool is_attribute(std::string_view attr) {
  return attr.size() >= 2 && attr[1] == '=' &&
         ((attr[0] >= 'a' && attr[0] <= 'z') || (attr[0] >= 'A' && attr[0] <= 'Z'));
}

std::string xor_bytes(std::string a, std::string_view b) {
  for (std::size_t i = 0; i < a.size() && i < b.size(); ++i) {
    a[i] = static_cast<char>(static_cast<unsigned char>(a[i]) ^ static_cast<unsigned char>(b[i]));
  }
  return a;
}

class Scram final : public Mechanism {
 public:
  Scram(ScramHash hash, Credentials credentials, std::string client_nonce)
      : hash_(hash), c_(std::move(credentials)), nonce_(std::move(client_nonce)) {}

  std::string_view name() const override {
    return hash_ == ScramHash::sha1 ? "SCRAM-SHA-1" : "SCRAM-SHA-256";
  }
  bool client_first() const override { return true; }
  bool sends_password_in_clear() const override { return false; }

  Result<std::string> initial_response() override {
    if (state_ != State::start) return failure(Failure::Kind::other, "client-first already sent");
    auto checked = check_credentials();
    if (!checked) return fail_with(checked.failure());
    if (nonce_.empty()) {
      auto random = crypto::random_bytes(18);
      if (!random) return fail_with(random.failure());
      nonce_ = base64_encode(random.value());
    }
    if (!printable(nonce_)) return failure(Failure::Kind::other, "client nonce is not printable");
    gs2_header_ = c_.authzid.empty() ? "n,," : "n,a=" + saslname(c_.authzid) + ",";
    client_first_bare_ = "n=" + saslname(c_.user) + ",r=" + nonce_;
    state_ = State::sent_first;
    return gs2_header_ + client_first_bare_;
  }

  Result<std::string> step(std::string_view challenge) override {
    switch (state_) {
      case State::start:
        // Without SASL-IR the server starts with an empty challenge.
        if (!challenge.empty()) {
          return failure(Failure::Kind::protocol, "the server's first challenge is not empty");
        }
        return initial_response();
      case State::sent_first: return client_final(challenge);
      case State::sent_final: {
        auto verified = check_server_final(challenge);
        if (!verified) return fail_with(verified.failure());
        state_ = State::done;
        return std::string();  // RFC 4422 §5: an empty response acknowledges server-final
      }
      case State::done: return failure(Failure::Kind::protocol, "challenge after server-final");
      case State::failed: break;
    }
    return failure(Failure::Kind::protocol, "challenge after a failed step");
  }

  // Called after the server's success reply, with the data that came with it (RFC 4422
  // §5: "additional data with success"), or "" when server-final came as a challenge.
  bool verify_server_final(std::string_view server_final) override {
    if (state_ == State::done && server_final.empty()) return true;  // step() checked it
    if (state_ != State::sent_final && state_ != State::done) return false;
    const bool ok = check_server_final(server_final).ok();
    state_ = ok ? State::done : State::failed;
    return ok;
  }

 private:
  enum class State {
    start,       ///< nothing sent
    sent_first,  ///< client-first sent, waiting for server-first
    sent_final,  ///< client-final sent, waiting for server-final (v= or e=)
    done,        ///< the server signature was verified
    failed,      ///< a step failed; the exchange must be cancelled
  };

  const char* algorithm() const { return hash_ == ScramHash::sha1 ? "SHA1" : "SHA256"; }
  std::size_t hash_size() const { return hash_ == ScramHash::sha1 ? 20 : 32; }

  Failure failure(Failure::Kind kind, const std::string& message) {
    state_ = State::failed;
    return fail(kind, std::string(name()) + ": " + message);
  }
  Failure fail_with(Failure f) {
    state_ = State::failed;
    f.message = std::string(name()) + ": " + f.message;
    return f;
  }

  Result<Unit> check_credentials() const {
    for (const char ch : c_.password) {
      const auto b = static_cast<unsigned char>(ch);
      if (b >= 0x80) {
        return fail(Failure::Kind::other,
                    "the password is not ASCII; SASLprep (RFC 4013) is not implemented, so "
                    "mailready cannot send a SCRAM proof the server would accept");
      }
      if (b < 0x20 || b == 0x7F) {
        return fail(Failure::Kind::other,
                    "the password contains a control character, which SASLprep prohibits");
      }
    }
    for (const std::string* id : {&c_.user, &c_.authzid}) {
      if (id->find('\0') != std::string::npos || !crypto::valid_utf8(*id)) {
        return fail(Failure::Kind::other, "the user name or authzid is not UTF-8 without NUL");
      }
    }
    return Unit{};
  }

  /// Parses server-first and builds client-final (RFC 5802 §3, §5.1).
  Result<std::string> client_final(std::string_view server_first) {
    const auto attrs = split_commas(server_first);
    if (!attrs.empty() && attrs[0].substr(0, 2) == "m=") {
      return failure(Failure::Kind::protocol, "server-first demands an unsupported extension (m=)");
    }
    if (attrs.size() < 3 || attrs[0].substr(0, 2) != "r=" || attrs[1].substr(0, 2) != "s=" ||
        attrs[2].substr(0, 2) != "i=") {
      return failure(Failure::Kind::protocol, "server-first is not r=...,s=...,i=...");
    }
    for (std::size_t k = 3; k < attrs.size(); ++k) {
      if (!is_attribute(attrs[k])) {
        return failure(Failure::Kind::protocol, "server-first has a malformed extension");
      }
    }

    const std::string_view nonce = attrs[0].substr(2);
    if (!printable(nonce)) return failure(Failure::Kind::protocol, "the nonce is not printable");
    if (nonce.substr(0, nonce_.size()) != nonce_) {
      return failure(Failure::Kind::protocol, "the server nonce does not start with ours");
    }
    auto salt = base64_decode(attrs[1].substr(2));
    if (!salt || salt->empty()) return failure(Failure::Kind::protocol, "the salt is not base64");
    const std::string_view count = attrs[2].substr(2);
    std::uint32_t iterations = 0;
    for (const char ch : count) {
      if (ch < '0' || ch > '9') {
        return failure(Failure::Kind::protocol, "the iteration count is not a number");
      }
      iterations = iterations * 10 + static_cast<std::uint32_t>(ch - '0');
      if (iterations > kMaxIterations) break;  // no overflow: at most 10 * 1e6 + 9
    }
    // posit-number = %x31-39 *DIGIT: no leading zero, no sign.
    if (count.empty() || count[0] == '0' || iterations > kMaxIterations) {
      return failure(
          Failure::Kind::protocol,
          "the iteration count " + std::string(count.substr(0, 20)) + " is outside 1..1000000");
    }

    // RFC 5802 §3: the keys and the proof.
    auto salted = crypto::pbkdf2(algorithm(), c_.password, salt.value(), iterations, hash_size());
    if (!salted) return fail_with(salted.failure());
    auto client_key = crypto::hmac(algorithm(), salted.value(), "Client Key");
    auto server_key = crypto::hmac(algorithm(), salted.value(), "Server Key");
    if (!client_key) return fail_with(client_key.failure());
    if (!server_key) return fail_with(server_key.failure());
    auto stored_key = crypto::digest(algorithm(), client_key.value());
    if (!stored_key) return fail_with(stored_key.failure());

    const std::string without_proof =
        "c=" + base64_encode(gs2_header_) + ",r=" + std::string(nonce);
    const std::string auth_message =
        client_first_bare_ + "," + std::string(server_first) + "," + without_proof;
    auto client_signature = crypto::hmac(algorithm(), stored_key.value(), auth_message);
    auto server_signature = crypto::hmac(algorithm(), server_key.value(), auth_message);
    if (!client_signature) return fail_with(client_signature.failure());
    if (!server_signature) return fail_with(server_signature.failure());
    expected_signature_ = server_signature.value();

    const std::string proof = xor_bytes(client_key.value(), client_signature.value());
    state_ = State::sent_final;
    return without_proof + ",p=" + base64_encode(proof);
  }

  /// Checks "v=<base64 ServerSignature>[,ext...]"; "e=<error>" is the server's refusal.
  Result<Unit> check_server_final(std::string_view server_final) const {
    const std::string_view first = server_final.substr(0, server_final.find(','));
    if (first.substr(0, 2) == "e=") {
      return fail(Failure::Kind::other, "the server refused: " + std::string(first.substr(2, 200)));
    }
    if (first.substr(0, 2) != "v=") {
      return fail(Failure::Kind::protocol, "server-final is neither v= nor e=");
    }
    auto signature = base64_decode(first.substr(2));
    if (!signature || !crypto::equal_constant_time(signature.value(), expected_signature_)) {
      return fail(Failure::Kind::protocol,
                  "the server signature is wrong: the server does not know the password "
                  "(or is not the server it claims to be)");
    }
    return Unit{};
  }

  ScramHash hash_;
  Credentials c_;
  std::string nonce_;
  State state_ = State::start;
  std::string gs2_header_;
  std::string client_first_bare_;
  std::string expected_signature_;
};

}  // namespace

std::unique_ptr<Mechanism> make_scram(ScramHash hash, const Credentials& credentials,
                                      std::string client_nonce) {
  return std::make_unique<Scram>(hash, credentials, std::move(client_nonce));
}

}  // namespace mailready::proto::sasl
