#include "fleet_core/backoff.h"

#include <algorithm>

namespace fleet {

Backoff::Backoff(std::uint32_t base_ms, std::uint32_t max_ms, RandomSource& random)
    : base_ms_(std::max<std::uint32_t>(base_ms, 1)),
      max_ms_(std::max(max_ms, std::max<std::uint32_t>(base_ms, 1))),
      random_(random) {}

std::uint32_t Backoff::ceiling() const {
  std::uint64_t delay = base_ms_;
  for (std::uint32_t i = 0; i < attempt_ && delay < max_ms_; ++i) delay *= 2;
  return static_cast<std::uint32_t>(std::min<std::uint64_t>(delay, max_ms_));
}

std::uint32_t Backoff::next() {
  const std::uint32_t ceil = ceiling();
  if (attempt_ < 32) ++attempt_;
  const std::uint32_t floor = ceil / 2;
  const std::uint32_t span = ceil - floor;  // delay in [floor, ceil]
  return floor +
         static_cast<std::uint32_t>(random_.next() % (static_cast<std::uint64_t>(span) + 1));
}

}  // namespace fleet
