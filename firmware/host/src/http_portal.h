// The captive portal over real HTTP with libmicrohttpd (the one place it is used). Requests are
// turned into fleet::PortalRequest and answered by the responder, which runs the core's
// handlePortal() so the host serves exactly the pages the ESP32 serves. The portal runs
// libmicrohttpd's loop on a thread of its own: the responder must lock whatever it shares.
//
// One client cannot starve the others (fleet_core/portal_limits.h): libmicrohttpd holds at most
// kPortalMaxConnections, kPortalMaxConnectionsPerClient from one address, and the portal closes
// every connection whose request is not in whole kPortalRequestDeadlineMs after it began (a total,
// where libmicrohttpd's own timeout is reset by every byte). Closed and refused connections are
// counted and reported in one line, at once and then at most once a minute.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <thread>

#include "fleet_core/portal.h"
#include "fleet_core/ports.h"

struct MHD_Connection;
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

  // Internal: called by the libmicrohttpd callbacks, all on the portal's thread.
  fleet::PortalResponse respond(const fleet::PortalRequest& request) { return responder_(request); }
  fleet::Logger& logger() { return logger_; }
  void connectionOpened(struct MHD_Connection* connection);
  void connectionClosed(struct MHD_Connection* connection);
  void requestDone(struct MHD_Connection* connection);
  // A message of libmicrohttpd's (it logs every refused connection: counted, never one a line).
  void libraryMessage(const std::string& message);

 private:
  // A connection and when its current request began (when it opened, or when the previous
  // response on it was sent).
  struct Tracked {
    int fd = -1;
    std::uint32_t started_ms = 0;
    bool closing = false;  // shut down, libmicrohttpd has not noticed yet
  };

  void serve();
  void closeOverdue(std::uint32_t now_ms);
  void report(std::uint32_t now_ms, bool force);
  std::uint32_t millis() const;

  PortalResponder responder_;
  fleet::Logger& logger_;
  struct MHD_Daemon* daemon_ = nullptr;
  std::chrono::steady_clock::time_point epoch_ = std::chrono::steady_clock::now();
  std::thread thread_;
  std::atomic<bool> stopping_{false};
  std::map<struct MHD_Connection*, Tracked> connections_;  // the portal's thread only
  bool serving_ = false;  // libmicrohttpd's messages are reported (else logged as they come)
  // Since the last report:
  std::uint32_t overdue_ = 0;   // closed at the request deadline
  std::uint32_t refused_ = 0;   // over the connection limits
  std::uint32_t messages_ = 0;  // other messages of libmicrohttpd's
  std::string last_message_;
  std::optional<std::uint32_t> last_report_ms_;       // the first one is at once
};

}  // namespace host
