// The captive portal on the course network: DNSServer answers every name with the AP's address
// and WebServer hands every request to the core's handlePortal(), so phones open the check-in
// page by themselves. loop() only serves what is pending.
#pragma once

#include <DNSServer.h>
#include <IPAddress.h>
#include <WebServer.h>

#include <string>

#include <fleet_core/portal_backend.h>
#include <fleet_core/ports.h>

namespace glue {

class CaptivePortal {
 public:
  CaptivePortal(fleet::PortalBackend& backend, fleet::Logger& logger);

  void begin();
  // From the access point: start or stop answering DNS on its network.
  void onAccessPoint(bool up, const IPAddress& ip);
  void loop();

 private:
  void handleRequest();
  std::string stationMacOf(const IPAddress& client) const;

  fleet::PortalBackend& backend_;
  fleet::Logger& logger_;
  DNSServer dns_;
  WebServer server_;
  bool dns_running_ = false;
  std::string home_url_ = "/";
};

}  // namespace glue
