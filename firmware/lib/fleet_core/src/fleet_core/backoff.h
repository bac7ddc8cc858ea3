// Exponential reconnect backoff with "equal jitter": the n-th delay is uniform in
// [d/2, d] where d = min(max, base * 2^n). The random source is injected.
#pragma once

#include <cstdint>

#include "fleet_core/ports.h"

namespace fleet {

class Backoff {
 public:
  Backoff(std::uint32_t base_ms, std::uint32_t max_ms, RandomSource& random);

  // The delay before the next attempt; each call doubles the ceiling up to max.
  std::uint32_t next();
  // After a success: start again from base.
  void reset() { attempt_ = 0; }
  std::uint32_t attempt() const { return attempt_; }
  // Ceiling of the next delay (for logs and tests).
  std::uint32_t ceiling() const;

 private:
  std::uint32_t base_ms_;
  std::uint32_t max_ms_;
  RandomSource& random_;
  std::uint32_t attempt_ = 0;
};

}  // namespace fleet
