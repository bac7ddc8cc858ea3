// The captive portal on the course network: DNSServer answers every name with the AP's address
// and a bounded WebServer hands every request to the core's handlePortal(), so phones open the
// check-in page by themselves. loop() only serves what is pending, never waiting for a client.
#pragma once

#include <DNSServer.h>
#include <IPAddress.h>
#include <WebServer.h>

#include <cstddef>
#include <cstdint>
#include <string>

#include <fleet_core/portal_backend.h>
#include <fleet_core/portal_limits.h>
#include <fleet_core/ports.h>

namespace glue {

// arduino-esp32 2.0.x's WebServer serves one client at a time, and once a client's first byte is
// in it parses the request with blocking reads that every byte restarts (Stream's 1 s timeout per
// read; the body waits HTTP_MAX_POST_WAIT per chunk and allocates whatever Content-Length says):
// one phone trickling a request freezes loop() — portal, DNS and MQTT — for as long as it likes,
// and an idle one holds the only slot HTTP_MAX_DATA_WAIT (5 s) per connection. Those waits are
// #defines compiled into the library. So this front replaces handleClient(): it keeps up to
// kPortalPendingSlots connections (admitPortalConnection() shares them out by client address),
// reads what each has sent without waiting, closes one whose request is not whole within
// kPortalRequestDeadlineMs, and lets WebServer parse a request only once all of it is in memory.
class BoundedWebServer : public WebServer {
 public:
  explicit BoundedWebServer(int port);

  void handleClient() override;
  void close() override;

  // Connections closed since the last call (for one log line now and then).
  struct Counts {
    std::uint32_t expired = 0;  // no whole request within the deadline
    std::uint32_t refused = 0;  // over the per-address share
    std::uint32_t bad = 0;      // too large or malformed: answered 413 / 400
  };
  Counts takeCounts();

 private:
  struct Pending {
    WiFiClient client;
    std::string bytes;  // what has arrived of the request
  };

  bool acceptOne(std::uint32_t now_ms);
  void pump(std::size_t slot, std::uint32_t now_ms);
  void serve(std::size_t slot, std::size_t length);
  void refuse(std::size_t slot, const char* status_line);
  void drop(std::size_t slot);

  fleet::PortalConnection table_[fleet::kPortalPendingSlots];
  Pending pending_[fleet::kPortalPendingSlots];
  Counts counts_;
};

class CaptivePortal {
 public:
  CaptivePortal(fleet::PortalBackend& backend, fleet::Logger& logger);

  void begin();
  // From the access point: start or stop answering DNS on its network.
  void onAccessPoint(bool up, const IPAddress& ip);
  void loop();

 private:
  void handleRequest();
  void report();

  fleet::PortalBackend& backend_;
  fleet::Logger& logger_;
  DNSServer dns_;
  BoundedWebServer server_;
  bool dns_running_ = false;
  std::string home_url_ = "/";
  std::uint32_t last_report_ms_ = 0;
  bool reported_ = false;
};

}  // namespace glue
