#include "fleet_core/portal_limits.h"

namespace fleet {
namespace {

std::size_t countOf(const PortalConnection* table, std::size_t size, std::uint32_t address) {
  std::size_t count = 0;
  for (std::size_t i = 0; i < size; ++i) {
    if (table[i].open && table[i].address == address) ++count;
  }
  return count;
}

// The oldest connection of `address` (ages by unsigned subtraction, so millis() may wrap).
std::size_t oldestOf(const PortalConnection* table, std::size_t size, std::uint32_t address,
                     std::uint32_t now_ms) {
  std::size_t oldest = size;
  std::uint32_t oldest_age = 0;
  for (std::size_t i = 0; i < size; ++i) {
    if (!table[i].open || table[i].address != address) continue;
    const std::uint32_t age = now_ms - table[i].opened_ms;
    if (oldest == size || age > oldest_age) {
      oldest = i;
      oldest_age = age;
    }
  }
  return oldest;
}

}  // namespace

bool portalRequestExpired(std::uint32_t started_ms, std::uint32_t now_ms,
                          std::uint32_t deadline_ms) {
  return static_cast<std::uint32_t>(now_ms - started_ms) >= deadline_ms;
}

PortalAdmission admitPortalConnection(const PortalConnection* table, std::size_t size,
                                      std::uint32_t address, std::uint32_t now_ms,
                                      std::size_t per_client_limit) {
  const std::size_t mine = countOf(table, size, address);
  if (mine >= per_client_limit) return {PortalAdmit::kRefuse, 0};
  for (std::size_t i = 0; i < size; ++i) {
    if (!table[i].open) return {PortalAdmit::kTakeFree, i};
  }
  std::size_t hog_count = 0;
  std::uint32_t hog = 0;
  for (std::size_t i = 0; i < size; ++i) {
    const std::size_t count = countOf(table, size, table[i].address);
    if (count > hog_count) {
      hog_count = count;
      hog = table[i].address;
    }
  }
  if (hog_count < mine + 2) return {PortalAdmit::kRefuse, 0};
  return {PortalAdmit::kEvict, oldestOf(table, size, hog, now_ms)};
}

bool portalMayAccept(const PortalConnection* table, std::size_t size) {
  for (std::size_t i = 0; i < size; ++i) {
    if (!table[i].open || countOf(table, size, table[i].address) >= 2) return true;
  }
  return false;
}

}  // namespace fleet
