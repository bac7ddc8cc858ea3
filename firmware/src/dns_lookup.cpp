#include "dns_lookup.h"

#include <esp_netif.h>
#include <lwip/dns.h>
#include <lwip/ip_addr.h>

#include <fleet_core/connect_policy.h>

namespace glue {

// lwIP's DNS API may only be called in the tcpip thread; esp_netif_tcpip_exec() runs start there
// (and waits for it, which takes no longer than queueing the query). found() runs there too.
struct DnsLookup::Resolver {
  static esp_err_t start(void* ctx) {
    auto* self = static_cast<DnsLookup*>(ctx);
    ip_addr_t addr = {};
    const err_t err = dns_gethostbyname_addrtype(self->host_.c_str(), &addr, &Resolver::found,
                                                 self, LWIP_DNS_ADDRTYPE_IPV4);
    if (err == ERR_OK) {
      self->finish(IP_IS_V4(&addr), ip_2_ip4(&addr)->addr);  // cached
    } else if (err != ERR_INPROGRESS) {
      self->finish(false, 0);  // no DNS server, name too long, request table full
    }
    return ESP_OK;
  }

  // Called exactly once per query that returned ERR_INPROGRESS: with the address, or with
  // nullptr when every server failed or timed out.
  static void found(const char* /*name*/, const ip_addr_t* addr, void* ctx) {
    auto* self = static_cast<DnsLookup*>(ctx);
    if (addr != nullptr && IP_IS_V4(addr)) {
      self->finish(true, ip_2_ip4(addr)->addr);
    } else {
      self->finish(false, 0);
    }
  }
};

void DnsLookup::start(const std::string& host, std::uint32_t now_ms) {
  host_ = host;
  deadline_ms_ = now_ms + fleet::kDnsLookupTimeoutMs;
  IPAddress literal;
  if (literal.fromString(host_.c_str())) {
    finish(true, static_cast<std::uint32_t>(literal));
    return;
  }
  state_.store(static_cast<int>(State::kPending), std::memory_order_release);
  if (esp_netif_tcpip_exec(&Resolver::start, this) != ESP_OK) finish(false, 0);
}

DnsLookup::State DnsLookup::poll(std::uint32_t now_ms) {
  int state = state_.load(std::memory_order_acquire);
  if (state == static_cast<int>(State::kPending) &&
      static_cast<std::int32_t>(now_ms - deadline_ms_) >= 0) {
    // Overdue. An answer that slips in meanwhile wins; a later one is harmless (same name).
    state_.compare_exchange_strong(state, static_cast<int>(State::kFailed),
                                   std::memory_order_acq_rel);
    state = state_.load(std::memory_order_acquire);
  }
  return static_cast<State>(state);
}

IPAddress DnsLookup::address() const {
  return IPAddress(ipv4_.load(std::memory_order_relaxed));
}

void DnsLookup::finish(bool found, std::uint32_t ipv4) {
  if (found) ipv4_.store(ipv4, std::memory_order_relaxed);
  state_.store(static_cast<int>(found ? State::kResolved : State::kFailed),
               std::memory_order_release);
}

}  // namespace glue
