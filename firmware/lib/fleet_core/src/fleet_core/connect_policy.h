// How long one attempt to reach the broker may hold loop(), and when the link tries again.
//
// On the ESP32 everything the device does for students runs in loop(): the captive portal's HTTP
// and DNS answers and the serial console. A connect cannot return early: PubSubClient::connect()
// runs the TCP connect, for mqtts:// the TLS handshake, and the wait for CONNACK back to back (see
// src/mqtt_link.h; the DNS lookup before it does not block). The limits below bound each step,
// kMaxConnectStallMs bounds their sum, and ReconnectSchedule never starts the next attempt sooner
// than the last one blocked, so while the broker is unreachable the portal runs at least half of
// the time, and most of it once the backoff has grown.
#pragma once

#include <cstddef>
#include <cstdint>

#include "fleet_core/backoff.h"
#include "fleet_core/ports.h"

namespace fleet {

// The libraries take these in whole seconds (arduino-esp32 2.0.17: WiFiClient::setTimeout,
// WiFiClientSecure::setTimeout and setHandshakeTimeout; PubSubClient 2.8: setSocketTimeout).
struct ConnectTimeouts {
  std::uint32_t tcp_connect_s;    // the TCP connect (select() on the connecting socket)
  std::uint32_t tls_handshake_s;  // mqtts:// only
  std::uint32_t socket_s;         // PubSubClient: the CONNACK wait
};

// TCP connect 2 s: a broker on the campus network answers in milliseconds (the defaults are 3 s
// for WiFiClient and 30 s for WiFiClientSecure). TLS handshake 5 s (default 120 s): room for the
// ESP32's slow public-key arithmetic on top of a few round trips. CONNACK 2 s (default 15 s).
constexpr ConnectTimeouts kConnectTimeouts{2, 5, 2};
// WiFiClientSecure checks the handshake deadline between mbedTLS steps, so one step's own
// computation (key exchange, certificate check) can run past it: budgeted here.
constexpr std::uint32_t kTlsStepOverrunMs = 1000;
// The link waits this long for the (non-blocking) DNS answer before it counts the attempt as
// failed; arduino-esp32's hostByName() blocks up to 15 s for the same answer.
constexpr std::uint32_t kDnsLookupTimeoutMs = 15000;
// Reconnect backoff: 1 s doubling to 60 s, each delay uniform in [d/2, d] (Backoff).
constexpr std::uint32_t kReconnectBaseMs = 1000;
constexpr std::uint32_t kReconnectMaxMs = 60000;
// The longest one connect attempt may hold loop(). A student who submits the portal form during
// an attempt gets the page at most this much later (lwIP queues the request meanwhile; a browser
// waits far longer), instead of after the 30 s per attempt of WiFiClientSecure's defaults.
constexpr std::uint32_t kMaxConnectStallMs = 10000;

constexpr std::uint32_t secondsToMs(std::uint32_t seconds) {
  return seconds * 1000u;
}

// The longest one attempt can block: every step runs to its limit and fails only at the end.
constexpr std::uint32_t connectStallBoundMs(const ConnectTimeouts& t, bool tls) {
  return secondsToMs(t.tcp_connect_s) +
         (tls ? secondsToMs(t.tls_handshake_s) + kTlsStepOverrunMs : 0) +
         secondsToMs(t.socket_s);
}

static_assert(kConnectTimeouts.tcp_connect_s > 0 && kConnectTimeouts.tls_handshake_s > 0 &&
                  kConnectTimeouts.socket_s > 0,
              "0 means 'library default' (30 s, 120 s) or 'no wait' to these libraries");
static_assert(kConnectTimeouts.socket_s <= 0xFFFFu, "setSocketTimeout() takes a uint16_t");
static_assert(connectStallBoundMs(kConnectTimeouts, /*tls=*/true) <= kMaxConnectStallMs,
              "an mqtts:// connect attempt must not hold loop() longer than kMaxConnectStallMs");
static_assert(kReconnectBaseMs / 2 > 0, "the shortest backoff delay is base/2");
static_assert(kReconnectMaxMs / 2 >= 3 * kMaxConnectStallMs,
              "at the backoff ceiling the portal must run at least three quarters of the time");

// When the link may next try the broker: the backoff's delay, but never sooner after a failed
// attempt than that attempt held loop(). A refusal that came back at once retries on the plain
// backoff schedule; an attempt that ran into its timeouts is followed by at least as much time
// in which loop() runs.
class ReconnectSchedule {
 public:
  explicit ReconnectSchedule(RandomSource& random, std::uint32_t base_ms = kReconnectBaseMs,
                             std::uint32_t max_ms = kReconnectMaxMs);

  // Whether an attempt may start at now_ms: always before the first failure and after a
  // success, else once the delay has passed (wraps with millis()).
  bool due(std::uint32_t now_ms) const;
  // An attempt, or a connection that was up, ended at now_ms after blocking loop() for
  // blocked_ms (0 for a lost connection or a failed DNS lookup). Returns the delay chosen.
  std::uint32_t failed(std::uint32_t now_ms, std::uint32_t blocked_ms);
  // Connected: the next failure starts again from the base delay.
  void succeeded() {
    backoff_.reset();
    waiting_ = false;
  }

 private:
  Backoff backoff_;
  std::uint32_t next_ms_ = 0;
  bool waiting_ = false;  // a failure set next_ms_
};

// Which broker of a list (a cluster's nodes) the next attempt goes to: the same one while it
// works, the next one after every failed attempt or lost connection, so a dead node costs one
// backoff delay, not an outage. The first attempt goes to entry `start` (a device can start on
// another node than its neighbours).
class BrokerRotation {
 public:
  explicit BrokerRotation(std::size_t count, std::size_t start = 0)
      : count_(count == 0 ? 1 : count), at_(start % count_) {}
  std::size_t current() const { return at_; }
  // The attempt or the connection on current() failed: move on.
  void failed() { at_ = (at_ + 1) % count_; }

 private:
  std::size_t count_;
  std::size_t at_;
};

}  // namespace fleet
