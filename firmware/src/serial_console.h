// The serial provisioning console: reads lines from Serial without waiting and runs them with
// the core's parser (`set wifi_ssid X`, `set broker mqtts://host:8883`, `set mqtt_user ...`,
// `set mqtt_pass ...`, `set ca_cert <base64>`, `show`, `reboot`, `help`), writing NVS, so a device
// is provisioned without recompiling.
#pragma once

#include <functional>
#include <string>

#include <fleet_core/limits.h>
#include <fleet_core/ports.h>

namespace glue {

class SerialConsole {
 public:
  SerialConsole(fleet::Storage& storage, std::function<void()> reboot);

  void begin();
  // Handles the complete lines that have arrived; never waits for more.
  void poll();

 private:
  // `set ca_cert <base64>` is the longest line: up to kMaxCaCertBase64 characters.
  static constexpr std::size_t kMaxLine = fleet::kMaxCaCertBase64 + 64;

  fleet::Storage& storage_;
  std::function<void()> reboot_;
  std::string line_;
  bool overflow_ = false;
};

}  // namespace glue
