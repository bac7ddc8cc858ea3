// Where one HTTP/1.x request ends in the bytes received so far: the request line and headers up
// to the blank line (CRLF CRLF), then Content-Length bytes of body. For a server that reads only
// what has arrived, never waiting, and parses a request once all of it is there (the ESP32
// portal: its WebServer would otherwise block loop() inside the parser while a client trickles).
#pragma once

#include <cstddef>

namespace fleet {

enum class HttpFraming {
  kIncomplete,  // more bytes may complete it
  kComplete,    // `length` bytes are one whole request
  kTooLarge,    // the request (headers and body) cannot fit `max_bytes`
  kMalformed,   // a Content-Length that is not a number, two that differ, or Transfer-Encoding
};

struct HttpFrame {
  HttpFraming state = HttpFraming::kIncomplete;
  std::size_t length = 0;  // of the whole request, when complete
};

// `data`: the first `size` bytes received on a connection. A body is taken only with a
// Content-Length (chunked transfer coding is refused: no browser posts a form with it).
HttpFrame frameHttpRequest(const char* data, std::size_t size, std::size_t max_bytes);

}  // namespace fleet
