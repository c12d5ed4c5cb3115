// The pure SMTP parsers (checks/proto/smtp.hpp): reply lines, EHLO capabilities,
// enhanced status codes and greeting classification. read_smtp_reply needs a socket and
// is covered by the scripted tests.

#include "checks/proto/smtp.hpp"

#include <catch2/catch.hpp>
#include <initializer_list>
#include <string>

using namespace mailready::proto;

namespace {

/// A well-formed reply assembled from the lines a server sends, as read_smtp_reply does.
SmtpReply reply_of(std::initializer_list<const char*> raw_lines) {
  SmtpReply reply;
  for (const char* raw : raw_lines) {
    const auto line = parse_smtp_line(raw);
    REQUIRE(line);
    reply.code = line->code;
    reply.lines.push_back(line->text);
  }
  return reply;
}

/// A reply whose (only) line was not an SMTP reply line.
SmtpReply garbage(const std::string& line) {
  SmtpReply reply;
  reply.malformed = true;
  reply.lines = {line};
  return reply;
}

}  // namespace

TEST_CASE("parse_smtp_line splits code, continuation and text", "[smtp]") {
  SECTION("a continuation line") {
    const auto l = parse_smtp_line("250-PIPELINING");
    REQUIRE(l);
    CHECK(l->code == 250);
    CHECK_FALSE(l->last);
    CHECK(l->text == "PIPELINING");
  }
  SECTION("a last line") {
    const auto l = parse_smtp_line("250 SMTPUTF8");
    REQUIRE(l);
    CHECK(l->code == 250);
    CHECK(l->last);
    CHECK(l->text == "SMTPUTF8");
  }
  SECTION("a bare code is a last line without text") {
    const auto l = parse_smtp_line("220");
    REQUIRE(l);
    CHECK(l->code == 220);
    CHECK(l->last);
    CHECK(l->text.empty());
  }
  SECTION("text keeps its inner spaces") {
    const auto l = parse_smtp_line("421 4.7.0 mx Error: too many connections");
    REQUIRE(l);
    CHECK(l->code == 421);
    CHECK(l->text == "4.7.0 mx Error: too many connections");
  }
}

TEST_CASE("parse_smtp_line rejects lines that are not SMTP replies", "[smtp]") {
  CHECK_FALSE(parse_smtp_line("2x0 hello"));
  CHECK_FALSE(parse_smtp_line("600 x"));  // the first digit is 2..5
  CHECK_FALSE(parse_smtp_line("199 x"));
  CHECK_FALSE(parse_smtp_line("250x"));  // no separator after the code
  CHECK_FALSE(parse_smtp_line("25"));
  CHECK_FALSE(parse_smtp_line(""));
  CHECK_FALSE(parse_smtp_line("* OK Dovecot ready."));
  CHECK_FALSE(parse_smtp_line("HTTP/1.1 400 Bad Request"));
}

TEST_CASE("parse_ehlo reads a Postfix EHLO reply", "[smtp]") {
  // Postfix with smtpd_sasl_auth_enable and broken_sasl_auth_clients = yes.
  const SmtpReply reply = reply_of({
      "250-mail.example.test",
      "250-PIPELINING",
      "250-SIZE 10240000",
      "250-VRFY",
      "250-ETRN",
      "250-STARTTLS",
      "250-AUTH PLAIN LOGIN",
      "250-AUTH=PLAIN LOGIN",
      "250-ENHANCEDSTATUSCODES",
      "250-8BITMIME",
      "250-DSN",
      "250-SMTPUTF8",
      "250 CHUNKING",
  });
  const SmtpCapabilities caps = parse_ehlo(reply);

  CHECK(caps.starttls);
  CHECK(caps.pipelining);
  CHECK(caps.eightbitmime);
  CHECK(caps.enhancedstatuscodes);
  CHECK(caps.smtputf8);
  REQUIRE(caps.size);
  CHECK(*caps.size == 10240000u);
  // Both AUTH lines name the same mechanisms: listed once, in advertised order.
  CHECK(caps.auth == std::vector<std::string>{"PLAIN", "LOGIN"});
  // The first line is the server's name, not an extension; AUTH= folds into AUTH.
  CHECK(caps.keywords == std::vector<std::string>{"PIPELINING", "SIZE", "VRFY", "ETRN", "STARTTLS",
                                                  "AUTH", "ENHANCEDSTATUSCODES", "8BITMIME", "DSN",
                                                  "SMTPUTF8", "CHUNKING"});
}

