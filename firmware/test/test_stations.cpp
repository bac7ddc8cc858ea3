// Slot recycling: the station table alone, and over a Device with the portal (issue 13).
#include <gtest/gtest.h>

#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "fakes.h"
#include "fleet_core/device.h"
#include "fleet_core/portal.h"
#include "fleet_core/stations.h"
#include "samples.h"

using fleet::StationJoin;
using fleet::StationState;
using fleet::StationTable;

namespace {

std::string phone(int n) {
  char mac[18];
  std::snprintf(mac, sizeof mac, "02:00:00:00:00:%02x", n);
  return mac;
}

using Keys = std::vector<std::string>;

}  // namespace

TEST(Stations, TenJoinTheEleventhIsRefusedAndCounted) {
  StationTable table;
  for (int i = 0; i < 10; ++i) EXPECT_EQ(table.join(phone(i), 0), StationJoin::kJoined);
  EXPECT_EQ(table.join(phone(3), 0), StationJoin::kAlready);
  EXPECT_EQ(table.join(phone(10), 0), StationJoin::kRefused);
  EXPECT_EQ(table.join(phone(11), 0), StationJoin::kRefused);
  const fleet::StationStats stats = table.stats();
  EXPECT_EQ(stats.now, 10u);
  EXPECT_EQ(stats.peak, 10u);
  EXPECT_EQ(stats.refused, 2u);
  table.leave(phone(0));
  EXPECT_EQ(table.join(phone(10), 0), StationJoin::kJoined);
}

TEST(Stations, ACheckedInPhoneIsReleasedAfterTheGrace) {
  StationTable table;
  table.join(phone(1), 1000);
  EXPECT_FALSE(table.request(phone(1), 2000));
  EXPECT_EQ(table.state(phone(1)), StationState::kPortal);
  table.checkedIn(phone(1), /*stored=*/true, 5000);
  EXPECT_EQ(table.state(phone(1)), StationState::kCheckedIn);
  EXPECT_TRUE(table.request(phone(1), 6000));  // the page again during the grace: done
  EXPECT_EQ(table.expire(5000 + fleet::kReleaseGraceMs - 1), Keys{});
  EXPECT_EQ(table.expire(5000 + fleet::kReleaseGraceMs), Keys{phone(1)});
  EXPECT_FALSE(table.associated(phone(1)));
  EXPECT_EQ(table.stats().checkins_served, 1u);
  EXPECT_EQ(table.stats().now, 0u);
  EXPECT_EQ(table.stats().peak, 1u);
}

TEST(Stations, IdleStationsAreDroppedAndARequestRestartsTheLimit) {
  StationTable table;
  table.join(phone(1), 0);
  table.join(phone(2), 0);
  EXPECT_FALSE(table.request(phone(2), 30000));
  EXPECT_EQ(table.expire(fleet::kStationIdleMs - 1), Keys{});
  EXPECT_EQ(table.expire(fleet::kStationIdleMs), Keys{phone(1)});
  EXPECT_EQ(table.expire(30000 + fleet::kStationIdleMs), Keys{phone(2)});
  EXPECT_EQ(table.stats().checkins_served, 0u);
}

TEST(Stations, TimersSurviveMillisWrapping) {
  StationTable table;
  const std::uint32_t near_wrap = 0xFFFFFFFFu - 1000;
  table.join(phone(1), near_wrap);
  table.checkedIn(phone(1), true, near_wrap);
  EXPECT_EQ(table.expire(near_wrap + 500), Keys{});
  EXPECT_EQ(table.expire(near_wrap + fleet::kReleaseGraceMs), Keys{phone(1)});  // wrapped
}

TEST(Stations, APhoneThatIsDoneAndJoinsAgainIsReleasedAtOnce) {
  StationTable table;
  table.join(phone(1), 0);
  table.checkedIn(phone(1), false, 0);  // "already checked in": done too, not served a new one
  EXPECT_EQ(table.stats().checkins_served, 0u);
  EXPECT_EQ(table.expire(fleet::kReleaseGraceMs), Keys{phone(1)});
  EXPECT_EQ(table.join(phone(1), 10000), StationJoin::kJoined);
  EXPECT_EQ(table.state(phone(1)), StationState::kCheckedIn);
  EXPECT_TRUE(table.request(phone(1), 10100));
  EXPECT_EQ(table.expire(10000 + fleet::kReleaseGraceMs), Keys{phone(1)});
}

