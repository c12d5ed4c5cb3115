#pragma once
// Judging a negotiated TLS session and the protocol versions a server accepts.

#include <string>
#include <vector>

#include "checks/tls/issue.hpp"

namespace mailready::tls {

/// What one handshake negotiated (proto::TlsSession without the timing).
struct SessionFacts {
  std::string protocol;  ///< "TLSv1.3"
  std::string cipher;    ///< OpenSSL's name, "TLS_AES_256_GCM_SHA384"
  int bits = 0;          ///< secret bits of the cipher (0 for a NULL cipher)
};

/// tls.weak-cipher (critical): the negotiated cipher has fewer than 128 secret bits (the
/// minimum in Apple's "iPhone and IMAP" guide); not judged when `facts.cipher` is empty
/// (nothing was negotiated).
/// tls.legacy-protocol (warning): the server accepts TLS 1.0 or 1.1 (`accepts_legacy`, or
/// a non-empty `legacy_versions`, which the message lists, e.g. {"TLSv1", "TLSv1.1"}).
/// tls.no-tls13 (info): TLS 1.3 is not supported (not raised when the session itself
/// negotiated TLS 1.3).
std::vector<Issue> evaluate_session(const SessionFacts& facts, bool accepts_legacy,
                                    std::vector<std::string> legacy_versions, bool tls13_supported);

}  // namespace mailready::tls
