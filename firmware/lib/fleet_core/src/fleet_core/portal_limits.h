// How the captive portal keeps one client from starving the others (issue 18): the named limits,
// the total deadline of a request, and which connection gets a slot when slots are scarce. The
// host portal hands the limits to libmicrohttpd and applies the deadline itself; the ESP32 glue
// keeps a small table of pending connections and asks admitPortalConnection() about each one.
#pragma once

#include <cstddef>
#include <cstdint>

#include "fleet_core/limits.h"

namespace fleet {

// A request must be in whole (line, headers, body) this long after its connection opened, or
// after the previous response on a kept-alive connection; then the connection is closed. A total,
// never reset by a byte: a client sending one byte a second holds a slot 10 s at most, and a
// phone on a crowded access point still gets a ~1 KB request through with room to spare.
constexpr std::uint32_t kPortalRequestDeadlineMs = 10000;
// Connections one client address (one phone: the soft AP gives each station its own address) may
// hold at once. Browsers open at most 6 per host, so the captive-portal probe, the page, its
// favicon and the form POST of one phone fit.
constexpr std::size_t kPortalMaxConnectionsPerClient = 6;
// Host portal (libmicrohttpd): connections open at once.
constexpr std::size_t kPortalMaxConnections = 64;
// ESP32 portal: connections waiting for their request. lwIP has 16 sockets in all
// (CONFIG_LWIP_MAX_SOCKETS) for the HTTP listener, DNS, MQTT and these.
constexpr std::size_t kPortalPendingSlots = 8;
// ESP32 portal: what it buffers of one request (line, headers and body) before parsing it.
// A phone's request is well under 1 KB; the buffers of all slots together stay at 16 KB.
constexpr std::size_t kPortalMaxRequestBytes = 2048;

static_assert(kApMaxConnections * kPortalMaxConnectionsPerClient <= kPortalMaxConnections,
              "every station of a full access point can hold its share of the host portal");
static_assert(kPortalMaxConnectionsPerClient >= 2, "a phone needs the page and the form POST");
static_assert(kPortalPendingSlots >= 2 && kPortalPendingSlots <= 10, "lwIP has 16 sockets");
static_assert(kPortalRequestDeadlineMs >= 1000, "phones on a busy access point need seconds");

// True once a request that started at `started_ms` has passed its deadline (millis() wraps:
// unsigned subtraction).
bool portalRequestExpired(std::uint32_t started_ms, std::uint32_t now_ms,
                          std::uint32_t deadline_ms = kPortalRequestDeadlineMs);

// One slot of the ESP32 portal's table of pending connections.
struct PortalConnection {
  bool open = false;
  std::uint32_t address = 0;  // IPv4 of the client
  std::uint32_t opened_ms = 0;
};

enum class PortalAdmit {
  kTakeFree,  // `slot` is free
  kEvict,     // close the connection in `slot`, then take it
  kRefuse,    // close the new connection
};

struct PortalAdmission {
  PortalAdmit action = PortalAdmit::kRefuse;
  std::size_t slot = 0;
};

// Where a new connection from `address` goes in `table` (`size` slots):
//  - refused when `address` already holds `per_client_limit` connections;
//  - else a free slot;
//  - else, when the table is full, the oldest connection of the address holding the most, if that
//    address holds at least two more than `address` does (each address ends with a fair share,
//    and no one is evicted to make room for an equal);
//  - else refused.
PortalAdmission admitPortalConnection(const PortalConnection* table, std::size_t size,
                                      std::uint32_t address, std::uint32_t now_ms,
                                      std::size_t per_client_limit = kPortalMaxConnectionsPerClient);

// Whether accepting another connection now can do any good: a slot is free or some address holds
// two or more. When not, new connections are better left waiting in the listen backlog (they get
// a slot within a deadline) than accepted and closed.
bool portalMayAccept(const PortalConnection* table, std::size_t size);

}  // namespace fleet
