#include "checks/core/registry.hpp"

#include <functional>

#include <fmt/format.h>

namespace mailready {

void Registry::add(std::unique_ptr<Check> check) {
  if (find(check->info().id) != nullptr) {
    throw std::logic_error(fmt::format("check id registered twice: {}", check->info().id));
  }
  for (const auto need : check->info().needs) {
    // Needs must be registered first, so registry order is a valid run order.
    if (find(need) == nullptr) {
      throw std::logic_error(
          fmt::format("check {} needs {}, which is not registered before it",
                      check->info().id, need));
    }
  }
  checks_.push_back(std::move(check));
}

const Check* Registry::find(std::string_view id) const {
  for (const auto& c : checks_) {
    if (c->info().id == id) return c.get();
  }
  return nullptr;
}

std::vector<const Check*> Registry::select(const std::set<std::string>& only,
                                           const std::set<std::string>& skip) const {
  for (const auto* ids : {&only, &skip}) {
    for (const auto& id : *ids) {
      if (find(id) == nullptr) {
        throw UsageError(fmt::format("unknown check id '{}' (see 'mailready checks')", id));
      }
    }
  }
  std::set<std::string_view> wanted;
  const std::function<void(std::string_view)> want = [&](std::string_view id) {
    if (!wanted.insert(id).second) return;
    for (const auto need : find(id)->info().needs) want(need);
  };
  for (const auto& c : checks_) {
    if (only.empty() || only.count(std::string(c->info().id)) > 0) want(c->info().id);
  }
  std::vector<const Check*> out;
  for (const auto& c : checks_) {
    const auto id = c->info().id;
    if (wanted.count(id) > 0 && skip.count(std::string(id)) == 0) out.push_back(c.get());
  }
  return out;
}

}  // namespace mailready