TEST_CASE("parse_ehlo does not take the server name line for an extension", "[smtp]") {
  // A server named like a keyword must not appear to offer it.
  const auto caps = parse_ehlo(reply_of({"250-STARTTLS", "250 PIPELINING"}));
  CHECK_FALSE(caps.starttls);
  CHECK(caps.pipelining);

  const auto bare = parse_ehlo(reply_of({"250 mail.example.test Hello [192.0.2.1]"}));
  CHECK(bare.keywords.empty());
  CHECK(bare.auth.empty());
  CHECK_FALSE(bare.size);
  CHECK_FALSE(bare.starttls);
}

TEST_CASE("parse_ehlo honours the pre-standard AUTH= form alone", "[smtp]") {
  const auto caps = parse_ehlo(reply_of({"250-mx.example.test", "250 AUTH=LOGIN PLAIN"}));
  CHECK(caps.auth == std::vector<std::string>{"LOGIN", "PLAIN"});
  CHECK(caps.keywords == std::vector<std::string>{"AUTH"});
}

TEST_CASE("parse_ehlo reads SIZE with and without a limit", "[smtp]") {
  SECTION("no SIZE line: no limit advertised") {
    CHECK_FALSE(parse_ehlo(reply_of({"250-mx", "250 8BITMIME"})).size);
  }
  SECTION("SIZE without a number: advertised, no fixed limit") {
    const auto caps = parse_ehlo(reply_of({"250-mx", "250 SIZE"}));
    REQUIRE(caps.size);
    CHECK(*caps.size == 0u);
  }
  SECTION("SIZE with junk: advertised, limit unknown") {
    const auto caps = parse_ehlo(reply_of({"250-mx", "250 SIZE unlimited"}));
    REQUIRE(caps.size);
    CHECK(*caps.size == 0u);
  }
  SECTION("a negative SIZE does not wrap to 2^64-1") {
    const auto caps = parse_ehlo(reply_of({"250-mx", "250 SIZE -1"}));
    REQUIRE(caps.size);
    CHECK(*caps.size == 0u);
  }
  SECTION("a limit beyond 64 bits is unknown, not an exception") {
    const auto caps = parse_ehlo(reply_of({"250-mx", "250 SIZE 999999999999999999999999"}));
    REQUIRE(caps.size);
    CHECK(*caps.size == 0u);
  }
}

TEST_CASE("parse_ehlo takes lower-case keywords and mechanisms", "[smtp]") {
  const auto caps = parse_ehlo(reply_of({
      "250-mx.example.test",
      "250-starttls",
      "250-pipelining",
      "250-8bitmime",
      "250-enhancedstatuscodes",
      "250-smtputf8",
      "250-size 52428800",
      "250 auth plain cram-md5",
  }));
  CHECK(caps.starttls);
  CHECK(caps.pipelining);
  CHECK(caps.eightbitmime);
  CHECK(caps.enhancedstatuscodes);
  CHECK(caps.smtputf8);
  REQUIRE(caps.size);
  CHECK(*caps.size == 52428800u);
  CHECK(caps.auth == std::vector<std::string>{"PLAIN", "CRAM-MD5"});
  CHECK(caps.keywords == std::vector<std::string>{"STARTTLS", "PIPELINING", "8BITMIME",
                                                  "ENHANCEDSTATUSCODES", "SMTPUTF8", "SIZE",
                                                  "AUTH"});
}

