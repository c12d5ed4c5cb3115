// imap_command and LineSession over a loopback socket: literals, the bounds on one
// reply and one session, and the deadline that cuts every read.

#include <chrono>
#include <string>
#include <thread>

#include <Poco/Net/ServerSocket.h>
#include <Poco/Net/StreamSocket.h>
#include <catch2/catch.hpp>

#include "checks/proto/imap.hpp"
#include "checks/proto/line_session.hpp"

using namespace mailready::proto;
using namespace std::chrono_literals;

namespace {

/// A connected pair on 127.0.0.1: the server side writes `script` (after the client's
/// first line, when `after_command`), then waits for the client to close.
struct Loopback {
  Poco::Net::ServerSocket listener{Poco::Net::SocketAddress("127.0.0.1", 0)};
  Poco::Net::StreamSocket server;
  std::thread writer;

  explicit Loopback(std::string script) {
    client_socket.connect(listener.address());
    server = listener.acceptConnection();
    writer = std::thread([this, script = std::move(script)] {
      char buf[512];
      (void)server.receiveBytes(buf, sizeof buf);  // the command
      std::size_t sent = 0;
      while (sent < script.size()) {
        const int n = server.sendBytes(script.data() + sent, static_cast<int>(script.size() - sent));
        if (n <= 0) return;
        sent += static_cast<std::size_t>(n);
      }
    });
  }
  ~Loopback() {
    writer.join();
    server.close();
  }
  Poco::Net::StreamSocket client_socket;
};

}  // namespace

TEST_CASE("imap_command reads a literal in a LIST response as data", "[imap][literal]") {
  // The literal's content looks like the tagged reply: it must not end the command.
  Loopback lo("* LIST (\\Sent) \"/\" {11}\r\nm1 OK done\n\r\n"
              "* LIST () \"/\" {4+}\r\nA\"\\B\r\n"
              "m1 OK LIST completed\r\n");
  LineSession session(lo.client_socket, 2000ms);
  auto reply = imap_command(session, "m1", "LIST \"\" *");
  REQUIRE(reply);
  CHECK(reply->status == "OK");
  CHECK(reply->text == "LIST completed");
  REQUIRE(reply->untagged.size() == 2);
  const auto first = parse_list_line(reply->untagged[0]);
  REQUIRE(first);
  CHECK(first->name == "m1 OK done\n");
  const auto second = parse_list_line(reply->untagged[1]);
  REQUIRE(second);
  CHECK(second->name == "A\"\\B");
  // The literal's bytes are not in the transcript, only their count.
  bool seen = false;
  for (const auto& l : session.transcript()) seen = seen || l.text == "<literal of 11 bytes>";
  CHECK(seen);
}

TEST_CASE("imap_command refuses a literal over the cap without reading it", "[imap][literal][limits]") {
  Loopback lo("* LIST () \"/\" {4294967296}\r\nxx\r\nm1 OK done\r\n");
  LineSession session(lo.client_socket, 2000ms);
  auto reply = imap_command(session, "m1", "LIST \"\" *");
  REQUIRE_FALSE(reply);
  CHECK(reply.failure().kind == Failure::Kind::protocol);
  CHECK(reply.failure().message.find("literal") != std::string::npos);
}

TEST_CASE("imap_command bounds the untagged responses of one reply", "[imap][limits]") {
  std::string flood;
  for (std::size_t i = 0; i <= max_untagged; ++i) flood += "* 1 EXISTS\r\n";
  flood += "m1 OK done\r\n";
  Loopback lo(flood);
  LineSession session(lo.client_socket, 5000ms);
  auto reply = imap_command(session, "m1", "NOOP");
  REQUIRE_FALSE(reply);
  CHECK(reply.failure().kind == Failure::Kind::protocol);
  session.close();
}

TEST_CASE("LineSession keeps a bounded transcript", "[line_session][limits]") {
  std::string lines;
  const std::string line(1000, 'x');
  for (int i = 0; i < 1500; ++i) lines += "* " + line + "\r\n";
  lines += "m1 OK done\r\n";
  Loopback lo(lines);
  LineSession session(lo.client_socket, 5000ms);
  auto reply = imap_command(session, "m1", "NOOP");
  REQUIRE(reply);
  CHECK(reply->untagged.size() == 1500);
  std::size_t bytes = 0;
  for (const auto& l : session.transcript()) bytes += l.text.size();
  CHECK(bytes <= LineSession::max_transcript_bytes + 100);
  CHECK(session.transcript().back().text.find("transcript cut") != std::string::npos);
}

TEST_CASE("LineSession cuts a read to its deadline", "[line_session][deadline]") {
  Loopback lo("");  // the server never answers
  LineSession session(lo.client_socket, 10000ms);
  session.set_deadline(LineSession::Clock::now() + 300ms);
  REQUIRE(session.write_line("m1 NOOP"));
  const auto started = LineSession::Clock::now();
  auto line = session.read_line();
  const auto took = LineSession::Clock::now() - started;
  REQUIRE_FALSE(line);
  CHECK(line.failure().kind == Failure::Kind::timeout);
  CHECK(took < 5000ms);  // the 10 s timeout did not apply; generous for a loaded machine
  session.close();
}
