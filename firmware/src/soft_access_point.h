// fleet::AccessPoint over the ESP32 soft-AP: the course network students join. Tells a listener
// (the captive portal) when it comes up or goes down. Slot recycling (fleet_core/stations.h):
// release() deauthenticates a station by its association id, and the radio drops a station that
// sends nothing for kRadioInactiveS. The radio admits kApRadioConnections, one more than the
// device serves: the core refuses whoever joins a full access point and release()s it at once.
// Its DHCP server gets kDhcpPoolSize addresses and a kDhcpLeaseMinutes lease (fleet_core/limits.h).
#pragma once

#include <IPAddress.h>

#include <functional>
#include <string>

#include <fleet_core/ports.h>

namespace glue {

// The key of the soft-AP netif that esp_netif_create_default_wifi_ap() (arduino-esp32) makes.
constexpr const char* kApNetifKey = "WIFI_AP_DEF";

class SoftAccessPoint : public fleet::AccessPoint {
 public:
  using Listener = std::function<void(bool up, const IPAddress& ip)>;

  SoftAccessPoint(fleet::Logger& logger, Listener listener);

  bool start(const std::string& ssid, const std::string& password) override;
  void stop() override;
  // `station`: the MAC, aa:bb:cc:dd:ee:ff.
  void release(const std::string& station) override;

 private:
  fleet::Logger& logger_;
  Listener listener_;
};

}  // namespace glue
