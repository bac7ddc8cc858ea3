// The captive portal over real HTTP with libmicrohttpd (the one place it is used). Requests are
// turned into fleet::PortalRequest and answered by the responder, which runs the core's
// handlePortal() so the host serves exactly the pages the ESP32 serves. libmicrohttpd answers
// from its own thread: the responder must lock whatever it shares.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "fleet_core/portal.h"
#include "fleet_core/ports.h"

struct MHD_Daemon;

namespace host {

using PortalResponder = std::function<fleet::PortalResponse(const fleet::PortalRequest&)>;

class HttpPortal {
 public:
  HttpPortal(PortalResponder responder, fleet::Logger& logger);
  ~HttpPortal();
  HttpPortal(const HttpPortal&) = delete;
  HttpPortal& operator=(const HttpPortal&) = delete;

  // Listens on bind_address:port (IPv4); false when it cannot.
  bool start(const std::string& bind_address, std::uint16_t port);
  void stop();

  // Internal: called by the libmicrohttpd callback.
  fleet::PortalResponse respond(const fleet::PortalRequest& request) { return responder_(request); }
  fleet::Logger& logger() { return logger_; }

 private:
  PortalResponder responder_;
  fleet::Logger& logger_;
  struct MHD_Daemon* daemon_ = nullptr;
};

}  // namespace host
