#include <gtest/gtest.h>

#include <array>

#include "fleet_core/portal_limits.h"

namespace {

using fleet::PortalAdmit;
using fleet::PortalConnection;

constexpr std::uint32_t kPhone = 0x0104a8c0;  // 192.168.4.1, as lwIP stores it
constexpr std::uint32_t kOther = 0x0204a8c0;
constexpr std::uint32_t kHog = 0x0304a8c0;

template <std::size_t N>
fleet::PortalAdmission admit(const std::array<PortalConnection, N>& table, std::uint32_t address,
                             std::uint32_t now_ms = 50000) {
  return fleet::admitPortalConnection(table.data(), table.size(), address, now_ms);
}

}  // namespace

TEST(PortalDeadline, IsATotalFromTheStartNotAnIdleTimeout) {
  EXPECT_FALSE(fleet::portalRequestExpired(1000, 1000));
  EXPECT_FALSE(fleet::portalRequestExpired(1000, 1000 + fleet::kPortalRequestDeadlineMs - 1));
  EXPECT_TRUE(fleet::portalRequestExpired(1000, 1000 + fleet::kPortalRequestDeadlineMs));
  EXPECT_TRUE(fleet::portalRequestExpired(1000, 1000 + 3 * fleet::kPortalRequestDeadlineMs));
}

TEST(PortalDeadline, SurvivesMillisWrapping) {
  const std::uint32_t started = 0xffffff00u;
  EXPECT_FALSE(fleet::portalRequestExpired(started, started + 1000));  // wrapped to 0x2e8
  EXPECT_TRUE(fleet::portalRequestExpired(started, started + fleet::kPortalRequestDeadlineMs));
}

TEST(PortalAdmission, TakesTheFirstFreeSlot) {
  std::array<PortalConnection, 4> table{};
  table[0] = {true, kOther, 100};
  const auto admission = admit(table, kPhone);
  EXPECT_EQ(admission.action, PortalAdmit::kTakeFree);
  EXPECT_EQ(admission.slot, 1u);
}

TEST(PortalAdmission, OnePhoneGetsThePageAndTheFormPost) {
  std::array<PortalConnection, fleet::kPortalPendingSlots> table{};
  for (std::size_t i = 0; i < 4; ++i) {  // probe, page, favicon, POST: all at once
    const auto admission = admit(table, kPhone);
    ASSERT_EQ(admission.action, PortalAdmit::kTakeFree) << "connection " << i;
    table[admission.slot] = {true, kPhone, 100};
  }
}

TEST(PortalAdmission, RefusesAnAddressAtItsLimitEvenWithRoomLeft) {
  std::array<PortalConnection, 16> table{};
  for (std::size_t i = 0; i < fleet::kPortalMaxConnectionsPerClient; ++i) table[i] = {true, kHog, 1};
  EXPECT_EQ(admit(table, kHog).action, PortalAdmit::kRefuse);
  EXPECT_EQ(admit(table, kPhone).action, PortalAdmit::kTakeFree);
}

TEST(PortalAdmission, AFullTableMakesRoomAtTheExpenseOfTheBiggestHolder) {
  std::array<PortalConnection, 4> table{};
  table[0] = {true, kHog, 300};
  table[1] = {true, kOther, 100};
  table[2] = {true, kHog, 200};  // the hog's oldest
  table[3] = {true, kHog, 400};
  const auto admission = admit(table, kPhone, 1000);
  EXPECT_EQ(admission.action, PortalAdmit::kEvict);
  EXPECT_EQ(admission.slot, 2u);
}

TEST(PortalAdmission, OldestIsMeasuredAcrossAMillisWrap) {
  std::array<PortalConnection, 3> table{};
  table[0] = {true, kHog, 0x00000010u};  // opened after the wrap
  table[1] = {true, kHog, 0xfffffff0u};  // opened before it: the oldest
  table[2] = {true, kOther, 0x00000001u};
  const auto admission = admit(table, kPhone, 0x00000100u);
  EXPECT_EQ(admission.action, PortalAdmit::kEvict);
  EXPECT_EQ(admission.slot, 1u);
}

TEST(PortalAdmission, NoOneIsEvictedForAnEqual) {
  std::array<PortalConnection, 4> table{};
  table[0] = {true, kHog, 1};
  table[1] = {true, kHog, 2};
  table[2] = {true, kPhone, 3};
  table[3] = {true, kOther, 4};
  EXPECT_EQ(admit(table, kPhone).action, PortalAdmit::kRefuse);  // 2 vs 1: would just swap
  EXPECT_EQ(admit(table, kHog).action, PortalAdmit::kRefuse);    // the biggest holder itself
  EXPECT_EQ(admit(table, 0x0904a8c0).action, PortalAdmit::kEvict);  // a newcomer: 2 vs 0
}

TEST(PortalAdmission, AnAttackerFromOneAddressEndsWithAFairShare) {
  // The attacker reconnects as fast as it can; phones arrive one connection at a time.
  std::array<PortalConnection, fleet::kPortalPendingSlots> table{};
  std::uint32_t now = 0;
  const auto connect = [&](std::uint32_t address) {
    const auto admission = admit(table, address, ++now);
    if (admission.action != PortalAdmit::kRefuse) table[admission.slot] = {true, address, now};
    return admission.action;
  };
  for (int i = 0; i < 100; ++i) connect(kHog);
  std::size_t hog = 0;
  for (const auto& slot : table) hog += slot.open && slot.address == kHog;
  EXPECT_EQ(hog, fleet::kPortalMaxConnectionsPerClient);
  for (std::uint32_t phone = 1; phone <= 4; ++phone) {
    EXPECT_NE(connect(0x0a04a8c0 + (phone << 24)), PortalAdmit::kRefuse) << "phone " << phone;
    for (int i = 0; i < 10; ++i) connect(kHog);
  }
  hog = 0;
  for (const auto& slot : table) hog += slot.open && slot.address == kHog;
  EXPECT_LE(hog, 4u);  // 8 slots, 4 phones with one each
}

TEST(PortalAdmission, AcceptOnlyWhenSomeoneCouldBeAdmitted) {
  std::array<PortalConnection, 3> table{};
  EXPECT_TRUE(fleet::portalMayAccept(table.data(), table.size()));
  table = {PortalConnection{true, kPhone, 1}, PortalConnection{true, kOther, 2},
           PortalConnection{true, kHog, 3}};
  EXPECT_FALSE(fleet::portalMayAccept(table.data(), table.size()));  // leave it in the backlog
  table[2].address = kPhone;
  EXPECT_TRUE(fleet::portalMayAccept(table.data(), table.size()));
}
