#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "fleet_core/station_address.h"

namespace {

// Nine phones joined: more than the 8 leases ESP-IDF 4.4's DHCP server keeps.
std::vector<std::string> ninePhones() {
  std::vector<std::string> phones;
  for (int i = 1; i <= 9; ++i) phones.push_back("02:00:00:00:00:0" + std::to_string(i));
  return phones;
}

fleet::AddressClues clues(const std::string& arp, const std::string& lease) {
  fleet::AddressClues result;
  result.arp_mac = arp;
  result.lease_mac = lease;
  result.associated = ninePhones();
  return result;
}

}  // namespace

TEST(StationAddress, ThePhoneWhoseLeaseWasDroppedIsKnownFromTheArpTable) {
  // The earliest phone: its lease is no longer in the DHCP server's list, its ARP entry is fresh.
  EXPECT_EQ(fleet::stationOfAddress(clues("02:00:00:00:00:01", "")), "02:00:00:00:00:01");
}

TEST(StationAddress, WithoutAnArpEntryTheLeaseNamesThePhone) {
  EXPECT_EQ(fleet::stationOfAddress(clues("", "02:00:00:00:00:09")), "02:00:00:00:00:09");
}

TEST(StationAddress, TheArpEntryWinsOverALeaseThatNamesAnotherPhone) {
  // The ARP entry is where the portal's answer went: that phone sent the request.
  EXPECT_EQ(fleet::stationOfAddress(clues("02:00:00:00:00:02", "02:00:00:00:00:05")),
            "02:00:00:00:00:02");
}

TEST(StationAddress, AMacTheRadioHasNotAssociatedNeverCounts) {
  // A stale entry, or a host on the campus side: the lease decides, or nothing does.
  EXPECT_EQ(fleet::stationOfAddress(clues("0a:00:00:00:00:77", "02:00:00:00:00:04")),
            "02:00:00:00:00:04");
  EXPECT_EQ(fleet::stationOfAddress(clues("0a:00:00:00:00:77", "")), "");
  EXPECT_EQ(fleet::stationOfAddress(clues("", "0a:00:00:00:00:77")), "");
  fleet::AddressClues nobody = clues("02:00:00:00:00:01", "02:00:00:00:00:01");
  nobody.associated.clear();
  EXPECT_EQ(fleet::stationOfAddress(nobody), "");
}

TEST(StationAddress, NoClueNoStation) {
  EXPECT_EQ(fleet::stationOfAddress(clues("", "")), "");
  EXPECT_EQ(fleet::stationOfAddress(clues("not a mac", "02:00:00:00:00:0")), "");
}

TEST(StationAddress, MacsCompareInEitherCaseAndComeOutLowercase) {
  fleet::AddressClues mixed = clues("0A:BB:cc:DD:ee:FF", "");
  mixed.associated.push_back("0a:bb:CC:dd:EE:ff");
  EXPECT_EQ(fleet::stationOfAddress(mixed), "0a:bb:cc:dd:ee:ff");
}
