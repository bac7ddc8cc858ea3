#include "http_portal.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>

#include <cstring>
#include <memory>

#include "fleet_core/identifiers.h"
#include "fleet_core/limits.h"

namespace host {
namespace {

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
  const fleet::PortalResponse answer = portal->respond(request);
  portal->logger().log(fleet::LogLevel::kDebug, request.method + " " + request.path + " -> " +
                                                    std::to_string(answer.status));
  return send(connection, answer);
}

void completed(void*, struct MHD_Connection*, void** con_cls, enum MHD_RequestTerminationCode) {
  delete static_cast<RequestBody*>(*con_cls);
  *con_cls = nullptr;
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
  daemon_ = MHD_start_daemon(
      MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG, port, nullptr, nullptr, &handle, this,
      MHD_OPTION_SOCK_ADDR, reinterpret_cast<const sockaddr*>(&addr), MHD_OPTION_NOTIFY_COMPLETED,
      &completed, nullptr, MHD_OPTION_CONNECTION_TIMEOUT, static_cast<unsigned int>(10),
      MHD_OPTION_CONNECTION_LIMIT, static_cast<unsigned int>(64), MHD_OPTION_END);
  return daemon_ != nullptr;
}

void HttpPortal::stop() {
  if (daemon_ != nullptr) MHD_stop_daemon(daemon_);
  daemon_ = nullptr;
}

}  // namespace host
