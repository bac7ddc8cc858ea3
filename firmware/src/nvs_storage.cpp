#include "nvs_storage.h"

namespace glue {

bool NvsStorage::begin(const char* name_space) {
  open_ = prefs_.begin(name_space, /*readOnly=*/false);
  return open_;
}

bool NvsStorage::get(const std::string& key, std::string& value) {
  // isKey() first: getBytesLength() logs an error for every missing key.
  if (!open_ || !prefs_.isKey(key.c_str())) return false;
  const size_t len = prefs_.getBytesLength(key.c_str());
  if (len == 0) return false;
  value.assign(len, '\0');
  return prefs_.getBytes(key.c_str(), &value[0], len) == len;
}

bool NvsStorage::put(const std::string& key, const std::string& value) {
  if (!open_) return false;
  if (value.empty()) return remove(key);  // NVS keeps no empty blobs
  return prefs_.putBytes(key.c_str(), value.data(), value.size()) == value.size();
}

bool NvsStorage::remove(const std::string& key) {
  if (!open_) return false;
  if (!prefs_.isKey(key.c_str())) return true;
  return prefs_.remove(key.c_str());
}

}  // namespace glue
