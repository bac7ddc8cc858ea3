#include "captive_portal.h"

#include <esp_wifi.h>

// Pairing a client's IP with its MAC: esp_netif_get_sta_list() up to ESP-IDF 5.0 (arduino-esp32
// 2.x); it is gone from IDF 5.1 (arduino-esp32 3.x), which has esp_wifi_ap_get_sta_list_with_ip().
#if __has_include(<esp_wifi_ap_get_sta_list.h>)
#include <esp_wifi_ap_get_sta_list.h>
#define FLEET_STA_LIST_WITH_IP 1
#else
#include <esp_netif.h>
#include <esp_netif_sta_list.h>
#define FLEET_STA_LIST_WITH_IP 0
#endif

#include <fleet_core/identifiers.h>
#include <fleet_core/portal.h>

namespace glue {
namespace {

constexpr std::uint16_t kDnsPort = 53;
constexpr std::uint16_t kHttpPort = 80;

const char* methodName(HTTPMethod method) {
  switch (method) {
    case HTTP_GET: return "GET";
    case HTTP_POST: return "POST";
    case HTTP_HEAD: return "HEAD";
    default: return "OTHER";
  }
}

}  // namespace

CaptivePortal::CaptivePortal(fleet::PortalBackend& backend, fleet::Logger& logger)
    : backend_(backend), logger_(logger), server_(kHttpPort) {}

void CaptivePortal::begin() {
  // Every path goes to the core: it knows "/", "/checkin" and redirects the rest.
  server_.onNotFound([this] { handleRequest(); });
  server_.begin();
}

void CaptivePortal::onAccessPoint(bool up, const IPAddress& ip) {
  if (dns_running_) {
    dns_.stop();
    dns_running_ = false;
  }
  if (!up) return;
  dns_.setErrorReplyCode(DNSReplyCode::NoError);
  dns_running_ = dns_.start(kDnsPort, "*", ip);
  home_url_ = std::string("http://") + ip.toString().c_str() + "/";
  if (!dns_running_) logger_.log(fleet::LogLevel::kError, "captive DNS did not start");
}

void CaptivePortal::loop() {
  if (dns_running_) dns_.processNextRequest();
  server_.handleClient();
}

void CaptivePortal::handleRequest() {
  fleet::PortalRequest request;
  request.method = methodName(server_.method());
  request.path = server_.uri().c_str();
  if (server_.hasArg("student_id")) {
    request.student_id = std::string(server_.arg("student_id").c_str());
  }
  request.station_mac = stationMacOf(server_.client().remoteIP());
  const fleet::PortalResponse response = fleet::handlePortal(request, backend_, home_url_);
  server_.sendHeader("Cache-Control", "no-store");
  if (!response.location.empty()) server_.sendHeader("Location", response.location.c_str());
  server_.send(response.status, response.content_type.c_str(), response.body.c_str());
}

std::string CaptivePortal::stationMacOf(const IPAddress& client) const {
  // The AP's station list pairs each client's MAC with the address DHCP gave it.
  wifi_sta_list_t stations = {};
  if (esp_wifi_ap_get_sta_list(&stations) != ESP_OK) return std::string();
#if FLEET_STA_LIST_WITH_IP
  wifi_sta_mac_ip_list_t addresses = {};
  if (esp_wifi_ap_get_sta_list_with_ip(&stations, &addresses) != ESP_OK) return std::string();
#else
  esp_netif_sta_list_t addresses = {};
  if (esp_netif_get_sta_list(&stations, &addresses) != ESP_OK) return std::string();
#endif
  const std::uint32_t wanted = static_cast<std::uint32_t>(client);
  for (int i = 0; i < addresses.num; ++i) {
    if (addresses.sta[i].ip.addr == wanted) return fleet::formatMac(addresses.sta[i].mac);
  }
  return std::string();
}

}  // namespace glue