TEST(Stations, ANewSessionForgetsDonePhonesAndStartsTheCountersOver) {
  StationTable table;
  table.join(phone(1), 0);
  table.join(phone(2), 0);
  table.checkedIn(phone(1), true, 0);
  table.expire(fleet::kReleaseGraceMs);
  table.reset();
  const fleet::StationStats stats = table.stats();
  EXPECT_EQ(stats.now, 1u);
  EXPECT_EQ(stats.peak, 1u);  // who is associated now
  EXPECT_EQ(stats.checkins_served, 0u);
  EXPECT_EQ(stats.refused, 0u);
  table.join(phone(1), 10000);
  EXPECT_EQ(table.state(phone(1)), StationState::kAssociated);
}

TEST(Stations, ARequestFromAStationTheTableMissedJoinsIt) {
  StationTable table(true, 2);
  EXPECT_FALSE(table.request(phone(1), 0));
  EXPECT_TRUE(table.associated(phone(1)));
  table.join(phone(2), 0);
  EXPECT_FALSE(table.request(phone(3), 0));  // no room: not tracked
  EXPECT_FALSE(table.associated(phone(3)));
  EXPECT_EQ(table.stats().refused, 0u);  // the radio admitted it: not a refusal
}

TEST(Stations, WithoutRecyclingNobodyIsReleased) {
  StationTable table(/*recycle=*/false);
  table.join(phone(1), 0);
  table.join(phone(2), 0);
  table.checkedIn(phone(1), true, 0);
  EXPECT_FALSE(table.recycles());
  EXPECT_EQ(table.expire(10 * fleet::kStationIdleMs), Keys{});
  EXPECT_EQ(table.stats().now, 2u);
  EXPECT_EQ(table.stats().checkins_served, 1u);
}

namespace {

class RecyclingDevice : public ::testing::Test, protected fakes::FakePorts {
 protected:
  void start(bool recycle) {
    fleet::DeviceOptions options;
    options.device_id = "esp32-000000000001";
    options.recycle_stations = recycle;
    options.sees_refused_stations = true;
    device = std::make_unique<fleet::Device>(options, ports());
    device->begin();
    device->onConnected();
    const std::string config = samples::activeConfigJson(7);
    device->onMessage("fleet/devices/esp32-000000000001/config", fakes::bytes(config),
                      config.size());
  }

  fleet::PortalResponse post(const std::string& station, const std::string& student) {
    fleet::PortalRequest request;
    request.method = "POST";
    request.path = "/checkin";
    request.student_id = student;
    request.station = station;
    return fleet::handlePortal(request, *device);
  }

  fleet::PortalResponse home(const std::string& station) {
    fleet::PortalRequest request;
    request.method = "GET";
    request.path = "/";
    request.station = station;
    return fleet::handlePortal(request, *device);
  }

  fleet::HeartbeatMsg heartbeat() {
    transport.clear();
    clock.advance(fleet::kHeartbeatIntervalMs);
    device->loop();
    const auto beats = transport.on("fleet/devices/esp32-000000000001/heartbeat");
    EXPECT_EQ(beats.size(), 1u);
    const std::string id = "esp32-000000000001";
    return fleet::decodeHeartbeat(fakes::bytes(beats.back().payload), beats.back().payload.size(),
                                  &id)
        .value();
  }

  std::unique_ptr<fleet::Device> device;
};

bool has(const fleet::PortalResponse& r, const std::string& text) {
  return r.body.find(text) != std::string::npos;
}

}  // namespace

TEST_F(RecyclingDevice, FortyStudentsThroughTenSlots) {
  start(true);
  int next = 0;
  int refused = 0;
  while (next < 40) {
    const std::string station = phone(next);
    if (device->joinStation(station) == StationJoin::kRefused) {
      ++refused;
      clock.advance(500);
      device->loop();  // releases whoever is done
      continue;
    }
    EXPECT_FALSE(has(home(station), "Already"));
    const auto answer = post(station, "U2021/" + std::to_string(1000 + next));
    EXPECT_EQ(answer.status, 200);
    EXPECT_TRUE(has(answer, "will be disconnected"));
    ++next;
  }
  clock.advance(fleet::kReleaseGraceMs);
  device->loop();
  // Each done phone after its grace, each refused association at once.
  EXPECT_EQ(ap.released.size(), 40u + static_cast<std::size_t>(refused));
  EXPECT_EQ(device->queued(), 40u);
  const fleet::HeartbeatMsg hb = heartbeat();
  EXPECT_EQ(hb.stations, 0u);
  EXPECT_EQ(hb.stations_peak, 10u);
  EXPECT_EQ(hb.stations_refused, static_cast<std::uint32_t>(refused));
  EXPECT_GT(refused, 0);
  EXPECT_EQ(hb.checkins_served, 40u);
}

