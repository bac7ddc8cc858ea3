#include "http_download.h"

#include <HTTPClient.h>
#include <WiFiClient.h>
#include <WiFiClientSecure.h>
#include <freertos/FreeRTOS.h>
#include <freertos/stream_buffer.h>
#include <freertos/task.h>

#include <algorithm>
#include <atomic>

namespace glue {
namespace {

constexpr std::size_t kBufferBytes = 8192;    // between the task and loop()
constexpr std::uint32_t kTaskStack = 12288;   // TLS handshakes run here
constexpr UBaseType_t kTaskPriority = 1;      // below the Wi-Fi and lwIP tasks
constexpr std::int32_t kConnectMs = 5000;
constexpr std::uint16_t kReadTimeoutMs = 10000;
constexpr std::uint32_t kStallMs = 30000;     // no byte for this long: broken
constexpr std::size_t kReadBytes = 1024;

enum Outcome : int { kRunning = 0, kEnded = 1, kBroken = 2 };

}  // namespace

// One transfer, shared by the task and the downloader until both let go of it.
struct Transfer {
  std::string url;
  std::uint32_t offset = 0;
  std::string ca_pem;
  StreamBufferHandle_t buffer = nullptr;
  std::atomic<bool> stop{false};
  std::atomic<int> outcome{kRunning};
  ~Transfer() {
    if (buffer != nullptr) vStreamBufferDelete(buffer);
  }
};

namespace {

// Hands `len` bytes to loop(), waiting while the buffer is full; false when stopped.
bool hand(Transfer& t, const std::uint8_t* data, std::size_t len) {
  std::size_t sent = 0;
  while (sent < len) {
    if (t.stop.load()) return false;
    sent += xStreamBufferSend(t.buffer, data + sent, len - sent, pdMS_TO_TICKS(100));
  }
  return true;
}

// The body after the headers: true when all of it (or, without a length, all until the server
// closed) reached the buffer.
bool pump(Transfer& t, WiFiClient& stream, int size, std::uint32_t skip) {
  std::uint8_t chunk[kReadBytes];
  long remaining = size;  // -1: unknown (chunked or no Content-Length)
  std::uint32_t last_byte_ms = millis();
  while (!t.stop.load() && remaining != 0) {
    const int available = stream.available();
    if (available <= 0) {
      if (!stream.connected()) return remaining < 0;
      if (millis() - last_byte_ms > kStallMs) return false;
      vTaskDelay(pdMS_TO_TICKS(10));
      continue;
    }
    const int n = stream.read(chunk, std::min<std::size_t>(kReadBytes, available));
    if (n <= 0) continue;
    last_byte_ms = millis();
    if (remaining > 0) remaining -= n;
    const std::uint32_t dropped = std::min<std::uint32_t>(skip, static_cast<std::uint32_t>(n));
    skip -= dropped;
    if (!hand(t, chunk + dropped, static_cast<std::size_t>(n) - dropped)) return false;
  }
  return remaining == 0;
}

bool fetch(Transfer& t) {
  WiFiClient plain;
  WiFiClientSecure secure;
  const bool https = t.url.rfind("https://", 0) == 0;
  if (https) {
    if (t.ca_pem.empty()) {
      secure.setInsecure();  // the signature, not TLS, makes the image trusted
    } else {
      secure.setCACert(t.ca_pem.c_str());
    }
  }
  HTTPClient http;
  http.setConnectTimeout(kConnectMs);
  http.setTimeout(kReadTimeoutMs);
  WiFiClient& client = https ? static_cast<WiFiClient&>(secure) : plain;
  if (!http.begin(client, String(t.url.c_str()))) return false;
  if (t.offset > 0) http.addHeader("Range", String("bytes=") + String(t.offset) + "-");
  const int code = http.GET();
  bool ok = false;
  if (code == HTTP_CODE_OK || code == HTTP_CODE_PARTIAL_CONTENT) {
    // 200 to a Range request: the whole body again, the part we have skipped.
    const std::uint32_t skip = code == HTTP_CODE_OK ? t.offset : 0;
    WiFiClient* stream = http.getStreamPtr();
    ok = stream != nullptr && pump(t, *stream, http.getSize(), skip);
  }
  http.end();
  return ok;
}

void runTransfer(void* arg) {
  auto* handed = static_cast<std::shared_ptr<Transfer>*>(arg);
  std::shared_ptr<Transfer> transfer = std::move(*handed);
  delete handed;
  const bool ok = fetch(*transfer);
  transfer->outcome.store(ok ? kEnded : kBroken);
  transfer.reset();
  vTaskDelete(nullptr);
}

}  // namespace

HttpDownload::HttpDownload(std::string ca_pem, fleet::Logger& logger)
    : ca_pem_(std::move(ca_pem)), logger_(logger) {}

HttpDownload::~HttpDownload() {
  stop();
}

bool HttpDownload::start(const std::string& url, std::uint32_t offset) {
  stop();
  auto transfer = std::make_shared<Transfer>();
  transfer->url = url;
  transfer->offset = offset;
  transfer->ca_pem = ca_pem_;
  transfer->buffer = xStreamBufferCreate(kBufferBytes, 1);
  if (transfer->buffer == nullptr) return false;
  auto* handed = new std::shared_ptr<Transfer>(transfer);
  if (xTaskCreate(runTransfer, "fleet-dl", kTaskStack, handed, kTaskPriority, nullptr) != pdPASS) {
    delete handed;
    logger_.log(fleet::LogLevel::kError, "no memory for the download task");
    return false;
  }
  current_ = std::move(transfer);
  return true;
}

fleet::DownloadStep HttpDownload::poll(std::uint8_t* buf, std::size_t cap, std::size_t& got) {
  got = 0;
  if (!current_) return fleet::DownloadStep::kFailed;
  // The outcome first: once it is set, every byte of the transfer is in the buffer.
  const int outcome = current_->outcome.load();
  got = xStreamBufferReceive(current_->buffer, buf, cap, 0);
  if (outcome == kRunning || xStreamBufferIsEmpty(current_->buffer) != pdTRUE) {
    return fleet::DownloadStep::kBusy;
  }
  return outcome == kEnded ? fleet::DownloadStep::kDone : fleet::DownloadStep::kFailed;
}

void HttpDownload::stop() {
  if (current_) current_->stop.store(true);
  current_.reset();
}

}  // namespace glue
