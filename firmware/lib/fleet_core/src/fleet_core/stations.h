// Slot recycling (issue 13): the phones associated with the access point, each in one state, and
// when each is released so that its slot frees for the next student. An access point holds
// kApMaxConnections phones at once; a lecture has hundreds, so a phone that is done (checked in,
// or already checked in) is released after a short grace, and one that asks the portal nothing
// for kStationIdleMs is dropped. Pure and millis-based: the glue reports associations, the
// portal reports requests, and whatever expire() returns the glue disconnects (the ESP32 with
// esp_wifi_deauth_sta, the host port by forgetting the address).
//
//   associated --portal request--> portal --check-in stored, page served--> checked in
//        |                            |                                         |
//        +------ idle limit ----------+---------> released <----- grace -------+
//
// A phone already checked in this session that associates again starts in "checked in": the
// portal shows it the "already checked in" page and it is released after the same grace.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "fleet_core/limits.h"
#include "fleet_core/seen_students.h"

namespace fleet {

// From the confirmation page to the disconnect: long enough for the page (under 4 KB) to reach a
// phone on a busy access point, short enough that ten slots turn over every few seconds.
constexpr std::uint32_t kReleaseGraceMs = 3000;
// Associated without a portal request this long: dropped. A student types an id in 10 to 30 s;
// a phone that joined the open network by itself and never opens the portal holds a slot no longer.
constexpr std::uint32_t kStationIdleMs = 60000;
// The ESP32 radio's own inactivity limit (esp_wifi_set_inactive_time, seconds, IDF minimum 10,
// default 300): a phone that left the room and sends nothing at all is dropped by the driver.
constexpr std::uint16_t kRadioInactiveS = 60;
// Phones remembered per session as done (hashes, 8 bytes each), as many as students.
constexpr std::size_t kMaxDonePhones = kMaxSeenStudents;

static_assert(kReleaseGraceMs >= 1000 && kReleaseGraceMs <= 10000,
              "the page must get out, and the slot must turn over within seconds");
static_assert(kStationIdleMs >= 30000, "a student needs time to type an id");
static_assert(kRadioInactiveS >= 10, "ESP-IDF refuses an AP inactive time under 10 s");
static_assert(kRadioInactiveS * 1000u >= kStationIdleMs, "the core's idle limit decides first");

enum class StationState : std::uint8_t {
  kAssociated,  // joined, no portal request yet
  kPortal,      // asked the portal something
  kCheckedIn,   // done: released once the grace has passed
};

enum class StationJoin {
  kJoined,   // a new station
  kAlready,  // associated before
  kRefused,  // the table is full: counted and turned away (Device::joinStation)
};

// Slot use of the current session (since the session started on this boot).
struct StationStats {
  std::uint32_t now = 0;              // associated at this moment
  std::uint32_t peak = 0;             // most associated at once
  std::uint32_t refused = 0;          // associations refused because all slots were taken
  std::uint32_t checkins_served = 0;  // check-ins stored and confirmed to a phone
};

class StationTable {
 public:
  // `recycle` false: stations are never released by the device (they leave when they walk
  // away), as before issue 13.
  explicit StationTable(bool recycle = true, std::size_t capacity = kApMaxConnections);

  // A new session: phones known as done are forgotten and the counters start over; stations
  // associated now stay.
  void reset();
  // `station`: the access point's name for the phone (its MAC on the ESP32, its address on the
  // host). A known done phone starts in kCheckedIn.
  StationJoin join(const std::string& station, std::uint32_t now_ms);
  // The phone left (or was disconnected).
  void leave(const std::string& station);
  // A portal request: restarts the idle limit. A station the table has not seen joins here (the
  // radio admitted it; an event was missed) when there is room. True when the phone is done.
  bool request(const std::string& station, std::uint32_t now_ms);
  // The portal served `station` a check-in: `stored` a new one, else "already checked in". The
  // phone is done: released after the grace.
  void checkedIn(const std::string& station, bool stored, std::uint32_t now_ms);
  // The stations to release now; they are no longer in the table.
  std::vector<std::string> expire(std::uint32_t now_ms);

  bool recycles() const { return recycle_; }
  bool associated(const std::string& station) const;
  StationState state(const std::string& station) const;  // kAssociated when not associated
  StationStats stats() const;

 private:
  struct Station {
    std::string key;
    StationState state = StationState::kAssociated;
    std::uint32_t since_ms = 0;  // last request (idle limit), or when it was done (grace)
  };

  Station* find(const std::string& station);
  const Station* find(const std::string& station) const;
  void add(const std::string& station, std::uint32_t now_ms);

  bool recycle_;
  std::size_t capacity_;
  std::vector<Station> stations_;
  SeenStudents done_phones_{kMaxDonePhones};  // the same bounded hash set, keyed by station
  StationStats stats_;
};

}  // namespace fleet
