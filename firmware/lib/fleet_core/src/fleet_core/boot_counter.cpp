#include "fleet_core/boot_counter.h"

#include "fleet_core/storage_keys.h"

namespace fleet {

std::string encodeU32(std::uint32_t value) {
  std::string blob(4, '\0');
  for (int i = 0; i < 4; ++i) blob[i] = static_cast<char>((value >> (8 * i)) & 0xff);
  return blob;
}

std::optional<std::uint32_t> decodeU32(const std::string& blob) {
  if (blob.size() != 4) return std::nullopt;
  std::uint32_t value = 0;
  for (int i = 3; i >= 0; --i) value = (value << 8) | static_cast<std::uint8_t>(blob[i]);
  return value;
}

std::optional<std::uint32_t> loadU32(Storage& storage, const std::string& key) {
  std::string blob;
  if (!storage.get(key, blob)) return std::nullopt;
  return decodeU32(blob);
}

bool storeU32(Storage& storage, const std::string& key, std::uint32_t value) {
  return storage.put(key, encodeU32(value));
}

std::uint32_t raiseBootCounter(Storage& storage) {
  const std::uint32_t boot = loadU32(storage, keys::kBoot).value_or(0) + 1;
  storeU32(storage, keys::kBoot, boot);
  return boot;
}

}  // namespace fleet
