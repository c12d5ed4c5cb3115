// checks/core/options.hpp: the ports a phone would use, in the order it uses them.

#include "checks/core/options.hpp"

#include <catch2/catch.hpp>
#include <string>
#include <vector>

using namespace mailready;

namespace {

/// Options as the CLI leaves them for `mailready check HOST`.
Options for_host(const std::string& host) {
  Options o;
  o.target = host;
  o.imap_host = host;
  o.smtp_host = host;
  return o;
}

/// "host:port/protocol/tls/role", one string per planned port, for whole-list comparisons.
std::vector<std::string> describe(const std::vector<PortSpec>& ports) {
  std::vector<std::string> out;
  for (const auto& p : ports) {
    out.push_back(p.host + ":" + std::to_string(p.port) + "/" + std::string(to_string(p.protocol)) +
                  "/" + std::string(to_string(p.tls)) + "/" + std::string(to_string(p.role)));
  }
  return out;
}

}  // namespace

TEST_CASE("planned_ports: IMAPS first, then submission in the phone's order", "[options]") {
  CHECK(describe(planned_ports(for_host("mail.example.test"))) ==
        std::vector<std::string>{
            "mail.example.test:993/imap/implicit/incoming",
            "mail.example.test:587/smtp/starttls/submission",
            "mail.example.test:465/smtp/implicit/submission",
            "mail.example.test:25/smtp/starttls/relay",
        });
}

TEST_CASE("planned_ports: --imap-starttls adds 143 right after 993", "[options]") {
  Options o = for_host("mail.example.test");
  o.imap_starttls = true;
  CHECK(describe(planned_ports(o)) == std::vector<std::string>{
                                          "mail.example.test:993/imap/implicit/incoming",
                                          "mail.example.test:143/imap/starttls/incoming",
                                          "mail.example.test:587/smtp/starttls/submission",
                                          "mail.example.test:465/smtp/implicit/submission",
                                          "mail.example.test:25/smtp/starttls/relay",
                                      });
}

TEST_CASE("planned_ports: a custom fallback order is kept as given", "[options]") {
  Options o = for_host("mail.example.test");
  o.fallback_order = {465, 25};
  CHECK(describe(planned_ports(o)) == std::vector<std::string>{
                                          "mail.example.test:993/imap/implicit/incoming",
                                          "mail.example.test:465/smtp/implicit/submission",
                                          "mail.example.test:25/smtp/starttls/relay",
                                      });
  o.fallback_order = {25, 587};
  CHECK(describe(planned_ports(o)) == std::vector<std::string>{
                                          "mail.example.test:993/imap/implicit/incoming",
                                          "mail.example.test:25/smtp/starttls/relay",
                                          "mail.example.test:587/smtp/starttls/submission",
                                      });
}

TEST_CASE("planned_ports: IMAP and SMTP ports go to their own hosts", "[options]") {
  Options o = for_host("example.test");
  o.imap_host = "imap.example.test";
  o.smtp_host = "smtp.example.test";
  o.imap_starttls = true;
  CHECK(describe(planned_ports(o)) == std::vector<std::string>{
                                          "imap.example.test:993/imap/implicit/incoming",
                                          "imap.example.test:143/imap/starttls/incoming",
                                          "smtp.example.test:587/smtp/starttls/submission",
                                          "smtp.example.test:465/smtp/implicit/submission",
                                          "smtp.example.test:25/smtp/starttls/relay",
                                      });
}

TEST_CASE("Options::hosts lists each host once, IMAP first", "[options]") {
  CHECK(for_host("mail.example.test").hosts() == std::vector<std::string>{"mail.example.test"});
  Options o = for_host("example.test");
  o.imap_host = "imap.example.test";
  o.smtp_host = "smtp.example.test";
  CHECK(o.hosts() == std::vector<std::string>{"imap.example.test", "smtp.example.test"});
}
