#include "captive_portal.h"

#include <lwip/opt.h>
#include <sdkconfig.h>

#include <fleet_core/http_framing.h>
#include <fleet_core/portal.h>

#include "station_addresses.h"

namespace glue {
namespace {

constexpr std::uint16_t kDnsPort = 53;
constexpr std::uint16_t kHttpPort = 80;
constexpr std::size_t kSlots = fleet::kPortalPendingSlots;
constexpr std::size_t kAcceptsPerLoop = kSlots;  // a connect flood cannot make one loop() long
constexpr std::uint32_t kReportEveryMs = 60000;

// A whole request must sit in the socket's receive window, or the client could not send it all
// before we read; and the page (under 3 KB: course fields are bounded) fits the send buffer, so
// answering never waits for a client that does not read (WiFiClient::write's ten 1 s selects).
static_assert(fleet::kPortalMaxRequestBytes <= CONFIG_LWIP_TCP_WND_DEFAULT, "request > window");
static_assert(CONFIG_LWIP_TCP_SND_BUF_DEFAULT >= 4096, "one page must fit the send buffer");
static_assert(kSlots + 4 <= CONFIG_LWIP_MAX_SOCKETS, "sockets for listener, DNS, MQTT, backlog");

// A request already in memory, read through WiFiClient's interface so that WebServer's own parser
// takes it and never waits on the network: reads past its end fail at once.
class BufferedRequest : public WiFiClient {
 public:
  BufferedRequest(const char* data, std::size_t size) : data_(data), size_(size) {
    Stream::setTimeout(0);  // Stream::timedRead() gives up at once
  }
  int available() override { return static_cast<int>(size_ - pos_); }
  int read() override { return pos_ < size_ ? static_cast<std::uint8_t>(data_[pos_++]) : -1; }
  int read(std::uint8_t* buf, std::size_t size) override {
    const std::size_t n = size < size_ - pos_ ? size : size_ - pos_;
    for (std::size_t i = 0; i < n; ++i) buf[i] = static_cast<std::uint8_t>(data_[pos_ + i]);
    pos_ += n;
    return static_cast<int>(n);
  }
  int peek() override { return pos_ < size_ ? static_cast<std::uint8_t>(data_[pos_]) : -1; }
  void flush() override {}
  std::uint8_t connected() override { return pos_ < size_ ? 1 : 0; }

