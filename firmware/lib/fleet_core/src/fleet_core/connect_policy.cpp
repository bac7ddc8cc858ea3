#include "fleet_core/connect_policy.h"

#include <algorithm>

namespace fleet {

ReconnectSchedule::ReconnectSchedule(RandomSource& random, std::uint32_t base_ms,
                                     std::uint32_t max_ms)
    : backoff_(base_ms, max_ms, random) {}

bool ReconnectSchedule::due(std::uint32_t now_ms) const {
  return !waiting_ || static_cast<std::int32_t>(now_ms - next_ms_) >= 0;
}

std::uint32_t ReconnectSchedule::failed(std::uint32_t now_ms, std::uint32_t blocked_ms) {
  const std::uint32_t delay = std::max(backoff_.next(), blocked_ms);
  next_ms_ = now_ms + delay;
  waiting_ = true;
  return delay;
}

}  // namespace fleet
