// Context's connection slots: fair shares between the ports of one address, and the
// starved result naming who held them.

#include <atomic>
#include <chrono>
#include <thread>

#include <catch2/catch.hpp>

#include "checks/core/context.hpp"

using namespace mailready;
using namespace std::chrono_literals;

TEST_CASE("a port holding every slot cannot take a freed one while another port waits", "[context][slots]") {
  Options o;
  o.per_host = 2;
  o.deadline = std::chrono::milliseconds(3000);
  Context ctx(o);
  auto a = std::make_unique<Slot>(ctx.acquire_slot("192.0.2.1", 587));
  auto b = std::make_unique<Slot>(ctx.acquire_slot("192.0.2.1", 587));
  REQUIRE(*a);
  REQUIRE(*b);
  CHECK(ctx.slot_holders("192.0.2.1") == "587 (2)");

  std::atomic<int> got_587{0};
  std::atomic<int> got_993{0};
  std::thread tarpit([&] {
    Slot s = ctx.acquire_slot("192.0.2.1", 587);
    if (s) ++got_587;
    std::this_thread::sleep_for(300ms);
  });
  std::thread healthy([&] {
    Slot s = ctx.acquire_slot("192.0.2.1", 993);
    if (s) ++got_993;
    std::this_thread::sleep_for(300ms);
  });
  std::this_thread::sleep_for(100ms);  // both are waiting now
  a.reset();                           // one slot frees: it is 993's, 587 already has its share
  std::this_thread::sleep_for(100ms);
  CHECK(got_993 == 1);
  CHECK(got_587 == 0);
  b.reset();
  tarpit.join();
  healthy.join();
  CHECK(got_587 == 1);
}

TEST_CASE("one port alone may use every slot", "[context][slots]") {
  Options o;
  o.per_host = 3;
  o.deadline = std::chrono::milliseconds(1000);
  Context ctx(o);
  Slot a = ctx.acquire_slot("192.0.2.1", 587);
  Slot b = ctx.acquire_slot("192.0.2.1", 587);
  Slot c = ctx.acquire_slot("192.0.2.1", 587);
  CHECK((a && b && c));
  CHECK(ctx.slots_in_use("192.0.2.1", 587) == 3);
  // The deadline passes: no slot, and who held them is known.
  Slot d = ctx.acquire_slot("192.0.2.1", 993);
  CHECK_FALSE(d);
  CHECK(ctx.slot_holders("192.0.2.1") == "587 (3)");
}
