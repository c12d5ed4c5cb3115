// The simple mechanisms (PLAIN, LOGIN, CRAM-MD5, XOAUTH2, OAUTHBEARER) against their
// RFC examples and exact byte strings, and the name->factory table. SCRAM and NTLM have
// their own files.

#include <catch2/catch.hpp>
#include <string>

#include "checks/proto/sasl/mechanisms.hpp"
#include "checks/proto/sasl/sasl.hpp"

using namespace mailready::proto;
using namespace mailready::proto::sasl;

namespace {

Credentials creds(std::string user, std::string password, std::string authzid = {},
                  std::string token = {}) {
  return Credentials{std::move(user), std::move(password), std::move(authzid), std::move(token)};
}

/// `text` with each "^A" replaced by the byte 0x01 (RFC 7628's kvsep).
std::string ctl(std::string text) {
  for (auto at = text.find("^A"); at != std::string::npos; at = text.find("^A", at + 1)) {
    text.replace(at, 2, "\x01");
  }
  return text;
}

}  // namespace

TEST_CASE("PLAIN sends authzid NUL authcid NUL password (RFC 4616 example)", "[sasl][plain]") {
  // RFC 4616 §4: authcid "tim", password "tanstaaftanstaaf", with and without authzid.
  auto m = make("PLAIN", creds("tim", "tanstaaftanstaaf"));
  REQUIRE(m);
  CHECK(m->name() == "PLAIN");
  CHECK(m->client_first());
  CHECK(m->sends_password_in_clear());
  const auto ir = m->initial_response();
  REQUIRE(ir);
  CHECK(ir.value() == std::string("\0tim\0tanstaaftanstaaf", 21));
  CHECK(base64_encode(ir.value()) == "AHRpbQB0YW5zdGFhZnRhbnN0YWFm");
  CHECK_FALSE(m->step(""));  // nothing follows the one message

  auto with_authzid = make("PLAIN", creds("Kurt", "xipj3plmq", "Ursel"));
  const auto r = with_authzid->initial_response();
  REQUIRE(r);
  CHECK(r.value() == std::string("Ursel\0Kurt\0xipj3plmq", 20));
}

TEST_CASE("PLAIN answers an empty first challenge and refuses NUL in a field", "[sasl][plain]") {
  auto m = make("plain", creds("u", "p"));
  const auto r = m->step("");
  REQUIRE(r);
  CHECK(r.value() == std::string("\0u\0p", 4));
  CHECK_FALSE(m->initial_response());

  CHECK_FALSE(make("PLAIN", creds("u", "p"))->step("unexpected"));
  const auto nul = make("PLAIN", creds("u", std::string("a\0b", 3)))->initial_response();
  REQUIRE_FALSE(nul);
  CHECK(nul.failure().kind == Failure::Kind::other);
}

TEST_CASE("LOGIN answers user then password whatever the prompts say", "[sasl][login]") {
  auto m = make("LOGIN", creds("alice", "s3cret"));
  REQUIRE(m);
  CHECK_FALSE(m->client_first());
  CHECK(m->sends_password_in_clear());
  CHECK_FALSE(m->initial_response());
  SECTION("the usual prompts") {
    CHECK(m->step("Username:").value() == "alice");
    CHECK(m->step("Password:").value() == "s3cret");
  }
  SECTION("other prompt texts, in the same order") {
    CHECK(m->step("").value() == "alice");
    CHECK(m->step("Passwort:").value() == "s3cret");
  }
  SECTION("prompts swapped: we still go by position") {
    CHECK(m->step("Password:").value() == "alice");
    CHECK(m->step("Username:").value() == "s3cret");
  }
  const auto third = m->step("Username:");
  REQUIRE_FALSE(third);
  CHECK(third.failure().kind == Failure::Kind::protocol);
}

TEST_CASE("CRAM-MD5 matches the RFC 2195 example", "[sasl][cram-md5]") {
  auto m = make("CRAM-MD5", creds("tim", "tanstaaftanstaaf"));
  REQUIRE(m);
  CHECK_FALSE(m->client_first());
  CHECK_FALSE(m->sends_password_in_clear());
  CHECK_FALSE(m->initial_response());
  const auto r = m->step("<1896.697170952@postoffice.reston.mci.net>");
  REQUIRE(r);
  CHECK(r.value() == "tim b913a602c7eda7a495b4e6e7334d3890");
  CHECK(base64_encode(r.value()) == "dGltIGI5MTNhNjAyYzdlZGE3YTQ5NWI0ZTZlNzMzNGQzODkw");
  CHECK_FALSE(m->step("<again@example>"));
}

TEST_CASE("CRAM-MD5 refuses an empty challenge", "[sasl][cram-md5]") {
  const auto r = make("CRAM-MD5", creds("tim", "x"))->step("");
  REQUIRE_FALSE(r);
  CHECK(r.failure().kind == Failure::Kind::protocol);
}

