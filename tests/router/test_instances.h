// Builders shared by the router tests.
#pragma once

#include <string>
#include <utility>

#include "router/upstream_selection.h"

namespace rollouts::router::testing {

// A service instance on 127.0.0.1 with one tag.
inline Instance Inst(std::string id, int port, std::string tag, std::string version,
                     bool ready = true) {
  return Instance{std::move(id), "127.0.0.1", port, {std::move(tag)}, std::move(version), ready};
}

}  // namespace rollouts::router::testing
