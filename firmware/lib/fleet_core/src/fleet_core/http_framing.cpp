#include "fleet_core/http_framing.h"

#include <cctype>
#include <cstring>
#include <optional>
#include <string>

namespace fleet {
namespace {

constexpr char kEndOfHeaders[] = "\r\n\r\n";
constexpr std::size_t kEndOfHeadersLen = 4;

// Offset just past CRLF CRLF within the first `size` bytes, or nothing.
std::optional<std::size_t> endOfHeaders(const char* data, std::size_t size) {
  for (std::size_t i = 0; i + kEndOfHeadersLen <= size; ++i) {
    if (std::memcmp(data + i, kEndOfHeaders, kEndOfHeadersLen) == 0) return i + kEndOfHeadersLen;
  }
  return std::nullopt;
}

bool namedAs(const std::string& line, std::size_t colon, const char* name) {
  if (colon != std::strlen(name)) return false;
  for (std::size_t i = 0; i < colon; ++i) {
    if (std::tolower(static_cast<unsigned char>(line[i])) != name[i]) return false;
  }
  return true;
}

std::string trimmed(const std::string& text) {
  const std::size_t first = text.find_first_not_of(" \t");
  if (first == std::string::npos) return std::string();
  return text.substr(first, text.find_last_not_of(" \t") - first + 1);
}

// Decimal digits only, capped: anything past `cap` is reported as `cap + 1`.
std::optional<std::size_t> contentLength(const std::string& value, std::size_t cap) {
  if (value.empty()) return std::nullopt;
  std::size_t n = 0;
  for (const char c : value) {
    if (c < '0' || c > '9') return std::nullopt;
    n = n * 10 + static_cast<std::size_t>(c - '0');
    if (n > cap) n = cap + 1;
  }
  return n;
}

}  // namespace

HttpFrame frameHttpRequest(const char* data, std::size_t size, std::size_t max_bytes) {
  const std::optional<std::size_t> head_end =
      endOfHeaders(data, size < max_bytes ? size : max_bytes);
  if (!head_end) {
    return {size >= max_bytes ? HttpFraming::kTooLarge : HttpFraming::kIncomplete, 0};
  }
  const std::string head(data, *head_end);
  std::optional<std::size_t> body;
  std::size_t line_start = 0;
  while (line_start < head.size() - 2) {  // up to the blank line
    const std::size_t line_end = head.find("\r\n", line_start);
    const std::string line = head.substr(line_start, line_end - line_start);
    line_start = line_end + 2;
    const std::size_t colon = line.find(':');
    if (colon == std::string::npos) continue;  // the request line; a bad header is the parser's
    if (namedAs(line, colon, "transfer-encoding")) return {HttpFraming::kMalformed, 0};
    if (!namedAs(line, colon, "content-length")) continue;
    const std::optional<std::size_t> n = contentLength(trimmed(line.substr(colon + 1)), max_bytes);
    if (!n || (body && *body != *n)) return {HttpFraming::kMalformed, 0};
    body = n;
  }
  const std::size_t total = *head_end + body.value_or(0);
  if (total > max_bytes) return {HttpFraming::kTooLarge, 0};
  if (size < total) return {HttpFraming::kIncomplete, 0};
  return {HttpFraming::kComplete, total};
}

}  // namespace fleet