TEST_CASE("SmtpReply::enhanced reads the RFC 2034 code of the first line", "[smtp]") {
  CHECK(reply_of({"421 4.7.0 mx Error: too many connections"}).enhanced() == "4.7.0");
  CHECK(reply_of({"250 2.0.0 Ok"}).enhanced() == "2.0.0");
  CHECK(reply_of({"554 5.7.1 Service unavailable"}).enhanced() == "5.7.1");
  // Only the first line counts.
  CHECK(reply_of({"250-mx.example.test", "250 2.0.0 Ok"}).enhanced().empty());
  // A code alone on the line.
  CHECK(reply_of({"450 4.2.0"}).enhanced() == "4.2.0");

  // Not enhanced codes.
  CHECK(reply_of({"220 mx.example.test ESMTP Postfix"}).enhanced().empty());
  CHECK(reply_of({"220"}).enhanced().empty());
  CHECK(reply_of({"220 1.2.3 version"}).enhanced().empty());      // class 1 does not exist
  CHECK(reply_of({"421 4.7 try later"}).enhanced().empty());      // two parts
  CHECK(reply_of({"421 4.7.0.1 try later"}).enhanced().empty());  // four parts
  CHECK(reply_of({"421 4.. busy"}).enhanced().empty());           // empty parts
  CHECK(reply_of({"421 4.7. busy"}).enhanced().empty());
  CHECK(reply_of({"421 42.7.1 busy"}).enhanced().empty());  // the class is one digit
  CHECK(reply_of({"421 4.7.x busy"}).enhanced().empty());
  CHECK(garbage("4.7.0 not smtp").enhanced().empty());
}

TEST_CASE("SmtpReply::raw gives the lines as the server sent them", "[smtp]") {
  CHECK(reply_of({"220 mx.example.test ESMTP Postfix"}).raw() ==
        "220 mx.example.test ESMTP Postfix");
  CHECK(reply_of({"220-mx.example.test ESMTP", "220-no UCE", "220 welcome"}).raw() ==
        "220-mx.example.test ESMTP\n220-no UCE\n220 welcome");
  CHECK(garbage("HTTP/1.0 400 Bad Request").raw() == "HTTP/1.0 400 Bad Request");

  SECTION("a garbage line after a continuation is shown as it came") {
    SmtpReply r = reply_of({"220-mx.example.test"});
    r.malformed = true;
    r.lines.push_back("<html>");
    CHECK(r.raw() == "220-mx.example.test\n<html>");
  }
  SECTION("an empty reply is empty") {
    CHECK(SmtpReply{}.raw().empty());
  }
}

TEST_CASE("classify_smtp_greeting tells service, rate limits and refusals apart", "[smtp]") {
  CHECK(classify_smtp_greeting(reply_of({"220 mx.example.test ESMTP Postfix"})) ==
        GreetingKind::ok);
  CHECK(classify_smtp_greeting(reply_of({"220-mx.example.test ESMTP", "220 hello"})) ==
        GreetingKind::ok);
  CHECK(classify_smtp_greeting(reply_of({"421 mx.example.test Service not available"})) ==
        GreetingKind::rate_limited);
  CHECK(classify_smtp_greeting(reply_of({"450 4.7.1 Client host rejected: try again later"})) ==
        GreetingKind::rate_limited);
  CHECK(classify_smtp_greeting(reply_of({"554 5.7.1 Service unavailable; client host blocked"})) ==
        GreetingKind::refused);
  CHECK(classify_smtp_greeting(reply_of({"554 No SMTP service here"})) == GreetingKind::refused);
  CHECK(classify_smtp_greeting(reply_of({"521 mx does not accept mail"})) == GreetingKind::refused);

  // Not greetings: garbage, an empty reply, and codes that answer commands.
  CHECK(classify_smtp_greeting(garbage("HTTP/1.0 400 Bad Request")) == GreetingKind::unexpected);
  CHECK(classify_smtp_greeting(garbage("")) == GreetingKind::unexpected);
  CHECK(classify_smtp_greeting(SmtpReply{}) == GreetingKind::unexpected);
  CHECK(classify_smtp_greeting(reply_of({"250 mx.example.test"})) == GreetingKind::unexpected);
  CHECK(classify_smtp_greeting(reply_of({"450 mailbox busy"})) == GreetingKind::unexpected);

  SECTION("a 220 first line followed by garbage is not a greeting") {
    SmtpReply r = reply_of({"220-mx.example.test"});
    r.malformed = true;
    r.lines.push_back("<html>");
    CHECK(classify_smtp_greeting(r) == GreetingKind::unexpected);
  }
}