TEST_CASE("XOAUTH2 sends the exact client message and answers errors with an empty line",
          "[sasl][xoauth2]") {
  auto m = make("XOAUTH2", creds("someuser@example.com", "", "",
                                 "ya29.vF9dft4qmTc2Nvb3RlckBhdHRhdmlzdGEuY29tCg"));
  REQUIRE(m);
  CHECK(m->client_first());
  CHECK_FALSE(m->sends_password_in_clear());
  const auto ir = m->initial_response();
  REQUIRE(ir);
  CHECK(ir.value() == ctl("user=someuser@example.com^Aauth=Bearer "
                          "ya29.vF9dft4qmTc2Nvb3RlckBhdHRhdmlzdGEuY29tCg^A^A"));
  // Google's example encoding of the same message.
  CHECK(base64_encode(ir.value()) ==
        "dXNlcj1zb21ldXNlckBleGFtcGxlLmNvbQFhdXRoPUJlYXJlciB5YTI5LnZGOWRmdDRxbVRjMk52YjNSbGNrQmhkSF"
        "JoZG1semRHRXVZMjl0Q2cBAQ==");

  CHECK_FALSE(m->error_response("").has_value());  // no error yet: cancel as usual
  const std::string error =
      R"({"status":"401","schemes":"Bearer","scope":"https://mail.google.com/"})";
  const auto r = m->step(error);
  REQUIRE_FALSE(r);
  CHECK(r.failure().message.find("\"status\":\"401\"") != std::string::npos);
  const auto reply = m->error_response(error);
  REQUIRE(reply.has_value());
  CHECK(reply->empty());
}

TEST_CASE("XOAUTH2 without SASL-IR answers the empty first challenge", "[sasl][xoauth2]") {
  auto m = make("XOAUTH2", creds("u", "", "", "t"));
  CHECK(m->step("").value() == ctl("user=u^Aauth=Bearer t^A^A"));
  auto bad = make("XOAUTH2", creds(ctl("u^Aauth=Bearer evil"), "", "", "t"));
  CHECK_FALSE(bad->initial_response());
}

TEST_CASE("OAUTHBEARER sends the RFC 7628 client message and answers errors with ^A",
          "[sasl][oauthbearer]") {
  auto m = make("OAUTHBEARER",
                creds("user@example.com", "", "", "vF9dft4qmTc2Nvb3RlckBhbHRhdmlzdGEuY29tCg=="));
  REQUIRE(m);
  CHECK(m->client_first());
  const auto ir = m->initial_response();
  REQUIRE(ir);
  CHECK(ir.value() ==
        ctl("n,a=user@example.com,^Aauth=Bearer vF9dft4qmTc2Nvb3RlckBhbHRhdmlzdGEuY29tCg==^A^A"));

  // RFC 7628 §4.3: the error challenge, then the client's ^A.
  const std::string error =
      R"({"status":"invalid_token","scope":"example_scope","openid-configuration":"https://example.com/.well-known/openid-configuration"})";
  CHECK_FALSE(m->step(error));
  const auto reply = m->error_response(error);
  REQUIRE(reply.has_value());
  CHECK(*reply == "\x01");
}

TEST_CASE("OAUTHBEARER escapes the authzid and prefers it to the user name",
          "[sasl][oauthbearer]") {
  CHECK(make("OAUTHBEARER", creds("a,b=c", "", "", "t"))->initial_response().value() ==
        ctl("n,a=a=2Cb=3Dc,^Aauth=Bearer t^A^A"));
  CHECK(make("OAUTHBEARER", creds("user", "", "admin", "t"))->initial_response().value() ==
        ctl("n,a=admin,^Aauth=Bearer t^A^A"));
  CHECK(make("OAUTHBEARER", creds("", "", "", "t"))->initial_response().value() ==
        ctl("n,,^Aauth=Bearer t^A^A"));
  CHECK_FALSE(make("OAUTHBEARER", creds("u", "", "", ctl("t^Ax")))->initial_response());
}

TEST_CASE("make() builds every supported mechanism and nothing else", "[sasl][table]") {
  const Credentials c = creds("u", "p", "", "t");
  REQUIRE(supported().size() == 8);
  CHECK(supported().front() == "SCRAM-SHA-256");
  CHECK(supported().back() == "LOGIN");
  for (const auto name : supported()) {
    CAPTURE(name);
    auto m = make(name, c);
    REQUIRE(m);
    CHECK(m->name() == name);
    CHECK(m->sends_password_in_clear() == (name == "PLAIN" || name == "LOGIN"));
    if (m->client_first()) CHECK(m->initial_response());
    if (name.rfind("SCRAM", 0) != 0) CHECK(m->verify_server_final(""));
  }
  CHECK(make("scram-sha-256", c)->name() == "SCRAM-SHA-256");
  for (const char* name : {"DIGEST-MD5", "GSSAPI", "EXTERNAL", "ANONYMOUS", "SCRAM-SHA-256-PLUS",
                           "PLAINX", "", "NTLMv1"}) {
    CAPTURE(name);
    CHECK(make(name, c) == nullptr);
  }
}

TEST_CASE("iphone_setting names the iPhone's authentication choices", "[sasl][table]") {
  CHECK(iphone_setting("PLAIN") == "Password");
  CHECK(iphone_setting("LOGIN") == "Password");
  CHECK(iphone_setting("IMAP-LOGIN") == "Password");
  CHECK(iphone_setting("CRAM-MD5") == "MD5 Challenge-Response");
  CHECK(iphone_setting("cram-md5") == "MD5 Challenge-Response");
  CHECK(iphone_setting("NTLM") == "NTLM");
  CHECK(iphone_setting("DIGEST-MD5") == "HTTP MD5 Digest");
  CHECK(iphone_setting("SCRAM-SHA-256").empty());
  CHECK(iphone_setting("XOAUTH2").empty());
  CHECK(iphone_setting("GSSAPI").empty());
  CHECK(iphone_setting("").empty());
}
