#include "soft_access_point.h"

#include <WiFi.h>
#include <dhcpserver/dhcpserver.h>
#include <esp_netif.h>
#include <esp_wifi.h>

#include <fleet_core/identifiers.h>
#include <fleet_core/limits.h>
#include <fleet_core/stations.h>

namespace glue {
namespace {

constexpr int kApHostOctet = 1;
const IPAddress kApAddress(192, 168, 4, kApHostOctet);
const IPAddress kApNetmask(255, 255, 255, 0);
// Only used while the station is not joined: with AP+STA on one radio the AP follows the
// station's channel.
constexpr int kApChannel = 1;
constexpr int kApHidden = 0;
static_assert(fleet::kApRadioConnections <= ESP_WIFI_MAX_CONN_NUM,
              "the ESP32 soft AP takes at most ESP_WIFI_MAX_CONN_NUM stations");

// The DHCP pool: the kDhcpPoolSize addresses after the AP's own (192.168.4.2-192.168.4.101).
const IPAddress kDhcpPoolFirst(192, 168, 4, kApHostOctet + 1);
const IPAddress kDhcpPoolLast(192, 168, 4, kApHostOctet + fleet::kDhcpPoolSize);
// esp_netif_dhcps_option() refuses a range with end - start > DHCPS_MAX_LEASE (0x64), and the
// DHCP server of later IDFs one with end - start + 1 > DHCPS_MAX_LEASE: 100 addresses pass both.
static_assert(fleet::kDhcpPoolSize <= DHCPS_MAX_LEASE, "ESP-IDF's DHCP server leases at most 100");
static_assert(kApHostOctet + fleet::kDhcpPoolSize <= 254, "the pool stays inside the /24");

// Replaces the 11 addresses and 120-minute lease softAPConfig() leaves (why: fleet_core/limits.h).
// ESP-IDF takes DHCP server options only while the server is stopped, as softAPConfig() does.
bool configureDhcpServer() {
  esp_netif_t* netif = esp_netif_get_handle_from_ifkey(kApNetifKey);
  if (netif == nullptr) return false;
  const esp_err_t stopped = esp_netif_dhcps_stop(netif);
  if (stopped != ESP_OK && stopped != ESP_ERR_ESP_NETIF_DHCP_ALREADY_STOPPED) return false;
  dhcps_lease_t pool = {};
  pool.enable = true;
  pool.start_ip.addr = static_cast<std::uint32_t>(kDhcpPoolFirst);
  pool.end_ip.addr = static_cast<std::uint32_t>(kDhcpPoolLast);
  dhcps_time_t lease_minutes = fleet::kDhcpLeaseMinutes;
  const bool set = esp_netif_dhcps_option(netif, ESP_NETIF_OP_SET, ESP_NETIF_REQUESTED_IP_ADDRESS,
                                          &pool, sizeof(pool)) == ESP_OK &&
                   esp_netif_dhcps_option(netif, ESP_NETIF_OP_SET, ESP_NETIF_IP_ADDRESS_LEASE_TIME,
                                          &lease_minutes, sizeof(lease_minutes)) == ESP_OK;
  // Started again whatever happened: an access point without its DHCP server serves nobody.
  const esp_err_t started = esp_netif_dhcps_start(netif);
  return set && (started == ESP_OK || started == ESP_ERR_ESP_NETIF_DHCP_ALREADY_STARTED);
}

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
  if (!configureDhcpServer()) {
    logger_.log(fleet::LogLevel::kWarn, "access point DHCP pool not set: 11 addresses, 120 min");
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
