// fleet::Downloader over HTTPClient in a FreeRTOS task of its own: the connect, the headers and
// the reads wait there, never in loop(). Bytes reach loop() through a stream buffer that poll()
// empties without waiting; the task waits while it is full. A resumed download sends
// `Range: bytes=N-`; a server that answers 200 with the whole body has its first N bytes skipped.
// https:// URLs are fetched with the broker's CA pinned when one is provisioned, else without a
// certificate check: what makes an image trusted is its signature, checked before the switch.
// stop() never waits: the task sees the flag and ends on its own, with its own state.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include <fleet_core/ports.h>

namespace glue {

struct Transfer;

class HttpDownload : public fleet::Downloader {
 public:
  // `ca_pem`: the broker's CA (from `set ca_cert`), "" for none.
  HttpDownload(std::string ca_pem, fleet::Logger& logger);
  ~HttpDownload() override;

  bool start(const std::string& url, std::uint32_t offset) override;
  fleet::DownloadStep poll(std::uint8_t* buf, std::size_t cap, std::size_t& got) override;
  void stop() override;

 private:
  std::string ca_pem_;
  fleet::Logger& logger_;
  std::shared_ptr<Transfer> current_;
};

}  // namespace glue
