// The captive portal as pure functions: a request (method, path, student_id form field) and the
// device's snapshot in, a response (status, content type, HTML) out. The ESP32 WebServer and
// the host's libmicrohttpd server both serve exactly this.
//   GET /           course, SSID, whether the device is in sync, the check-in form; to a phone
//                   that is done (stations.h), the "already checked in" page
//   POST /checkin   200 checked in | 200 already checked in | 400 bad id | 409 no session |
//                   503 queue full | 500 flash error
//   anything else   302 to / (what phones probe to detect a captive portal)
// accessPointFull() is what the host port answers where a radio refuses an association.
#pragma once

#include <optional>
#include <string>

#include "fleet_core/portal_backend.h"

namespace fleet {

struct PortalRequest {
  std::string method;                     // "GET", "POST", ...
  std::string path;                       // "/checkin" (a query string is ignored)
  std::optional<std::string> student_id;  // the form field, when posted
  std::string station_mac;                // of the client, "" when unknown
  std::string station;  // the access point's name for the client (MAC or address), "" unknown
};

struct PortalResponse {
  int status = 200;
  std::string content_type;
  std::string body;
  std::string location;  // for 302
};

constexpr const char* kHtmlContentType = "text/html; charset=utf-8";

// `home_url`: where other paths redirect ("/" or an absolute http://192.168.4.1/).
PortalResponse handlePortal(const PortalRequest& request, PortalBackend& backend,
                            const std::string& home_url = "/");

// 503 with a short plain-text body: every slot of the access point is taken. The host port's
// stand-in for the association a full radio refuses (it has no radio to refuse with).
PortalResponse accessPointFull();
constexpr const char* kAccessPointFullBody = "access point full";

// The home page for `snapshot` (also what GET / returns).
std::string renderHome(const PortalSnapshot& snapshot);

// One field of an application/x-www-form-urlencoded body, decoded; nothing when absent.
std::optional<std::string> formField(const std::string& body, const std::string& name);

// &, <, >, " and ' as entities.
std::string htmlEscape(const std::string& text);

}  // namespace fleet
