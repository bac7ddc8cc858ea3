// The portal over a real Device (with fake ports): the whole check-in path a student takes.
#include <gtest/gtest.h>

#include "fakes.h"
#include "fleet_core/device.h"
#include "fleet_core/portal.h"
#include "samples.h"

TEST(PortalWithDevice, CheckinThenRepeatThenBadId) {
  fakes::FakeTransport transport;
  fakes::MemoryStorage flash;
  fakes::FakeAccessPoint ap;
  fakes::FakeClock clock;
  fakes::FakeSystemInfo system;
  fakes::RecordingLogger logger;
  fleet::DeviceOptions options;
  options.device_id = "esp32-000000000001";
  fleet::Device device(options, fleet::Ports{transport, flash, ap, clock, system, logger});
  device.begin();
  device.onConnected();

  fleet::PortalRequest request;
  request.method = "POST";
  request.path = "/checkin";
  request.student_id = "U2021/0042";
  EXPECT_EQ(fleet::handlePortal(request, device).status, 409);

  const std::string config = samples::activeConfigJson(7);
  device.onMessage("fleet/devices/esp32-000000000001/config", fakes::bytes(config), config.size());
  fleet::PortalRequest home;
  home.method = "GET";
  home.path = "/";
  const auto page = fleet::handlePortal(home, device);
  EXPECT_NE(page.body.find("In sync with the attendance server (configuration v7)"),
            std::string::npos);

  const auto first = fleet::handlePortal(request, device);
  EXPECT_EQ(first.status, 200);
  EXPECT_NE(first.body.find("Checked in"), std::string::npos);
  const auto again = fleet::handlePortal(request, device);
  EXPECT_EQ(again.status, 200);
  EXPECT_NE(again.body.find("already checked in"), std::string::npos);
  request.student_id = "U2021 0042";
  EXPECT_EQ(fleet::handlePortal(request, device).status, 400);
  EXPECT_EQ(device.queued(), 1u);
}
