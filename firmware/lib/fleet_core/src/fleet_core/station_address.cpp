#include "fleet_core/station_address.h"

#include <cstdint>

#include "fleet_core/identifiers.h"

namespace fleet {
namespace {

// `mac` in lowercase, or "" when it is no MAC.
std::string normalizedMac(const std::string& mac) {
  std::uint8_t bytes[6];
  return parseMac(mac, bytes) ? formatMac(bytes) : std::string();
}

// `mac` (lowercase) when the radio has it associated, else "".
std::string associatedOrNothing(const std::string& mac, const std::vector<std::string>& associated) {
  const std::string wanted = normalizedMac(mac);
  if (wanted.empty()) return wanted;
  for (const std::string& station : associated) {
    if (normalizedMac(station) == wanted) return wanted;
  }
  return std::string();
}

}  // namespace

std::string stationOfAddress(const AddressClues& clues) {
  const std::string from_arp = associatedOrNothing(clues.arp_mac, clues.associated);
  if (!from_arp.empty()) return from_arp;
  return associatedOrNothing(clues.lease_mac, clues.associated);
}

}  // namespace fleet
