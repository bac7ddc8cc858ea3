// fleet::Storage over Preferences (NVS namespace "fleet"). Keys are the core's, at most 15
// characters; every put is committed before it returns.
#pragma once

#include <Preferences.h>

#include <string>

#include <fleet_core/ports.h>

namespace glue {

class NvsStorage : public fleet::Storage {
 public:
  // Opens the namespace read-write; false when NVS is unusable.
  bool begin(const char* name_space);

  bool get(const std::string& key, std::string& value) override;
  bool put(const std::string& key, const std::string& value) override;
  bool remove(const std::string& key) override;

 private:
  Preferences prefs_;
  bool open_ = false;
};

}  // namespace glue
