#include "soft_access_point.h"

#include <WiFi.h>
#include <esp_wifi.h>

#include <fleet_core/identifiers.h>
#include <fleet_core/limits.h>
#include <fleet_core/stations.h>

namespace glue {
namespace {

const IPAddress kApAddress(192, 168, 4, 1);
const IPAddress kApNetmask(255, 255, 255, 0);
// Only used while the station is not joined: with AP+STA on one radio the AP follows the
// station's channel.
constexpr int kApChannel = 1;
constexpr int kApHidden = 0;
static_assert(fleet::kApRadioConnections <= ESP_WIFI_MAX_CONN_NUM,
              "the ESP32 soft AP takes at most ESP_WIFI_MAX_CONN_NUM stations");

}  // namespace

SoftAccessPoint::SoftAccessPoint(fleet::Logger& logger, Listener listener)
    : logger_(logger), listener_(std::move(listener)) {}

bool SoftAccessPoint::start(const std::string& ssid, const std::string& password) {
  if ((WiFi.getMode() & WIFI_AP) == 0) WiFi.mode(WIFI_AP_STA);
  WiFi.softAPConfig(kApAddress, kApAddress, kApNetmask);
  // max_connection defaults to 4: a classroom would queue at the portal. One spare slot past the
  // kApMaxConnections the device serves: the driver refuses past max_connection without an
  // event, so the phone that takes the spare slot is what the core sees refused (and deauthed).
  const bool ok = WiFi.softAP(ssid.c_str(), password.empty() ? nullptr : password.c_str(),
                              kApChannel, kApHidden, fleet::kApRadioConnections);
  if (!ok) {
    logger_.log(fleet::LogLevel::kError, "softAP " + ssid + " failed");
    return false;
  }
  // After softAP(): ESP-IDF takes the AP's inactive time only once Wi-Fi is started.
  if (esp_wifi_set_inactive_time(WIFI_IF_AP, fleet::kRadioInactiveS) != ESP_OK) {
    logger_.log(fleet::LogLevel::kWarn, "access point inactive time not set");
  }
  logger_.log(fleet::LogLevel::kInfo,
              "access point up: " + ssid + (password.empty() ? " (open)" : " (WPA2)"));
  if (listener_) listener_(true, WiFi.softAPIP());
  return true;
}

void SoftAccessPoint::stop() {
  if (listener_) listener_(false, IPAddress());
  WiFi.softAPdisconnect(/*wifioff=*/true);  // turns the AP side off, keeps the station
  logger_.log(fleet::LogLevel::kInfo, "access point down");
}

void SoftAccessPoint::release(const std::string& station) {
  std::uint8_t mac[6];
  std::uint16_t aid = 0;
  if (!fleet::parseMac(station, mac)) return;
  // No aid: the station has already gone. aid 0 would deauthenticate every station: never sent.
  if (esp_wifi_ap_get_sta_aid(mac, &aid) != ESP_OK || aid == 0) return;
  if (esp_wifi_deauth_sta(aid) != ESP_OK) {
    logger_.log(fleet::LogLevel::kWarn, "deauth of " + station + " failed");
  }
}

}  // namespace glue
