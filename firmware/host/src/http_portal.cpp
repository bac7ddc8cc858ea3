#include "http_portal.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <memory>

#include "fleet_core/identifiers.h"
#include "fleet_core/limits.h"
#include "fleet_core/portal_limits.h"

#if MHD_VERSION < 0x00097206
#error "libmicrohttpd 0.9.72.6 or newer is needed (MHD_run_wait)"
#endif

namespace host {
namespace {

constexpr std::int32_t kPollMs = 100;          // how late a deadline may be noticed
constexpr std::uint32_t kReportEveryMs = 60000;  // at most one line a minute about closed clients

#if MHD_VERSION >= 0x00097002
using MhdResult = enum MHD_Result;
#else
using MhdResult = int;
#endif

// Per-request state while the body arrives.
struct RequestBody {
  std::string data;
  bool too_large = false;
};

const char* header(struct MHD_Connection* connection, const char* name) {
  return MHD_lookup_connection_value(connection, MHD_HEADER_KIND, name);
}

// The client's IPv4 address as text: the host port's stand-in for a station (one phone, one
// address, as a soft AP's DHCP gives each station its own).
std::string clientAddress(struct MHD_Connection* connection) {
  const union MHD_ConnectionInfo* info =
      MHD_get_connection_info(connection, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
  if (info == nullptr || info->client_addr == nullptr || info->client_addr->sa_family != AF_INET)
    return std::string();
  char text[INET_ADDRSTRLEN] = {};
  const auto* addr = reinterpret_cast<const sockaddr_in*>(info->client_addr);
  if (inet_ntop(AF_INET, &addr->sin_addr, text, sizeof text) == nullptr) return std::string();
  return text;
}

MhdResult send(struct MHD_Connection* connection, const fleet::PortalResponse& answer) {
  struct MHD_Response* response = MHD_create_response_from_buffer(
      answer.body.size(), const_cast<char*>(answer.body.data()), MHD_RESPMEM_MUST_COPY);
  if (response == nullptr) return MHD_NO;
  MHD_add_response_header(response, MHD_HTTP_HEADER_CONTENT_TYPE, answer.content_type.c_str());
  MHD_add_response_header(response, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
  if (!answer.location.empty()) {
    MHD_add_response_header(response, MHD_HTTP_HEADER_LOCATION, answer.location.c_str());
  }
  const MhdResult result =
      MHD_queue_response(connection, static_cast<unsigned int>(answer.status), response);
  MHD_destroy_response(response);
  return result;
}

MhdResult handle(void* cls, struct MHD_Connection* connection, const char* url, const char* method,
                 const char*, const char* upload_data, size_t* upload_data_size, void** con_cls) {
  auto* portal = static_cast<HttpPortal*>(cls);
  if (*con_cls == nullptr) {  // headers only so far
    *con_cls = new RequestBody();
    return MHD_YES;
  }
  auto* body = static_cast<RequestBody*>(*con_cls);
  if (*upload_data_size > 0) {
    if (body->data.size() + *upload_data_size > fleet::kMaxFormBodyBytes) {
      body->too_large = true;
    } else {
      body->data.append(upload_data, *upload_data_size);
    }
    *upload_data_size = 0;
    return MHD_YES;
  }
  fleet::PortalRequest request;
  request.method = method;
  request.path = url;
  if (request.method == "POST" && !body->too_large) {
    request.student_id = fleet::formField(body->data, "student_id");
  } else if (body->too_large) {
    request.student_id = std::string();  // answered as a bad student id
  }
  // Tests and simulators may say which station is asking; a real AP knows it from its DHCP table.
  const char* mac = header(connection, "X-Station-Mac");
  if (mac != nullptr && fleet::isValidMac(mac)) request.station_mac = mac;
  request.station = clientAddress(connection);
  const fleet::PortalResponse answer = portal->respond(request);
  portal->logger().log(fleet::LogLevel::kDebug, request.method + " " + request.path + " -> " +
                                                    std::to_string(answer.status));
  return send(connection, answer);
}

void completed(void* cls, struct MHD_Connection* connection, void** con_cls,
               enum MHD_RequestTerminationCode) {
  delete static_cast<RequestBody*>(*con_cls);
  *con_cls = nullptr;
  static_cast<HttpPortal*>(cls)->requestDone(connection);
}

void logged(void* cls, const char* format, va_list args) {
  char text[256];
  std::vsnprintf(text, sizeof text, format, args);
  std::string message(text);
  while (!message.empty() && (message.back() == '\n' || message.back() == '\r')) message.pop_back();
  static_cast<HttpPortal*>(cls)->libraryMessage(message);
}

void notified(void* cls, struct MHD_Connection* connection, void**,
              enum MHD_ConnectionNotificationCode code) {
  auto* portal = static_cast<HttpPortal*>(cls);
  if (code == MHD_CONNECTION_NOTIFY_STARTED) {
    portal->connectionOpened(connection);
  } else {
    portal->connectionClosed(connection);
  }
}

}  // namespace

HttpPortal::HttpPortal(PortalResponder responder, fleet::Logger& logger)
    : responder_(std::move(responder)), logger_(logger) {}

HttpPortal::~HttpPortal() {
  stop();
}

bool HttpPortal::start(const std::string& bind_address, std::uint16_t port) {
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  if (inet_pton(AF_INET, bind_address.c_str(), &addr.sin_addr) != 1) return false;
  // No internal thread: serve() runs libmicrohttpd's loop and the deadlines on one thread, so a
  // socket is never shut down while libmicrohttpd closes it.
  serving_ = false;
  daemon_ = MHD_start_daemon(
      MHD_USE_AUTO | MHD_USE_ERROR_LOG, port, nullptr, nullptr, &handle, this,
      MHD_OPTION_EXTERNAL_LOGGER, &logged, this, MHD_OPTION_SOCK_ADDR, reinterpret_cast<const sockaddr*>(&addr), MHD_OPTION_NOTIFY_COMPLETED,
      &completed, this, MHD_OPTION_NOTIFY_CONNECTION, &notified, this,
      MHD_OPTION_CONNECTION_TIMEOUT,
      static_cast<unsigned int>(fleet::kPortalRequestDeadlineMs / 1000),  // a backstop only
      MHD_OPTION_CONNECTION_LIMIT, static_cast<unsigned int>(fleet::kPortalMaxConnections),
      MHD_OPTION_PER_IP_CONNECTION_LIMIT,
      static_cast<unsigned int>(fleet::kPortalMaxConnectionsPerClient), MHD_OPTION_END);
  if (daemon_ == nullptr) return false;
  serving_ = true;
  stopping_ = false;
  thread_ = std::thread([this] { serve(); });
  return true;
}

void HttpPortal::stop() {
  stopping_ = true;
  if (thread_.joinable()) {
    thread_.join();
    report(millis(), true);  // what the last minute held
  }
  if (daemon_ != nullptr) MHD_stop_daemon(daemon_);
  daemon_ = nullptr;
  connections_.clear();
  serving_ = false;
}

void HttpPortal::serve() {
  while (!stopping_) {
    if (MHD_run_wait(daemon_, kPollMs) != MHD_YES) {
      logger_.log(fleet::LogLevel::kError, "portal: libmicrohttpd's loop failed");
      std::this_thread::sleep_for(std::chrono::milliseconds(kPollMs));
    }
    const std::uint32_t now = millis();
    closeOverdue(now);
    report(now, false);
  }
}

void HttpPortal::connectionOpened(struct MHD_Connection* connection) {
  const union MHD_ConnectionInfo* info =
      MHD_get_connection_info(connection, MHD_CONNECTION_INFO_CONNECTION_FD);
  if (info == nullptr) return;
  connections_[connection] = Tracked{info->connect_fd, millis(), false};
}

void HttpPortal::connectionClosed(struct MHD_Connection* connection) {
  connections_.erase(connection);
}

void HttpPortal::requestDone(struct MHD_Connection* connection) {
  // The response is out: a kept-alive connection's next request has a deadline of its own.
  const auto it = connections_.find(connection);
  if (it != connections_.end()) it->second.started_ms = millis();
}

void HttpPortal::libraryMessage(const std::string& message) {
  if (!serving_) {  // starting (a port taken, ...): say it now
    logger_.log(fleet::LogLevel::kError, "portal: " + message);
  } else if (message.find("connection limit") != std::string::npos) {
    ++refused_;
  } else {
    ++messages_;
    last_message_ = message;
  }
}

void HttpPortal::closeOverdue(std::uint32_t now_ms) {
  for (auto& [connection, tracked] : connections_) {
    if (tracked.closing || !fleet::portalRequestExpired(tracked.started_ms, now_ms)) continue;
    // libmicrohttpd has no call to close a connection: shut the socket down and it reads the end
    // of the stream, closes the connection and tells connectionClosed().
    ::shutdown(tracked.fd, SHUT_RDWR);
    tracked.closing = true;
    ++overdue_;
  }
}

void HttpPortal::report(std::uint32_t now_ms, bool force) {
  if (overdue_ == 0 && refused_ == 0 && messages_ == 0) return;
  if (!force && last_report_ms_ && now_ms - *last_report_ms_ < kReportEveryMs) return;
  std::string line = "portal: closed " + std::to_string(overdue_) +
                     " connection(s) that sent no whole request within " +
                     std::to_string(fleet::kPortalRequestDeadlineMs / 1000) + " s, refused " +
                     std::to_string(refused_) + " over the limits of " +
                     std::to_string(fleet::kPortalMaxConnections) + " connections, " +
                     std::to_string(fleet::kPortalMaxConnectionsPerClient) + " per address; " +
                     std::to_string(connections_.size()) + " open now";
  if (messages_ > 0) {
    line += "; libmicrohttpd said " + std::to_string(messages_) + " thing(s), last: " +
            last_message_;
  }
  logger_.log(fleet::LogLevel::kWarn, line);
  overdue_ = refused_ = messages_ = 0;
  last_report_ms_ = now_ms;
}

std::uint32_t HttpPortal::millis() const {
  return static_cast<std::uint32_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                        std::chrono::steady_clock::now() - epoch_)
                                        .count());
}

}  // namespace host
