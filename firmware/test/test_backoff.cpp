#include <gtest/gtest.h>

#include "fakes.h"
#include "fleet_core/backoff.h"

TEST(Backoff, DoublesUpToTheMaximumWithinJitterBounds) {
  for (std::uint32_t r : {0u, 1u, 12345u, 0xffffffffu}) {
    fakes::ScriptedRandom random({r});
    fleet::Backoff backoff(1000, 30000, random);
    std::uint32_t ceiling = 1000;
    for (int attempt = 0; attempt < 12; ++attempt) {
      const std::uint32_t delay = backoff.next();
      EXPECT_GE(delay, ceiling / 2) << "attempt " << attempt;
      EXPECT_LE(delay, ceiling) << "attempt " << attempt;
      ceiling = std::min<std::uint32_t>(ceiling * 2, 30000);
    }
  }
}

TEST(Backoff, ExtremesOfTheRandomSourceHitTheBounds) {
  fakes::ScriptedRandom low({0});
  fleet::Backoff a(1000, 8000, low);
  EXPECT_EQ(a.next(), 500u);
  EXPECT_EQ(a.next(), 1000u);
  EXPECT_EQ(a.next(), 2000u);
  EXPECT_EQ(a.next(), 4000u);
  EXPECT_EQ(a.next(), 4000u);  // capped at 8000, floor 4000
  fakes::ScriptedRandom high({0xffffffffu});
  fleet::Backoff b(1000, 8000, high);
  const std::uint32_t first = b.next();
  EXPECT_GE(first, 500u);
  EXPECT_LE(first, 1000u);
}

TEST(Backoff, ResetStartsOver) {
  fakes::ScriptedRandom random({0});
  fleet::Backoff backoff(1000, 30000, random);
  backoff.next();
  backoff.next();
  backoff.next();
  EXPECT_EQ(backoff.ceiling(), 8000u);
  backoff.reset();
  EXPECT_EQ(backoff.ceiling(), 1000u);
  EXPECT_EQ(backoff.next(), 500u);
}

TEST(Backoff, NeverOverflowsAfterManyAttempts) {
  fakes::ScriptedRandom random({0xffffffffu});
  fleet::Backoff backoff(1000, 60000, random);
  for (int i = 0; i < 1000; ++i) EXPECT_LE(backoff.next(), 60000u);
}
