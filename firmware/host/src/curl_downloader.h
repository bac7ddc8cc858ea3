// fleet::Downloader over libcurl's multi interface: poll() moves the transfer on without
// blocking (the loop also serves MQTT and the portal). A resumed download asks for
// `Range: bytes=N-`; a server that answers 200 with the whole body has its first N bytes
// skipped. What arrives waits in a bounded buffer; past it the transfer is paused.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "fleet_core/ports.h"

namespace host {

class CurlDownloader : public fleet::Downloader {
 public:
  explicit CurlDownloader(fleet::Logger& logger);
  ~CurlDownloader() override;
  CurlDownloader(const CurlDownloader&) = delete;
  CurlDownloader& operator=(const CurlDownloader&) = delete;

  bool start(const std::string& url, std::uint32_t offset) override;
  fleet::DownloadStep poll(std::uint8_t* buf, std::size_t cap, std::size_t& got) override;
  void stop() override;

 private:
  static std::size_t onData(char* data, std::size_t size, std::size_t count, void* self);
  std::size_t take(const char* data, std::size_t len);

  fleet::Logger& logger_;
  void* multi_ = nullptr;
  void* easy_ = nullptr;
  std::string pending_;          // received, not yet handed out
  std::uint64_t skip_ = 0;       // bytes before the offset a 200 answer repeats
  std::uint32_t offset_ = 0;
  bool checked_status_ = false;
  bool paused_ = false;
  bool ended_ = false;
  bool failed_ = false;
};

}  // namespace host