 private:
  const char* data_;
  std::size_t size_;
  std::size_t pos_ = 0;
};

const char* methodName(HTTPMethod method) {
  switch (method) {
    case HTTP_GET: return "GET";
    case HTTP_POST: return "POST";
    case HTTP_HEAD: return "HEAD";
    default: return "OTHER";
  }
}

}  // namespace

BoundedWebServer::BoundedWebServer(int port) : WebServer(port) {}

void BoundedWebServer::handleClient() {
  const std::uint32_t now = millis();
  bool busy = false;
  for (std::size_t slot = 0; slot < kSlots; ++slot) {
    if (!table_[slot].open) continue;
    pump(slot, now);
    busy = true;
  }
  for (std::size_t n = 0; n < kAcceptsPerLoop && fleet::portalMayAccept(table_, kSlots); ++n) {
    if (!acceptOne(now)) break;
    busy = true;
  }
  // WebServer::handleClient() rests 1 ms when it has no client (enableDelay); so does this.
  if (!busy && _nullDelay) delay(1);
}

void BoundedWebServer::close() {
  for (std::size_t slot = 0; slot < kSlots; ++slot) drop(slot);
  WebServer::close();
}

BoundedWebServer::Counts BoundedWebServer::takeCounts() {
  const Counts counts = counts_;
  counts_ = Counts();
  return counts;
}

bool BoundedWebServer::acceptOne(std::uint32_t now_ms) {
  WiFiClient client = _server.available();
  if (!client) return false;
  const std::uint32_t address = static_cast<std::uint32_t>(client.remoteIP());
  const fleet::PortalAdmission admission =
      fleet::admitPortalConnection(table_, kSlots, address, now_ms);
  if (admission.action == fleet::PortalAdmit::kRefuse) {
    client.stop();
    ++counts_.refused;
    return true;
  }
  if (admission.action == fleet::PortalAdmit::kEvict) {
    drop(admission.slot);
    ++counts_.refused;
  }
  table_[admission.slot] = fleet::PortalConnection{true, address, now_ms};
  pending_[admission.slot].client = client;
  pending_[admission.slot].bytes.reserve(fleet::kPortalMaxRequestBytes);
  return true;
}

void BoundedWebServer::pump(std::size_t slot, std::uint32_t now_ms) {
  Pending& pending = pending_[slot];
  const int available = pending.client.available();
  const std::size_t room = fleet::kPortalMaxRequestBytes - pending.bytes.size();
  if (available > 0 && room > 0) {
    const std::size_t had = pending.bytes.size();
    const std::size_t want = static_cast<std::size_t>(available) < room ? available : room;
    pending.bytes.resize(had + want);
    const int got =
        pending.client.read(reinterpret_cast<std::uint8_t*>(&pending.bytes[had]), want);
    pending.bytes.resize(had + (got > 0 ? static_cast<std::size_t>(got) : 0));
  }
  const fleet::HttpFrame frame = fleet::frameHttpRequest(
      pending.bytes.data(), pending.bytes.size(), fleet::kPortalMaxRequestBytes);
  switch (frame.state) {
    case fleet::HttpFraming::kComplete: serve(slot, frame.length); return;
    case fleet::HttpFraming::kTooLarge: refuse(slot, "413 Content Too Large"); return;
    case fleet::HttpFraming::kMalformed: refuse(slot, "400 Bad Request"); return;
    case fleet::HttpFraming::kIncomplete: break;
  }
  if (fleet::portalRequestExpired(table_[slot].opened_ms, now_ms)) {
    drop(slot);
    ++counts_.expired;
  } else if (available <= 0 && !pending.client.connected()) {
    drop(slot);  // gone before its request was whole
  }
}

void BoundedWebServer::serve(std::size_t slot, std::size_t length) {
  // As WebServer::handleClient() does with a client whose request has arrived, minus the waiting.
  BufferedRequest request(pending_[slot].bytes.data(), length);
  _currentClient = pending_[slot].client;
  _currentStatus = HC_WAIT_READ;
  _statusChange = millis();
  if (_parseRequest(request)) {
    _contentLength = CONTENT_LENGTH_NOT_SET;
    _handleRequest();  // WebServer answers with Connection: close
  }
  _currentClient = WiFiClient();
  _currentStatus = HC_NONE;
  _currentUpload.reset();
  _currentRaw.reset();
  drop(slot);
}

void BoundedWebServer::refuse(std::size_t slot, const char* status_line) {
  const std::string answer = std::string("HTTP/1.1 ") + status_line +
                             "\r\nConnection: close\r\nContent-Length: 0\r\n\r\n";
  pending_[slot].client.write(reinterpret_cast<const std::uint8_t*>(answer.data()), answer.size());
  ++counts_.bad;
  drop(slot);
}

void BoundedWebServer::drop(std::size_t slot) {
  pending_[slot].client.stop();
  std::string().swap(pending_[slot].bytes);  // give the buffer back to the heap
  table_[slot] = fleet::PortalConnection();
}

CaptivePortal::CaptivePortal(fleet::PortalBackend& backend, fleet::Logger& logger)
    : backend_(backend), logger_(logger), server_(kHttpPort) {}

void CaptivePortal::begin() {
  // Every path goes to the core: it knows "/", "/checkin" and redirects the rest.
  server_.onNotFound([this] { handleRequest(); });
  server_.begin();
}

void CaptivePortal::onAccessPoint(bool up, const IPAddress& ip) {
  if (dns_running_) {
    dns_.stop();
    dns_running_ = false;
  }
  if (!up) return;
  dns_.setErrorReplyCode(DNSReplyCode::NoError);
  dns_running_ = dns_.start(kDnsPort, "*", ip);
  home_url_ = std::string("http://") + ip.toString().c_str() + "/";
  if (!dns_running_) logger_.log(fleet::LogLevel::kError, "captive DNS did not start");
}

void CaptivePortal::loop() {
  if (dns_running_) dns_.processNextRequest();
  server_.handleClient();
  report();
}

void CaptivePortal::report() {
  // Clients that were closed: one line at once, then at most one a minute.
  const std::uint32_t now = millis();
  if (reported_ && now - last_report_ms_ < kReportEveryMs) return;
  const BoundedWebServer::Counts counts = server_.takeCounts();
  if (counts.expired == 0 && counts.refused == 0 && counts.bad == 0) return;
  logger_.log(fleet::LogLevel::kWarn,
              "portal: closed " + std::to_string(counts.expired) +
                  " connection(s) that sent no whole request within " +
                  std::to_string(fleet::kPortalRequestDeadlineMs / 1000) + " s, refused " +
                  std::to_string(counts.refused) + " over the share of an address, " +
                  std::to_string(counts.bad) + " too large or malformed");
  reported_ = true;
  last_report_ms_ = now;
}

void CaptivePortal::handleRequest() {
  fleet::PortalRequest request;
  request.method = methodName(server_.method());
  request.path = server_.uri().c_str();
  if (server_.hasArg("student_id")) {
    request.student_id = std::string(server_.arg("student_id").c_str());
  }
  request.station_mac = stationMacOf(server_.client().remoteIP());
  request.station = request.station_mac;  // the radio knows a station by its MAC
  const fleet::PortalResponse response = fleet::handlePortal(request, backend_, home_url_);
  server_.sendHeader("Cache-Control", "no-store");
  if (!response.location.empty()) server_.sendHeader("Location", response.location.c_str());
  server_.send(response.status, response.content_type.c_str(), response.body.c_str());
}

}  // namespace glue
