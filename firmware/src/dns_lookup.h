// A host-name lookup that never blocks loop().
//
// arduino-esp32's WiFi.hostByName(), which WiFiClient::connect(host, port) and WiFiClientSecure
// call, waits up to 15 s for a DNS server that does not answer, with loop() (the captive portal)
// stopped. Here lwIP's resolver does the work in its own tcpip thread: start() hands it the name
// and returns, poll() reports the answer once it has come, and after fleet::kDnsLookupTimeoutMs
// a missing answer counts as a failure. lwIP caches answers, so a name looked up again within its
// TTL resolves at once.
//
// One lookup at a time, of one name that does not change while the firmware runs: an answer that
// comes for an abandoned lookup is an answer for the same name, as good as the awaited one. The
// object must outlive every lookup it started (the MQTT link's lives as long as the firmware).
#pragma once

#include <IPAddress.h>

#include <atomic>
#include <cstdint>
#include <string>

namespace glue {

class DnsLookup {
 public:
  enum class State : int { kIdle, kPending, kResolved, kFailed };

  // Starts resolving `host` to an IPv4 address; an address literal resolves at once.
  void start(const std::string& host, std::uint32_t now_ms);
  // The state at now_ms: kFailed once the answer is overdue.
  State poll(std::uint32_t now_ms);
  // The answer, once poll() said kResolved.
  IPAddress address() const;

 private:
  struct Resolver;  // the lwIP side, in dns_lookup.cpp
  friend struct Resolver;

  void finish(bool found, std::uint32_t ipv4);

  std::string host_;
  std::uint32_t deadline_ms_ = 0;
  // Written by lwIP's thread, read by loop(): ipv4_ before state_ (release/acquire).
  std::atomic<int> state_{static_cast<int>(State::kIdle)};
  std::atomic<std::uint32_t> ipv4_{0};
};

}  // namespace glue
