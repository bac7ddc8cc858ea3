// fleet::Storage over a directory: one file per key, each write atomic (temp file, fsync,
// rename, fsync of the directory), like NVS surviving a power cut mid-write.
#pragma once

#include <string>

#include "fleet_core/ports.h"

namespace host {

class DirStorage : public fleet::Storage {
 public:
  explicit DirStorage(std::string dir);
  // Creates the directory; false (with errno) when it cannot.
  bool open();

  bool get(const std::string& key, std::string& value) override;
  bool put(const std::string& key, const std::string& value) override;
  bool remove(const std::string& key) override;

 private:
  std::string pathOf(const std::string& key) const;
  bool syncDir() const;

  std::string dir_;
};

// Writes `content` to `path` atomically (same steps as DirStorage::put).
bool writeFileAtomically(const std::string& path, const std::string& content);

}  // namespace host
