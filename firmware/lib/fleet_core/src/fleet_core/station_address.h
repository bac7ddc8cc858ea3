// Which station a captive-portal client is: what the platform knows about the client's IPv4
// address in, the station's MAC out. The ESP32 glue (src/station_addresses.cpp) gathers the clues;
// the host port needs none (its client sends X-Station-Mac).
//
// Why two clues and this order (ESP-IDF 4.4, arduino-esp32 2.0.17):
// - lwIP's ARP table on the access point's interface holds the MAC lwIP sent its answers to: the
//   client's TCP segments just reached the portal, so its entry was used or refreshed moments ago.
// - The DHCP server's lease list holds only the CONFIG_LWIP_DHCPS_MAX_STATION_NUM (8) newest
//   leases: with 9 or more phones joined, the earliest ones' addresses are not in it.
// - The ARP table has ARP_TABLE_SIZE (10) entries for both interfaces, recycled oldest first, so
//   an entry can be gone; the lease list is then the fallback.
// A clue counts only when it names a station the radio lists as associated now: a MAC the radio
// does not have would join the station table (StationTable::request) and hold a slot for nothing.
#pragma once

#include <string>
#include <vector>

namespace fleet {

// What the platform knows about one client address; a MAC is "" when that source knows nothing.
struct AddressClues {
  std::string arp_mac;                  // the ARP table's MAC for the address (AP interface)
  std::string lease_mac;                // the MAC of the DHCP lease that holds the address
  std::vector<std::string> associated;  // every station the radio lists as associated now
};

// The client's station as a lowercase aa:bb:cc:dd:ee:ff, or "" when no clue names an associated
// station. The ARP entry first, the lease second; MACs compare case-insensitively.
std::string stationOfAddress(const AddressClues& clues);

}  // namespace fleet
