#include "wifi_station.h"

#include <WiFi.h>

namespace glue {

void WifiStation::begin(const fleet::NetSettings& settings) {
  if (settings.wifi_ssid.empty()) {
    logger_.log(fleet::LogLevel::kWarn,
                "no campus network set: on the serial console, `set wifi_ssid ...` then `reboot`");
    return;
  }
  WiFi.persistent(false);  // credentials live in our NVS namespace, not the driver's
  WiFi.setAutoReconnect(true);
  WiFi.begin(settings.wifi_ssid.c_str(),
             settings.wifi_pass.empty() ? nullptr : settings.wifi_pass.c_str());
  configured_ = true;
  logger_.log(fleet::LogLevel::kInfo, "joining " + settings.wifi_ssid);
}

bool WifiStation::connected() const {
  return configured_ && WiFi.status() == WL_CONNECTED;
}

void WifiStation::loop() {
  const bool now_connected = connected();
  if (now_connected == was_connected_) return;
  was_connected_ = now_connected;
  if (now_connected) {
    logger_.log(fleet::LogLevel::kInfo,
                std::string("joined campus network, ip ") + WiFi.localIP().toString().c_str());
  } else {
    logger_.log(fleet::LogLevel::kWarn, "campus network lost; the driver keeps retrying");
  }
}

}  // namespace glue
