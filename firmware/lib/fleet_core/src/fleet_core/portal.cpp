#include "fleet_core/portal.h"

#include "fleet_core/identifiers.h"
#include "fleet_core/limits.h"

namespace fleet {
namespace {

constexpr const char* kStyle =
    "body{font-family:system-ui,sans-serif;max-width:30rem;margin:0 auto;padding:1rem;"
    "line-height:1.4}h1{font-size:1.4rem}label{display:block;margin-top:1rem;font-weight:bold}"
    "input,button{font-size:1.2rem;width:100%;box-sizing:border-box;padding:.6rem;margin:.4rem 0}"
    "button{background:#1a5fb4;color:#fff;border:0;border-radius:.3rem}"
    ".ok{color:#26662b}.warn{color:#8a5a00}.err{color:#a51d2d}.small{font-size:.9rem;color:#555}";

std::string page(const std::string& title, const std::string& body) {
  return "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">"
         "<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">"
         "<title>" +
         htmlEscape(title) + "</title><style>" + kStyle + "</style></head><body>" + body +
         "</body></html>";
}

std::string paragraph(const char* css_class, const std::string& html) {
  if (css_class[0] == '\0') return "<p>" + html + "</p>";
  return std::string("<p class=\"") + css_class + "\">" + html + "</p>";
}

std::string checkinForm(const std::string& value) {
  return "<form method=\"post\" action=\"/checkin\">"
         "<label for=\"student_id\">Student ID</label>"
         "<input id=\"student_id\" name=\"student_id\" required maxlength=\"32\" "
         "autocomplete=\"off\" autocapitalize=\"characters\" spellcheck=\"false\" "
         "placeholder=\"e.g. U2021/0042\" value=\"" +
         htmlEscape(value) +
         "\">"
         "<button type=\"submit\">Check in</button></form>";
}

std::string syncLine(const PortalSnapshot& snap) {
  const std::string version = "configuration v" + std::to_string(snap.applied_version);
  std::string line;
  if (!snap.connected) {
    line = paragraph("warn", "Offline from the attendance server (" + version +
                                 " from memory). Check-ins are saved on this device and sent "
                                 "when it reconnects.");
  } else if (snap.rejected_version) {
    line =
        paragraph("warn", "Connected, but configuration v" +
                              std::to_string(*snap.rejected_version) + " was refused (" +
                              htmlEscape(snap.rejected_error) + "); still using " + version + ".");
  } else {
    line = paragraph("ok", "In sync with the attendance server (" + version + ").");
  }
  if (snap.queued > 0) {
    line +=
        paragraph("small", std::to_string(snap.queued) + " check-in(s) waiting to be confirmed.");
  }
  return line;
}

std::string sessionHeading(const PortalSnapshot& snap) {
  const SessionConfig& s = snap.session;
  return "<h1>" + htmlEscape(s.course_code) + " &ndash; " + htmlEscape(s.course_title) + "</h1>" +
         paragraph("small", htmlEscape(s.location)) +
         paragraph("small", "Network: <b>" + htmlEscape(s.ssid) + "</b>");
}

std::string backLink() {
  return "<p><a href=\"/\">Back</a></p>";
}

PortalResponse html(int status, const std::string& title, const std::string& body) {
  PortalResponse response;
  response.status = status;
  response.content_type = kHtmlContentType;
  response.body = page(title, body);
  return response;
}

PortalResponse redirect(const std::string& location) {
  PortalResponse response;
  response.status = 302;
  response.content_type = kHtmlContentType;
  response.location = location;
  response.body =
      page("Attendance", "<p><a href=\"" + htmlEscape(location) + "\">Continue</a></p>");
  return response;
}

std::string doneLine(const PortalSnapshot& snap) {
  if (!snap.releases_stations) return paragraph("", "You are done.");
  return paragraph("", "You are done: this phone will be disconnected from <b>" +
                           htmlEscape(snap.session.ssid) +
                           "</b> in a few seconds to make room for the next student.");
}

// The "already checked in" page, for a phone back at the portal or a student ID sent again: what
// `message` says, then what happens to the phone.
PortalResponse alreadyDone(const PortalSnapshot& snap, const std::string& message) {
  return html(200, "Already checked in",
              "<h1 class=\"ok\">Already checked in</h1>" + paragraph("", message) + doneLine(snap));
}

PortalResponse checkinResponse(const PortalRequest& request, PortalBackend& backend) {
  const std::string typed = request.student_id.value_or(std::string());
  const std::string id = trim(typed);
  const CheckinResult result = backend.checkin(typed, request.station_mac, request.station);
  const PortalSnapshot snap = backend.snapshot();
  const std::string course = htmlEscape(snap.session.course_code);
  const std::string who = "<b>" + htmlEscape(id) + "</b>";
  switch (result) {
    case CheckinResult::kCheckedIn: {
      std::string body = "<h1 class=\"ok\">Checked in</h1>" +
                         paragraph("", who + " is checked in for " + course + ".") +
                         doneLine(snap);
      if (!snap.connected) {
        body += paragraph("small",
                          "The device is offline; your check-in is saved and will be "
                          "sent when it reconnects.");
      }
      return html(200, "Checked in", body);
    }
    case CheckinResult::kAlreadyCheckedIn:
      return alreadyDone(snap, who + " is already checked in for " + course +
                                   " in this session. Nothing more to do.");
    case CheckinResult::kNoActiveSession:
      return html(409, "No active session",
                  "<h1 class=\"warn\">No active session</h1>" +
                      paragraph("",
                                "This device is not taking attendance right now. Ask your "
                                "lecturer to start the session, then try again.") +
                      backLink());
    case CheckinResult::kBadStudentId: {
      const std::string shown =
          id.size() > kMaxEventStudentIdLen ? id.substr(0, kMaxEventStudentIdLen) : id;
      return html(400, "Check your student ID",
                  "<h1 class=\"err\">Check your student ID</h1>" +
                      paragraph("",
                                "A student ID is 1 to 32 letters, digits or / . _ - and starts "
                                "with a letter or digit, for example U2021/0042.") +
                      checkinForm(shown));
    }
    case CheckinResult::kQueueFull:
      return html(503, "Try again shortly",
                  "<h1 class=\"warn\">Try again shortly</h1>" +
                      paragraph("",
                                "This device is holding too many check-ins that the server "
                                "has not confirmed yet. Try again in a minute.") +
                      backLink());
    case CheckinResult::kStorageError: break;
  }
  return html(500, "Not saved",
              "<h1 class=\"err\">Not saved</h1>" +
                  paragraph("",
                            "The device could not save your check-in. Try again, and tell "
                            "your lecturer if it keeps failing.") +
                  backLink());
}

int hexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::string urlDecode(const std::string& text) {
  std::string out;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '+') {
      out.push_back(' ');
    } else if (c == '%' && i + 2 < text.size() && hexDigit(text[i + 1]) >= 0 &&
               hexDigit(text[i + 2]) >= 0) {
      out.push_back(static_cast<char>(hexDigit(text[i + 1]) * 16 + hexDigit(text[i + 2])));
      i += 2;
    } else {
      out.push_back(c);
    }
  }
  return out;
}

}  // namespace

