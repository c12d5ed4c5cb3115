// checks/proto/address.hpp: which addresses a phone on a carrier network cannot reach, and
// parsing --resolve HOST:ADDRESS.

#include "checks/proto/address.hpp"

#include <catch2/catch.hpp>
#include <string>

using namespace mailready::proto;

TEST_CASE("is_internal_address: IPv4 loopback, RFC 1918, CGNAT, link-local", "[address]") {
  CHECK(is_internal_address("127.0.0.1"));
  CHECK(is_internal_address("127.255.255.254"));
  CHECK(is_internal_address("10.1.2.3"));
  CHECK(is_internal_address("172.16.0.1"));
  CHECK(is_internal_address("172.31.255.255"));
  CHECK(is_internal_address("192.168.1.1"));
  CHECK(is_internal_address("100.64.0.1"));       // RFC 6598 shared space starts here
  CHECK(is_internal_address("100.127.255.255"));  // and ends here
  CHECK(is_internal_address("169.254.1.1"));
  CHECK(is_internal_address("0.0.0.0"));
}

TEST_CASE("is_internal_address: public IPv4, including neighbours of the ranges", "[address]") {
  CHECK_FALSE(is_internal_address("8.8.8.8"));
  CHECK_FALSE(is_internal_address("172.32.0.1"));  // just past 172.16.0.0/12
  CHECK_FALSE(is_internal_address("172.15.255.255"));
  CHECK_FALSE(is_internal_address("100.128.0.1"));  // just past 100.64.0.0/10
  CHECK_FALSE(is_internal_address("100.63.255.255"));
  CHECK_FALSE(is_internal_address("192.0.2.1"));  // documentation, but routed as public
  CHECK_FALSE(is_internal_address("11.0.0.1"));
}

TEST_CASE("is_internal_address: IPv6 loopback, link-local, unique local", "[address]") {
  CHECK(is_internal_address("::1"));
  CHECK(is_internal_address("fe80::1"));
  CHECK(is_internal_address("fd00::1"));  // fc00::/7, the half everyone uses
  CHECK(is_internal_address("fc00::1"));
  CHECK(is_internal_address("FD12:3456:789A::1"));
  CHECK(is_internal_address("::"));  // unspecified
}

TEST_CASE("is_internal_address: public IPv6", "[address]") {
  // 2001:db8::/32 is for documentation, but our definition of internal is "a phone on a
  // carrier network cannot reach it": loopback, private, link-local, ULA, CGNAT,
  // unspecified. Documentation space is none of these.
  CHECK_FALSE(is_internal_address("2001:db8::1"));
  CHECK_FALSE(is_internal_address("2a00:1450:4001:80b::200e"));
  CHECK_FALSE(is_internal_address("fe00::1"));  // just below fe80::/10
  CHECK_FALSE(is_internal_address("fb00::1"));  // just below fc00::/7
}

TEST_CASE("is_internal_address judges IPv4-mapped IPv6 by its IPv4 part", "[address]") {
  CHECK(is_internal_address("::ffff:10.0.0.1"));
  CHECK(is_internal_address("::ffff:127.0.0.1"));
  CHECK(is_internal_address("::ffff:a00:1"));  // the same address as ::ffff:10.0.0.1
  CHECK_FALSE(is_internal_address("::ffff:8.8.8.8"));
  CHECK_FALSE(is_internal_address("::ffff:808:808"));
}

TEST_CASE("is_internal_address is false for what is not an address", "[address]") {
  CHECK_FALSE(is_internal_address("not-an-ip"));
  CHECK_FALSE(is_internal_address(""));
  CHECK_FALSE(is_internal_address("localhost"));
  CHECK_FALSE(is_internal_address("10.0.0.256"));
  CHECK_FALSE(is_internal_address("[::1]"));
}

TEST_CASE("is_ip_literal takes dotted quads and IPv6, not inet_aton shorthand", "[address]") {
  CHECK(is_ip_literal("192.0.2.1"));
  CHECK(is_ip_literal("2001:db8::1"));
  CHECK(is_ip_literal("::1"));
  CHECK(is_ip_literal("::"));
  CHECK(is_ip_literal("::ffff:192.0.2.1"));

  CHECK_FALSE(is_ip_literal(""));
  CHECK_FALSE(is_ip_literal("mail.example.test"));
  CHECK_FALSE(is_ip_literal("993"));         // inet_aton: 0.0.3.225
  CHECK_FALSE(is_ip_literal("127.1"));       // inet_aton: 127.0.0.1
  CHECK_FALSE(is_ip_literal("0x7f000001"));  // inet_aton: 127.0.0.1
  CHECK_FALSE(is_ip_literal("[::1]"));
  CHECK_FALSE(is_ip_literal("192.0.2.1 "));
}

TEST_CASE("parse_pin reads curl-style HOST:ADDRESS", "[address]") {
  using Pin = std::pair<std::string, std::string>;
  CHECK(parse_pin("mail.test:192.0.2.1") == Pin{"mail.test", "192.0.2.1"});
  CHECK(parse_pin("mail.test:[::1]") == Pin{"mail.test", "::1"});
  CHECK(parse_pin("mail.test:::1") == Pin{"mail.test", "::1"});
  CHECK(parse_pin("mail.test:[2001:db8::25]") == Pin{"mail.test", "2001:db8::25"});
  CHECK(parse_pin("mail.test:2001:db8::25") == Pin{"mail.test", "2001:db8::25"});
}

TEST_CASE("parse_pin rejects a missing host or address", "[address]") {
  CHECK_FALSE(parse_pin(":1.2.3.4"));
  CHECK_FALSE(parse_pin("mail.test:nothing"));
  CHECK_FALSE(parse_pin("mail.test"));
  CHECK_FALSE(parse_pin("mail.test:"));
  CHECK_FALSE(parse_pin("mail.test:[]"));
  CHECK_FALSE(parse_pin("mail.test:[::1"));
  // A port where the address should be (curl's --resolve is HOST:PORT:ADDRESS) is an
  // error, not the address 0.0.3.225.
  CHECK_FALSE(parse_pin("mail.test:993"));
  CHECK_FALSE(parse_pin("mail.test:993:192.0.2.1"));
}
