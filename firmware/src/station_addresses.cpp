#include "station_addresses.h"

#include <esp_netif.h>
#include <esp_netif_net_stack.h>
#include <esp_wifi.h>
#include <lwip/etharp.h>
#include <lwip/ip4_addr.h>
#include <lwip/netif.h>

// The lease list pairs each station's MAC with the address DHCP gave it: esp_netif_get_sta_list()
// up to ESP-IDF 5.0 (arduino-esp32 2.x); it is gone from IDF 5.1 (arduino-esp32 3.x), which has
// esp_wifi_ap_get_sta_list_with_ip().
#if __has_include(<esp_wifi_ap_get_sta_list.h>)
#include <esp_wifi_ap_get_sta_list.h>
#define FLEET_STA_LIST_WITH_IP 1
#else
#include <esp_netif_sta_list.h>
#define FLEET_STA_LIST_WITH_IP 0
#endif

#include <cstdint>
#include <cstring>

#include <fleet_core/identifiers.h>
#include <fleet_core/station_address.h>

#include "soft_access_point.h"

namespace glue {
namespace {

constexpr std::size_t kMacBytes = 6;

#if FLEET_STA_LIST_WITH_IP
using LeaseList = wifi_sta_mac_ip_list_t;
#else
using LeaseList = esp_netif_sta_list_t;
#endif

// One lookup, handed to lwIP's thread. The lists live here, on the loop task's stack, not on the
// tcpip thread's (CONFIG_LWIP_TCPIP_TASK_STACK_SIZE is 2560 bytes).
struct Lookup {
  std::uint32_t ipv4 = 0;        // the client, as lwIP stores it (network order)
  wifi_sta_list_t stations = {};  // the radio's associated stations, read before
  LeaseList leases = {};
  bool arp_found = false;
  std::uint8_t arp_mac[kMacBytes] = {};
};

// In the tcpip thread (esp_netif_tcpip_exec): the ARP entry for the client on the soft AP's
// netif, then the leases of the associated stations.
esp_err_t readTables(void* ctx) {
  auto* lookup = static_cast<Lookup*>(ctx);
  esp_netif_t* ap = esp_netif_get_handle_from_ifkey(kApNetifKey);
  auto* netif = ap != nullptr ? static_cast<struct netif*>(esp_netif_get_netif_impl(ap)) : nullptr;
  if (netif != nullptr) {
    ip4_addr_t wanted;
    wanted.addr = lookup->ipv4;
    struct eth_addr* mac = nullptr;
    const ip4_addr_t* entry_ip = nullptr;
    // A stable entry on this netif only (ETHARP_TABLE_MATCH_NETIF is 1: lwIP has several netifs).
    if (etharp_find_addr(netif, &wanted, &mac, &entry_ip) >= 0 && mac != nullptr) {
      std::memcpy(lookup->arp_mac, mac->addr, kMacBytes);
      lookup->arp_found = true;
    }
  }
#if FLEET_STA_LIST_WITH_IP
  if (esp_wifi_ap_get_sta_list_with_ip(&lookup->stations, &lookup->leases) != ESP_OK) {
    lookup->leases.num = 0;
  }
#else
  if (esp_netif_get_sta_list(&lookup->stations, &lookup->leases) != ESP_OK) lookup->leases.num = 0;
#endif
  return ESP_OK;
}

}  // namespace

std::string stationMacOf(const IPAddress& client) {
  Lookup lookup;
  lookup.ipv4 = static_cast<std::uint32_t>(client);
  if (esp_wifi_ap_get_sta_list(&lookup.stations) != ESP_OK) return std::string();
  if (esp_netif_tcpip_exec(&readTables, &lookup) != ESP_OK) return std::string();

  fleet::AddressClues clues;
  if (lookup.arp_found) clues.arp_mac = fleet::formatMac(lookup.arp_mac);
  for (int i = 0; i < lookup.leases.num; ++i) {
    if (lookup.leases.sta[i].ip.addr == lookup.ipv4) {
      clues.lease_mac = fleet::formatMac(lookup.leases.sta[i].mac);
      break;
    }
  }
  clues.associated.reserve(static_cast<std::size_t>(lookup.stations.num));
  for (int i = 0; i < lookup.stations.num; ++i) {
    clues.associated.push_back(fleet::formatMac(lookup.stations.sta[i].mac));
  }
  return fleet::stationOfAddress(clues);
}

}  // namespace glue
