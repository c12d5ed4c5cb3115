// The pure IMAP parsers (checks/proto/imap.hpp): greetings, capability lists and the
// capabilities of a command's reply.

#include "checks/proto/imap.hpp"

#include <catch2/catch.hpp>
#include <limits>
#include <string>
#include <vector>

using namespace mailready::proto;
using Caps = std::vector<std::string>;

TEST_CASE("parse_imap_greeting reads a Dovecot greeting with capabilities", "[imap]") {
  const auto g = parse_imap_greeting(
      "* OK [CAPABILITY IMAP4rev1 STARTTLS AUTH=PLAIN LOGINDISABLED] Dovecot ready.");
  CHECK(g.kind == ImapGreeting::Kind::ok);
  CHECK(g.text == "Dovecot ready.");
  CHECK(g.capabilities == Caps{"IMAP4REV1", "STARTTLS", "AUTH=PLAIN", "LOGINDISABLED"});
}

TEST_CASE("parse_imap_greeting reads PREAUTH and BYE", "[imap]") {
  const auto pre = parse_imap_greeting("* PREAUTH [CAPABILITY IMAP4rev2] Logged in as alice");
  CHECK(pre.kind == ImapGreeting::Kind::preauth);
  CHECK(pre.text == "Logged in as alice");
  CHECK(pre.capabilities == Caps{"IMAP4REV2"});

  const auto bye = parse_imap_greeting("* BYE Too many connections");
  CHECK(bye.kind == ImapGreeting::Kind::bye);
  CHECK(bye.text == "Too many connections");
  CHECK(bye.capabilities.empty());
}

TEST_CASE("parse_imap_greeting takes lower-case status words", "[imap]") {
  const auto g = parse_imap_greeting("* ok hi");
  CHECK(g.kind == ImapGreeting::Kind::ok);
  CHECK(g.text == "hi");

  const auto caps = parse_imap_greeting("* ok [capability imap4rev1 idle] hi");
  CHECK(caps.kind == ImapGreeting::Kind::ok);
  CHECK(caps.capabilities == Caps{"IMAP4REV1", "IDLE"});
  CHECK(caps.text == "hi");
}

TEST_CASE("parse_imap_greeting keeps the whole line of what is not a greeting", "[imap]") {
  const auto http = parse_imap_greeting("HTTP/1.0 400 Bad Request");
  CHECK(http.kind == ImapGreeting::Kind::unexpected);
  CHECK(http.text == "HTTP/1.0 400 Bad Request");
  CHECK(http.capabilities.empty());

  const auto smtp = parse_imap_greeting("220 mx.example.test ESMTP Postfix");
  CHECK(smtp.kind == ImapGreeting::Kind::unexpected);
  CHECK(smtp.text == "220 mx.example.test ESMTP Postfix");

  const auto empty = parse_imap_greeting("");
  CHECK(empty.kind == ImapGreeting::Kind::unexpected);
  CHECK(empty.text.empty());

  // Untagged, but not a greeting status.
  CHECK(parse_imap_greeting("* NO go away").kind == ImapGreeting::Kind::unexpected);
  CHECK(parse_imap_greeting("* OKAY then").kind == ImapGreeting::Kind::unexpected);
  CHECK(parse_imap_greeting("+ OK POP3 ready").kind == ImapGreeting::Kind::unexpected);
  CHECK(parse_imap_greeting("+OK Dovecot ready.").kind == ImapGreeting::Kind::unexpected);
}

TEST_CASE("parse_imap_greeting handles a bare OK and codes other than CAPABILITY", "[imap]") {
  const auto bare = parse_imap_greeting("* OK");
  CHECK(bare.kind == ImapGreeting::Kind::ok);
  CHECK(bare.text.empty());

  const auto alert = parse_imap_greeting("* OK [ALERT] System shutdown in 10 minutes");
  CHECK(alert.kind == ImapGreeting::Kind::ok);
  CHECK(alert.text == "System shutdown in 10 minutes");
  CHECK(alert.capabilities.empty());
}

TEST_CASE("parse_imap_capabilities upper-cases and drops duplicates", "[imap]") {
  CHECK(parse_imap_capabilities("IMAP4rev1 starttls Auth=Plain IMAP4REV1  STARTTLS") ==
        Caps{"IMAP4REV1", "STARTTLS", "AUTH=PLAIN"});
  CHECK(parse_imap_capabilities("").empty());
  CHECK(parse_imap_capabilities("   ").empty());
}

