// fleet::AccessPoint for a PC: no radio, so the access point it would open is recorded in
// `ap.json` in the state directory ({"running":true,"ssid":...,"password":...} or
// {"running":false}), written atomically, for tests and operators to read. Its stations are the
// portal's client addresses (main.cpp): releasing one is forgetting it, which the core's station
// table has done, so that address's next request is a new association.
#pragma once

#include <string>

#include "fleet_core/ports.h"

namespace host {

class FileAccessPoint : public fleet::AccessPoint {
 public:
  FileAccessPoint(std::string path, fleet::Logger& logger);
  bool start(const std::string& ssid, const std::string& password) override;
  void stop() override;
  void release(const std::string& station) override;

 private:
  std::string path_;
  fleet::Logger& logger_;
};

}  // namespace host
