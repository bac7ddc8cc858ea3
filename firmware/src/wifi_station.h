// Joins the campus network (station side) with the provisioned SSID and password. Never waits:
// the Wi-Fi driver connects and reconnects in the background.
#pragma once

#include <fleet_core/ports.h>
#include <fleet_core/provisioning.h>

namespace glue {

class WifiStation {
 public:
  explicit WifiStation(fleet::Logger& logger) : logger_(logger) {}

  void begin(const fleet::NetSettings& settings);
  bool connected() const;
  // Logs joins and losses (call from loop()).
  void loop();

 private:
  fleet::Logger& logger_;
  bool configured_ = false;
  bool was_connected_ = false;
};

}  // namespace glue
