#include "fleet_core/storage_keys.h"

#include "fleet_core/limits.h"

namespace fleet {
namespace keys {

std::string queueSlot(std::size_t slot) {
  std::string key = kQueueSlotPrefix;
  key.push_back(static_cast<char>('0' + (slot / 100) % 10));
  key.push_back(static_cast<char>('0' + (slot / 10) % 10));
  key.push_back(static_cast<char>('0' + slot % 10));
  return key;
}

bool isValidKey(const std::string& key) {
  if (key.empty() || key.size() > kMaxStorageKeyLen) return false;
  for (char c : key) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
    if (!ok) return false;
  }
  return true;
}

}  // namespace keys
}  // namespace fleet