TEST_CASE("capabilities_of reads an untagged CAPABILITY line", "[imap]") {
  ImapReply reply;
  reply.status = "OK";
  reply.text = "Pre-login capabilities listed, post-login capabilities have more.";
  reply.untagged = {"OK [ALERT] hello",
                    "CAPABILITY IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE LITERAL+ "
                    "STARTTLS AUTH=PLAIN"};
  CHECK(capabilities_of(reply) == Caps{"IMAP4REV1", "SASL-IR", "LOGIN-REFERRALS", "ID", "ENABLE",
                                       "IDLE", "LITERAL+", "STARTTLS", "AUTH=PLAIN"});
}

TEST_CASE("capabilities_of reads a CAPABILITY code in the tagged line", "[imap]") {
  ImapReply reply;
  reply.status = "OK";
  reply.text = "[CAPABILITY IMAP4rev1 IDLE MOVE] Logged in";
  CHECK(capabilities_of(reply) == Caps{"IMAP4REV1", "IDLE", "MOVE"});
}

TEST_CASE("capabilities_of is empty when the reply names none", "[imap]") {
  ImapReply reply;
  reply.status = "OK";
  reply.text = "[ALERT] Logged in";
  reply.untagged = {"5 EXISTS", "OK [UIDVALIDITY 3857529045] UIDs valid"};
  CHECK(capabilities_of(reply).empty());
  CHECK(capabilities_of(ImapReply{}).empty());
}

TEST_CASE("has_capability ignores case", "[imap]") {
  const Caps caps = parse_imap_capabilities("IMAP4rev1 STARTTLS AUTH=PLAIN");
  CHECK(has_capability(caps, "starttls"));
  CHECK(has_capability(caps, "STARTTLS"));
  CHECK(has_capability(caps, "auth=plain"));
  CHECK(has_capability({"StartTLS"}, "STARTTLS"));
  // Whole atoms only.
  CHECK_FALSE(has_capability(caps, "AUTH"));
  CHECK_FALSE(has_capability(caps, "STARTTLSX"));
  CHECK_FALSE(has_capability(caps, "LOGINDISABLED"));
  CHECK_FALSE(has_capability({}, "IMAP4REV1"));
}