TEST_CASE("parse_ehlo keeps at most max_auth_mechanisms of a 256-line AUTH flood", "[smtp][limits]") {
  // 256 lines of 8 KiB of distinct names (within the line and reply limits): the old
  // linear search per name made this minutes of CPU. Correctness here; the time bound is
  // the scripted suite's.
  SmtpReply reply;
  reply.code = 250;
  reply.lines.push_back("mx.example.test");
  std::size_t names = 0;
  for (int i = 0; i < 256; ++i) {
    std::string line = "AUTH";
    while (line.size() < 8180) line += " M" + std::to_string(names++);
    reply.lines.push_back(line);
  }
  const auto caps = parse_ehlo(reply);
  REQUIRE(caps.auth.size() == max_auth_mechanisms);
  CHECK(caps.auth.front() == "M0");
  CHECK(caps.auth.back() == "M" + std::to_string(max_auth_mechanisms - 1));
  CHECK(caps.over_limit == names - max_auth_mechanisms);
  CHECK(caps.keywords == std::vector<std::string>{"AUTH"});
}

TEST_CASE("parse_ehlo drops repeated names without counting them over the limit", "[smtp][limits]") {
  SmtpReply reply;
  reply.code = 250;
  reply.lines.push_back("mx");
  for (int i = 0; i < 256; ++i) reply.lines.push_back("AUTH A B C PLAIN plain LOGIN");
  const auto caps = parse_ehlo(reply);
  CHECK(caps.auth == std::vector<std::string>{"A", "B", "C", "PLAIN", "LOGIN"});
  CHECK(caps.over_limit == 0);
  CHECK(caps.keywords == std::vector<std::string>{"AUTH"});
}

TEST_CASE("parse_ehlo caps the number of keywords", "[smtp][limits]") {
  SmtpReply reply;
  reply.code = 250;
  reply.lines.push_back("mx");
  for (int i = 0; i < 300; ++i) reply.lines.push_back("X-KEYWORD-" + std::to_string(i));
  reply.lines.push_back("STARTTLS");
  const auto caps = parse_ehlo(reply);
  CHECK(caps.keywords.size() == max_ehlo_keywords);
  CHECK(caps.over_limit == 300 + 1 - max_ehlo_keywords);
  // Flags are still read from every line, kept in the list or not.
  CHECK(caps.starttls);
}

TEST_CASE("parse_ehlo never yields an empty or malformed mechanism name", "[smtp][limits]") {
  const auto empty = parse_ehlo(reply_of({"250-mx", "250-AUTH=", "250 AUTH"}));
  CHECK(empty.auth.empty());
  CHECK(empty.invalid_auth == 1);
  CHECK(empty.keywords == std::vector<std::string>{"AUTH"});

  const auto odd = parse_ehlo(reply_of({"250-mx", "250 AUTH PLAIN,LOGIN <x> THIS-NAME-IS-LONGER-THAN-20 CRAM-MD5 X_1"}));
  CHECK(odd.auth == std::vector<std::string>{"CRAM-MD5", "X_1"});
  CHECK(odd.invalid_auth == 3);
}

TEST_CASE("is_sasl_mechanism_name follows RFC 4422", "[smtp]") {
  CHECK(is_sasl_mechanism_name("SCRAM-SHA-256-PLUS"));
  CHECK(is_sasl_mechanism_name("X"));
  CHECK(is_sasl_mechanism_name("ABCDEFGHIJKLMNOPQRST"));
  CHECK_FALSE(is_sasl_mechanism_name("ABCDEFGHIJKLMNOPQRSTU"));
  CHECK_FALSE(is_sasl_mechanism_name(""));
  CHECK_FALSE(is_sasl_mechanism_name("plain"));
  CHECK_FALSE(is_sasl_mechanism_name("A B"));
  CHECK_FALSE(is_sasl_mechanism_name(std::string("A\0B", 3)));
}
