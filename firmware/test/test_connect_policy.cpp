// The connect time limits and the reconnect schedule (connect_policy.h): one attempt cannot hold
// loop() (the captive portal) for long, and attempts cannot follow each other so closely that the
// portal is starved while the broker is unreachable.
#include <gtest/gtest.h>

#include <cstdint>

#include "fakes.h"
#include "fleet_core/connect_policy.h"

namespace {

constexpr std::uint32_t kShortestJitter = 0u;           // Backoff picks the bottom of [d/2, d]
constexpr std::uint32_t kLongestJitter = 0xffffffffu;  // ... or near the top

// Share of time loop() is held while every attempt runs into its timeouts, over `duration_ms`.
double blockedShare(std::uint32_t random_value, std::uint32_t duration_ms, std::uint32_t start_ms,
                    std::uint32_t* attempts = nullptr) {
  fakes::ScriptedRandom random({random_value});
  fleet::ReconnectSchedule schedule(random);
  const std::uint32_t stall = fleet::connectStallBoundMs(fleet::kConnectTimeouts, /*tls=*/true);
  std::uint64_t blocked = 0;
  std::uint32_t count = 0;
  for (std::uint32_t now = 0; now < duration_ms;) {
    if (!schedule.due(now)) {
      ++now;
      continue;
    }
    now += stall;  // the attempt holds loop() for the worst case, then fails
    if (now > start_ms) blocked += stall;
    ++count;
    schedule.failed(now, stall);
  }
  if (attempts != nullptr) *attempts = count;
  return static_cast<double>(blocked) / static_cast<double>(duration_ms - start_ms);
}

}  // namespace

TEST(ConnectPolicy, WorstCaseAttemptIsTheSumOfItsSteps) {
  const fleet::ConnectTimeouts t{2, 5, 2};
  EXPECT_EQ(fleet::connectStallBoundMs(t, /*tls=*/false), 2000u + 2000u);
  EXPECT_EQ(fleet::connectStallBoundMs(t, /*tls=*/true), 2000u + 5000u + fleet::kTlsStepOverrunMs + 2000u);
}

TEST(ConnectPolicy, OneAttemptStaysWithinTheStallBound) {
  EXPECT_LE(fleet::connectStallBoundMs(fleet::kConnectTimeouts, /*tls=*/true), fleet::kMaxConnectStallMs);
  EXPECT_LE(fleet::connectStallBoundMs(fleet::kConnectTimeouts, /*tls=*/false), fleet::kMaxConnectStallMs);
}

TEST(ConnectPolicy, TheLibraryDefaultsWouldBreakTheBound) {
  // What the link got before it set its own limits: WiFiClientSecure 30 s connect, 120 s
  // handshake; WiFiClient 3 s connect; PubSubClient 15 s CONNACK wait.
  EXPECT_GT(fleet::connectStallBoundMs({30, 120, 15}, /*tls=*/true), fleet::kMaxConnectStallMs);
  EXPECT_GT(fleet::connectStallBoundMs({3, 0, 15}, /*tls=*/false), fleet::kMaxConnectStallMs);
  // Nor would the handshake limit alone have been enough: the TCP connect kept its 30 s.
  EXPECT_GT(fleet::connectStallBoundMs({30, fleet::kConnectTimeouts.tls_handshake_s, 5}, true),
            fleet::kMaxConnectStallMs);
}

TEST(ConnectPolicy, NoRetrySoonerThanTheLastAttemptBlocked) {
  for (std::uint32_t r : {kShortestJitter, 12345u, kLongestJitter}) {
    fakes::ScriptedRandom random({r});
    fleet::ReconnectSchedule schedule(random);
    const std::uint32_t stall = fleet::connectStallBoundMs(fleet::kConnectTimeouts, true);
    std::uint32_t now = 0;
    for (int attempt = 0; attempt < 20; ++attempt) {
      ASSERT_TRUE(schedule.due(now));
      now += stall;
      const std::uint32_t delay = schedule.failed(now, stall);
      EXPECT_GE(delay, stall) << "attempt " << attempt;
      EXPECT_FALSE(schedule.due(now + stall - 1)) << "attempt " << attempt;
      now += delay;
    }
  }
}