TEST_F(RecyclingDevice, APhoneBackAfterCheckingInSeesAlreadyCheckedInAndIsReleased) {
  start(true);
  device->joinStation(phone(1));
  EXPECT_EQ(post(phone(1), "U2021/0042").status, 200);
  clock.advance(fleet::kReleaseGraceMs);
  device->loop();
  EXPECT_EQ(ap.released, Keys{phone(1)});
  device->leaveStation(phone(1));  // the deauth's own event: nothing left to do
  EXPECT_EQ(device->joinStation(phone(1)), StationJoin::kJoined);
  const auto page = home(phone(1));
  EXPECT_TRUE(has(page, "already checked in for CS101"));
  clock.advance(fleet::kReleaseGraceMs);
  device->loop();
  EXPECT_EQ(ap.released, (Keys{phone(1), phone(1)}));
}

TEST_F(RecyclingDevice, WithoutRecyclingTheEleventhWaits) {
  start(false);
  for (int i = 0; i < 10; ++i) {
    EXPECT_EQ(device->joinStation(phone(i)), StationJoin::kJoined);
    EXPECT_EQ(post(phone(i), "U2021/" + std::to_string(1000 + i)).status, 200);
  }
  clock.advance(10 * fleet::kStationIdleMs);
  device->loop();
  EXPECT_TRUE(ap.released.empty());
  EXPECT_EQ(device->joinStation(phone(10)), StationJoin::kRefused);
  EXPECT_EQ(ap.released, Keys{phone(10)});  // a refusal is not recycling: it frees the spare slot
  EXPECT_FALSE(has(post(phone(3), "U2021/9999"), "disconnected"));
  const fleet::HeartbeatMsg hb = heartbeat();
  EXPECT_EQ(hb.stations, 10u);
  EXPECT_EQ(hb.stations_peak, 10u);
  EXPECT_EQ(hb.stations_refused, 1u);
  EXPECT_EQ(hb.checkins_served, 11u);
}

TEST_F(RecyclingDevice, APhoneJoiningAFullAccessPointIsReleasedAtOnceAndCounted) {
  // The ESP32's radio admits an 11th phone into its spare slot and reports the association: the
  // core refuses it, and the release (the deauth) is the refusal, before the next loop().
  start(true);
  for (int i = 0; i < 10; ++i) EXPECT_EQ(device->joinStation(phone(i)), StationJoin::kJoined);
  EXPECT_TRUE(ap.released.empty());
  EXPECT_EQ(device->joinStation(phone(10)), StationJoin::kRefused);
  EXPECT_EQ(ap.released, Keys{phone(10)});
  device->leaveStation(phone(10));  // the deauth's own event: it held no slot
  EXPECT_EQ(device->stationStats().now, 10u);
  EXPECT_EQ(device->joinStation(phone(10)), StationJoin::kRefused);  // the phone tries again
  EXPECT_EQ(ap.released, (Keys{phone(10), phone(10)}));
  device->leaveStation(phone(10));
  device->leaveStation(phone(0));  // a slot frees: the next try gets it
  EXPECT_EQ(device->joinStation(phone(10)), StationJoin::kJoined);
  EXPECT_EQ(ap.released.size(), 2u);
  const fleet::HeartbeatMsg hb = heartbeat();
  EXPECT_EQ(hb.stations, 10u);
  EXPECT_EQ(hb.stations_peak, 10u);
  EXPECT_EQ(hb.stations_refused, 2u);
}

TEST_F(RecyclingDevice, ANewSessionStartsTheSlotCountersOver) {
  start(true);
  device->joinStation(phone(1));
  post(phone(1), "U2021/0042");
  EXPECT_EQ(device->stationStats().checkins_served, 1u);
  const std::string next = samples::activeConfigJson(8, 43);
  device->onMessage("fleet/devices/esp32-000000000001/config", fakes::bytes(next), next.size());
  EXPECT_EQ(device->stationStats().checkins_served, 0u);
  EXPECT_EQ(device->stationStats().now, 1u);
}