TEST_CASE("LIST and XLIST lines parse into attributes, delimiter and name", "[imap]") {
  using mailready::proto::parse_list_line;
  const auto sent = parse_list_line(R"(LIST (\HasNoChildren \Sent) "." "Sent Messages")");
  REQUIRE(sent);
  CHECK(sent->attributes == std::vector<std::string>{"\\HasNoChildren", "\\Sent"});
  CHECK(sent->delimiter == ".");
  CHECK(sent->name == "Sent Messages");

  const auto atom = parse_list_line(R"(XLIST (\HasNoChildren \Inbox) "/" INBOX)");
  REQUIRE(atom);
  CHECK(atom->name == "INBOX");

  const auto nil = parse_list_line(R"(LIST (\Noselect) NIL "")");
  REQUIRE(nil);
  CHECK(nil->delimiter.empty());
  CHECK(nil->name.empty());

  const auto escaped = parse_list_line(R"(LIST () "." "a\"b\\c")");
  REQUIRE(escaped);
  CHECK(escaped->name == "a\"b\\c");

  CHECK_FALSE(parse_list_line("LSUB () \".\" INBOX"));
  CHECK_FALSE(parse_list_line("LIST \\Sent \".\" Sent"));
  CHECK_FALSE(parse_list_line(R"(LIST () "." "unterminated)"));
  CHECK_FALSE(parse_list_line("LIST ()"));
}

TEST_CASE("find_special prefers the attribute, then the mailbox's last level by name", "[imap]") {
  using mailready::proto::find_special;
  using mailready::proto::ImapMailbox;
  const std::vector<ImapMailbox> boxes = {
      {{"\\HasNoChildren"}, ".", "INBOX"},
      {{"\\HasNoChildren"}, ".", "INBOX.Sent Items"},
      {{"\\HasNoChildren", "\\Sent"}, ".", "Gesendet"},
  };
  const auto* by_attribute = find_special(boxes, "\\Sent", {"Sent", "Sent Items"});
  REQUIRE(by_attribute != nullptr);
  CHECK(by_attribute->name == "Gesendet");

  const std::vector<ImapMailbox> plain = {{{}, ".", "INBOX"}, {{}, ".", "INBOX.sent items"}};
  const auto* by_name = find_special(plain, "\\Sent", {"Sent", "Sent Items"});
  REQUIRE(by_name != nullptr);
  CHECK(by_name->name == "INBOX.sent items");
  CHECK(find_special(plain, "\\Trash", {"Trash"}) == nullptr);
}

TEST_CASE("parse_imap_capabilities caps the atoms it keeps", "[imap][limits]") {
  std::string text;
  for (int i = 0; i < 5000; ++i) text += "X-CAP-" + std::to_string(i) + " ";
  text += std::string(300, 'L') + " IMAP4rev1";
  std::size_t over = 0;
  const auto caps = parse_imap_capabilities(text, &over);
  CHECK(caps.size() == max_imap_capabilities);
  CHECK(over == 5000 + 2 - max_imap_capabilities);
  CHECK(caps.front() == "X-CAP-0");

  // Repeats are neither kept twice nor counted.
  std::string same;
  for (int i = 0; i < 5000; ++i) same += "IMAP4rev1 idle ";
  std::size_t none = 0;
  CHECK(parse_imap_capabilities(same, &none) == Caps{"IMAP4REV1", "IDLE"});
  CHECK(none == 0);

  const auto g = parse_imap_greeting("* OK [CAPABILITY " + text + "] hi");
  CHECK(g.capabilities.size() == max_imap_capabilities);
  CHECK(g.capabilities_over_limit == over);
}

TEST_CASE("literal_at_end finds RFC 3501 / 9051 literal announcements", "[imap][literal]") {
  const auto plain = literal_at_end("LIST () \"/\" {5}");
  REQUIRE(plain);
  CHECK(plain->at == 12);
  CHECK(plain->size == 5);
  const auto plus = literal_at_end("LIST () \"/\" {12+}");
  REQUIRE(plus);
  CHECK(plus->size == 12);
  const auto eight = literal_at_end("FETCH 1 (BINARY[] ~{3}");
  REQUIRE(eight);
  CHECK(eight->at == 18);
  CHECK(eight->size == 3);
  CHECK(literal_at_end("LIST () \"/\" {0}")->size == 0);
  CHECK(literal_at_end("X {99999999999999999999999}")->size == std::numeric_limits<std::size_t>::max());

  CHECK_FALSE(literal_at_end("OK done"));
  CHECK_FALSE(literal_at_end("OK {}"));
  CHECK_FALSE(literal_at_end("OK {+}"));
  CHECK_FALSE(literal_at_end("OK {-1}"));
  CHECK_FALSE(literal_at_end("OK {1 2}"));
  CHECK_FALSE(literal_at_end("OK }"));
  CHECK_FALSE(literal_at_end(""));
  CHECK_FALSE(literal_at_end("OK {5} trailing"));
}

TEST_CASE("quote_literal escapes quotes and backslashes", "[imap][literal]") {
  CHECK(quote_literal("Sent") == "\"Sent\"");
  CHECK(quote_literal("a\"b\\c") == "\"a\\\"b\\\\c\"");
  CHECK(quote_literal("") == "\"\"");
  // A quoted literal reads back through parse_list_line.
  const auto box = parse_list_line("LIST (\\Sent) \"/\" " + quote_literal("My \"Sent\" mail"));
  REQUIRE(box);
  CHECK(box->name == "My \"Sent\" mail");
}

TEST_CASE("search_uids keeps only nz-numbers, up to the cap", "[imap][uid]") {
  ImapReply reply;
  reply.untagged = {"SEARCH 1 2 4294967295 4294967296 0 007 12a -3 1,2 1:* 99999999999",
                    "SEARCHX 5", "EXISTS 3", "search 9"};
  std::size_t rejected = 0;
  CHECK(search_uids(reply, 1000, &rejected) == Caps{"1", "2", "4294967295", "9"});
  CHECK(rejected == 8);

  ImapReply many;
  std::string line = "SEARCH";
  for (int i = 1; i <= 5000; ++i) line += " " + std::to_string(i);
  many.untagged = {line};
  std::size_t over = 0;
  const auto capped = search_uids(many, 1000, &over);
  CHECK(capped.size() == 1000);
  CHECK(capped.back() == "1000");
  CHECK(over == 4000);

  ImapReply empty;
  empty.untagged = {"SEARCH"};
  CHECK(search_uids(empty).empty());
}
