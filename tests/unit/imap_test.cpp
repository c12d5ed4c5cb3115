// The pure IMAP parsers (checks/proto/imap.hpp): greetings, capability lists and the
// capabilities of a command's reply.

#include "checks/proto/imap.hpp"

#include <catch2/catch.hpp>
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