std::string renderHome(const PortalSnapshot& snap) {
  if (!snap.active_session) {
    return page("Attendance", "<h1>Attendance</h1>" +
                                  paragraph("warn",
                                            "No attendance session is running on this "
                                            "device right now.") +
                                  syncLine(snap));
  }
  return page(snap.session.course_code + " attendance",
              sessionHeading(snap) + syncLine(snap) + checkinForm(""));
}

PortalResponse accessPointFull() {
  PortalResponse response;
  response.status = 503;
  response.content_type = "text/plain; charset=utf-8";
  response.body = kAccessPointFullBody;
  return response;
}

PortalResponse handlePortal(const PortalRequest& request, PortalBackend& backend,
                            const std::string& home_url) {
  const std::string path = request.path.substr(0, request.path.find('?'));
  const bool done = backend.stationRequest(request.station);
  if (path == "/" && (request.method == "GET" || request.method == "HEAD")) {
    const PortalSnapshot snap = backend.snapshot();
    if (done && snap.active_session) {
      return alreadyDone(snap, "This phone has already checked in for " +
                                   htmlEscape(snap.session.course_code) + " in this session.");
    }
    PortalResponse response;
    response.content_type = kHtmlContentType;
    response.body = renderHome(snap);
    return response;
  }
  if (path == "/checkin" && request.method == "POST") return checkinResponse(request, backend);
  return redirect(home_url);
}

std::optional<std::string> formField(const std::string& body, const std::string& name) {
  std::size_t start = 0;
  while (start <= body.size()) {
    std::size_t end = body.find('&', start);
    if (end == std::string::npos) end = body.size();
    const std::string pair = body.substr(start, end - start);
    const std::size_t eq = pair.find('=');
    const std::string key = urlDecode(pair.substr(0, eq));
    if (key == name)
      return eq == std::string::npos ? std::string() : urlDecode(pair.substr(eq + 1));
    start = end + 1;
  }
  return std::nullopt;
}

std::string htmlEscape(const std::string& text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out.push_back(c);
    }
  }
  return out;
}

}  // namespace fleet
