// Which station (MAC) a captive-portal client address belongs to on the ESP32.
//
// The portal knows a client only by its IP address; slot recycling, the idle limit and the
// check-in's station_mac need the MAC. ESP-IDF 4.4's DHCP server keeps only the 8 newest leases
// (CONFIG_LWIP_DHCPS_MAX_STATION_NUM), so with 9 to 11 phones joined the lease list alone loses
// the earliest ones. So lwIP's ARP table for the soft AP's netif is read first, the lease list
// second, and fleet::stationOfAddress() (fleet_core/station_address.h) decides between them and
// the radio's list of associated stations.
//
// Both tables belong to lwIP's tcpip thread: the Arduino core's sdkconfig leaves
// CONFIG_LWIP_TCPIP_CORE_LOCKING unset, so lwipopts.h has LWIP_TCPIP_CORE_LOCKING 0 (no
// LOCK_TCPIP_CORE()) and lwIP's core may only run in that thread; the DHCP server drops leases
// from its timer there, and esp_netif_get_sta_list() of IDF 4.4 walks them in the caller's task.
// So both are read inside esp_netif_tcpip_exec(), which runs the read in that thread and waits for
// it: a walk of at most 10 ARP entries and 8 leases, as dns_lookup.cpp starts its queries.
#pragma once

#include <IPAddress.h>

#include <string>

namespace glue {

// The MAC (aa:bb:cc:dd:ee:ff) of the associated station using `client`, "" when unknown.
// On the loop task only (it waits for lwIP's thread).
std::string stationMacOf(const IPAddress& client);

}  // namespace glue
