#include <gtest/gtest.h>

#include <string>

#include "fleet_core/http_framing.h"
#include "fleet_core/portal_limits.h"

namespace {

using fleet::HttpFraming;

fleet::HttpFrame frame(const std::string& bytes, std::size_t max = fleet::kPortalMaxRequestBytes) {
  return fleet::frameHttpRequest(bytes.data(), bytes.size(), max);
}

const std::string kGet =
    "GET / HTTP/1.1\r\nHost: 192.168.4.1\r\nUser-Agent: Mozilla/5.0\r\nAccept: */*\r\n\r\n";
const std::string kPost =
    "POST /checkin HTTP/1.1\r\nHost: 192.168.4.1\r\n"
    "Content-Type: application/x-www-form-urlencoded\r\ncontent-LENGTH:  23 \r\n\r\n"
    "student_id=U2021%2F0042";

}  // namespace

TEST(HttpFraming, AGetIsCompleteAtTheBlankLine) {
  const auto result = frame(kGet);
  EXPECT_EQ(result.state, HttpFraming::kComplete);
  EXPECT_EQ(result.length, kGet.size());
}

TEST(HttpFraming, APostIsCompleteWithItsWholeBody) {
  for (std::size_t cut = 0; cut < kPost.size(); ++cut) {
    EXPECT_EQ(frame(kPost.substr(0, cut)).state, HttpFraming::kIncomplete) << "cut at " << cut;
  }
  const auto result = frame(kPost);
  EXPECT_EQ(result.state, HttpFraming::kComplete);
  EXPECT_EQ(result.length, kPost.size());
}

TEST(HttpFraming, BytesAfterTheRequestAreNotPartOfIt) {
  const auto result = frame(kPost + kGet);
  EXPECT_EQ(result.state, HttpFraming::kComplete);
  EXPECT_EQ(result.length, kPost.size());
}

TEST(HttpFraming, HeadersThatNeverEndAreTooLarge) {
  std::string trickle = "GET / HTTP/1.1\r\nX-a: ";
  trickle.append(fleet::kPortalMaxRequestBytes, 'a');
  EXPECT_EQ(frame(trickle).state, HttpFraming::kTooLarge);
  EXPECT_EQ(frame(trickle.substr(0, 100)).state, HttpFraming::kIncomplete);
}

TEST(HttpFraming, ABodyPastTheLimitIsRefusedBeforeItArrives) {
  const std::string head = "POST /checkin HTTP/1.1\r\nContent-Length: 100000000000000000000000\r\n\r\n";
  EXPECT_EQ(frame(head).state, HttpFraming::kTooLarge);
  const std::string fits = "POST / HTTP/1.1\r\nContent-Length: 10\r\n\r\n";
  EXPECT_EQ(frame(fits, fits.size() + 10).state, HttpFraming::kIncomplete);
  EXPECT_EQ(frame(fits, fits.size() + 9).state, HttpFraming::kTooLarge);
}

TEST(HttpFraming, AmbiguousBodiesAreMalformed) {
  EXPECT_EQ(frame("POST / HTTP/1.1\r\nContent-Length: 1x\r\n\r\n").state, HttpFraming::kMalformed);
  EXPECT_EQ(frame("POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n").state, HttpFraming::kMalformed);
  EXPECT_EQ(frame("POST / HTTP/1.1\r\nContent-Length:\r\n\r\n").state, HttpFraming::kMalformed);
  EXPECT_EQ(frame("POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab").state,
            HttpFraming::kMalformed);
  EXPECT_EQ(frame("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n").state,
            HttpFraming::kMalformed);
  EXPECT_EQ(frame("POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\na").state,
            HttpFraming::kComplete);
}

TEST(HttpFraming, OnlyTheLimitIsSearched) {
  // A blank line past max_bytes does not make the request complete.
  std::string late = "GET / HTTP/1.1\r\nX-a: " + std::string(100, 'a') + "\r\n\r\n";
  EXPECT_EQ(frame(late, 50).state, HttpFraming::kTooLarge);
  EXPECT_EQ(frame(late, late.size()).state, HttpFraming::kComplete);
}