TEST(ConnectPolicy, AQuickRefusalKeepsTheQuickBackoff) {
  // A broker that refuses at once (or a lost connection) must not wait the stall bound.
  fakes::ScriptedRandom random({kShortestJitter});
  fleet::ReconnectSchedule schedule(random);
  EXPECT_EQ(schedule.failed(0, 3), fleet::kReconnectBaseMs / 2);
  EXPECT_TRUE(schedule.due(fleet::kReconnectBaseMs / 2));
  EXPECT_EQ(schedule.failed(1000, 0), fleet::kReconnectBaseMs);
}

TEST(ConnectPolicy, ThePortalRunsAtLeastHalfTheTimeWhileTheBrokerIsUnreachable) {
  for (std::uint32_t r : {kShortestJitter, kLongestJitter}) {
    std::uint32_t attempts = 0;
    const double first_minute = blockedShare(r, 60 * 1000, 0, &attempts);
    EXPECT_LE(first_minute, 0.5) << "random " << r;
    EXPECT_GE(attempts, 3u) << "it still retries";
  }
}

TEST(ConnectPolicy, AtTheBackoffCeilingThePortalRunsThreeQuartersOfTheTime) {
  // The ceiling is reached after about 6 doublings of 1 s; measure the hour after 10 minutes.
  for (std::uint32_t r : {kShortestJitter, kLongestJitter}) {
    EXPECT_LE(blockedShare(r, 70 * 60 * 1000, 10 * 60 * 1000), 0.25) << "random " << r;
  }
}

TEST(ConnectPolicy, SuccessStartsTheBackoffOver) {
  fakes::ScriptedRandom random({kShortestJitter});
  fleet::ReconnectSchedule schedule(random);
  for (int i = 0; i < 8; ++i) schedule.failed(0, 0);
  schedule.succeeded();
  EXPECT_EQ(schedule.failed(0, 0), fleet::kReconnectBaseMs / 2);
}

TEST(ConnectPolicy, DueSurvivesTheMillisWrap) {
  fakes::ScriptedRandom random({kShortestJitter});
  fleet::ReconnectSchedule schedule(random);
  const std::uint32_t before_wrap = 0xffffffffu - 100;
  const std::uint32_t delay = schedule.failed(before_wrap, 0);  // due 400 ms after the wrap
  EXPECT_FALSE(schedule.due(before_wrap + 1));
  EXPECT_FALSE(schedule.due(before_wrap + delay - 1));
  EXPECT_TRUE(schedule.due(before_wrap + delay));
}

TEST(ConnectPolicy, TheFirstAttemptIsDueWheneverItComes) {
  // A due time of 0 compared with a signed difference would say "not yet" for 24.8 days of
  // every 49.7-day millis() cycle.
  fakes::ScriptedRandom random({kShortestJitter});
  fleet::ReconnectSchedule schedule(random);
  EXPECT_TRUE(schedule.due(0x80000000u));
  schedule.failed(0x80000000u, 0);
  schedule.succeeded();
  EXPECT_TRUE(schedule.due(0x10u));
}

TEST(ConnectPolicy, EveryFailureMovesToTheNextBroker) {
  fleet::BrokerRotation rotation(3, /*start=*/1);
  EXPECT_EQ(rotation.current(), 1u);
  rotation.failed();
  EXPECT_EQ(rotation.current(), 2u);
  rotation.failed();
  EXPECT_EQ(rotation.current(), 0u);  // and round again
  fleet::BrokerRotation one(1);
  one.failed();
  EXPECT_EQ(one.current(), 0u);  // one broker: always that one
  fleet::BrokerRotation spread(3, /*start=*/7);
  EXPECT_EQ(spread.current(), 1u);
}
