#include "curl_downloader.h"

#include <curl/curl.h>

#include <algorithm>
#include <cstring>

namespace host {
namespace {

constexpr std::size_t kMaxPending = 1u << 20;  // then the transfer pauses
constexpr long kConnectTimeoutS = 10;
constexpr long kLowSpeedTimeS = 30;  // less than 1 byte/s for this long: broken

CURLM* multi(void* p) { return static_cast<CURLM*>(p); }
CURL* easy(void* p) { return static_cast<CURL*>(p); }

}  // namespace

CurlDownloader::CurlDownloader(fleet::Logger& logger) : logger_(logger) {
  curl_global_init(CURL_GLOBAL_DEFAULT);
  multi_ = curl_multi_init();
}

CurlDownloader::~CurlDownloader() {
  stop();
  curl_multi_cleanup(multi(multi_));
  curl_global_cleanup();
}

bool CurlDownloader::start(const std::string& url, std::uint32_t offset) {
  stop();
  easy_ = curl_easy_init();
  if (easy_ == nullptr || multi_ == nullptr) return false;
  CURL* e = easy(easy_);
  curl_easy_setopt(e, CURLOPT_URL, url.c_str());
  curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(e, CURLOPT_FAILONERROR, 1L);
  curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT, kConnectTimeoutS);
  curl_easy_setopt(e, CURLOPT_LOW_SPEED_LIMIT, 1L);
  curl_easy_setopt(e, CURLOPT_LOW_SPEED_TIME, kLowSpeedTimeS);
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, &CurlDownloader::onData);
  curl_easy_setopt(e, CURLOPT_WRITEDATA, this);
  if (offset > 0) {
    const std::string range = std::to_string(offset) + "-";
    curl_easy_setopt(e, CURLOPT_RANGE, range.c_str());  // copied by libcurl
  }
  offset_ = offset;
  skip_ = 0;
  checked_status_ = false;
  paused_ = false;
  ended_ = false;
  failed_ = false;
  pending_.clear();
  return curl_multi_add_handle(multi(multi_), e) == CURLM_OK;
}

std::size_t CurlDownloader::onData(char* data, std::size_t size, std::size_t count, void* self) {
  return static_cast<CurlDownloader*>(self)->take(data, size * count);
}

std::size_t CurlDownloader::take(const char* data, std::size_t len) {
  if (!checked_status_) {
    checked_status_ = true;
    long status = 0;
    curl_easy_getinfo(easy(easy_), CURLINFO_RESPONSE_CODE, &status);
    if (offset_ > 0 && status == 200) {
      logger_.log(fleet::LogLevel::kWarn, "the server ignored Range: skipping what we have");
      skip_ = offset_;
    }
  }
  if (pending_.size() >= kMaxPending) {
    paused_ = true;
    return CURL_WRITEFUNC_PAUSE;
  }
  const std::size_t skipped = static_cast<std::size_t>(std::min<std::uint64_t>(skip_, len));
  skip_ -= skipped;
  pending_.append(data + skipped, len - skipped);
  return len;
}

fleet::DownloadStep CurlDownloader::poll(std::uint8_t* buf, std::size_t cap, std::size_t& got) {
  got = 0;
  if (easy_ != nullptr && !ended_) {
    if (paused_ && pending_.size() < kMaxPending / 2) {
      paused_ = false;
      curl_easy_pause(easy(easy_), CURLPAUSE_CONT);
    }
    int running = 0;
    curl_multi_perform(multi(multi_), &running);
    int left = 0;
    while (CURLMsg* msg = curl_multi_info_read(multi(multi_), &left)) {
      if (msg->msg != CURLMSG_DONE) continue;
      ended_ = true;
      if (msg->data.result != CURLE_OK) {
        failed_ = true;
        logger_.log(fleet::LogLevel::kWarn,
                    std::string("download: ") + curl_easy_strerror(msg->data.result));
      }
    }
  }
  got = std::min(cap, pending_.size());
  std::memcpy(buf, pending_.data(), got);
  pending_.erase(0, got);
  if (easy_ == nullptr) return fleet::DownloadStep::kFailed;
  if (!ended_ || !pending_.empty()) return fleet::DownloadStep::kBusy;
  return failed_ ? fleet::DownloadStep::kFailed : fleet::DownloadStep::kDone;
}

void CurlDownloader::stop() {
  if (easy_ != nullptr) {
    curl_multi_remove_handle(multi(multi_), easy(easy_));
    curl_easy_cleanup(easy(easy_));
  }
  easy_ = nullptr;
  pending_.clear();
}

}  // namespace host
