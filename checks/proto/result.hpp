#pragma once
// Result<T>: a value or the reason a probe could not get it. Probe failures (refused,
// timeout, handshake failure, protocol violation) are return values in checks/proto;
// Poco's exceptions are caught at this layer and never reach a check.

#include <string>
#include <utility>
#include <variant>

namespace mailready::proto {

/// Why a network operation failed.
struct Failure {
  enum class Kind {
    refused,      ///< connection refused (closed port)
    timeout,      ///< no answer within the wait budget
    unreachable,  ///< no route / host unreachable / network down
    closed,       ///< the peer closed the connection
    tls,          ///< the TLS handshake failed
    protocol,     ///< the peer broke the protocol (line too long, garbage)
    resolve,      ///< the name did not resolve
    other,
  };
  Kind kind = Kind::other;
  std::string message;
};

struct Unit {};

template <class T>
class Result {
 public:
  Result(T value) : v_(std::move(value)) {}  // NOLINT(google-explicit-constructor)
  Result(Failure failure) : v_(std::move(failure)) {}  // NOLINT(google-explicit-constructor)

  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }
  T& value() { return std::get<0>(v_); }
  const T& value() const { return std::get<0>(v_); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  const Failure& failure() const { return std::get<1>(v_); }

 private:
  std::variant<T, Failure> v_;
};

inline Failure fail(Failure::Kind kind, std::string message) {
  return Failure{kind, std::move(message)};
}

}  // namespace mailready::proto
