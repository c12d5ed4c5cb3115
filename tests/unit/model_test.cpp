#include <catch2/catch.hpp>

#include "checks/core/model.hpp"

using namespace mailready;

TEST_CASE("exit codes follow the monitoring-plugins convention", "[model]") {
  CHECK(exit_code_of(Verdict::ok) == 0);
  CHECK(exit_code_of(Verdict::warning) == 1);
  CHECK(exit_code_of(Verdict::critical) == 2);
  CHECK(exit_code_of(Verdict::unknown) == 3);
}
