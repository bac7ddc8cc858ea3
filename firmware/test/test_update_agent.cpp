// The update state machine (fleet_core/update_agent.h) inside a Device, over fake slots and a
// fake download: every step it reports, the checks before the switch, the rules (no downgrade,
// no update during a session, confirm only when back at work), resume and rollback.
#include <gtest/gtest.h>

#include <memory>

#include "fakes.h"
#include "fleet_core/device.h"
#include "fleet_core/json_codec.h"
#include "fleet_core/limits.h"
#include "fleet_core/messages.h"
#include "fleet_core/semver.h"
#include "fleet_core/storage_keys.h"
#include "fleet_core/update_agent.h"
#include "fleet_core/update_msg.h"
#include "samples.h"

using fakes::bytes;
using fleet::UpdateStage;

namespace {

const std::string kId = "esp32-a1b2c3d4e5f6";
const std::string kSha(64, 'a');
const std::string kSig = "MEUCIQDnmWc1lBz2VXbH4rYk6n0PqN3m3y5YQ0o3m6Gq3hQ0WQIgB2t7fP0Vg1kqQ4r8o8s7bq8Jm0y0o0z8Zk6X1u7q5vE=";

std::string command(const std::string& version, std::uint32_t size, bool allow_downgrade = false,
                    const std::string& sha = kSha) {
  return R"({"v":1,"version":")" + version + R"(","url":"http://10.1.0.5:9100/firmware/)" + sha +
         R"(.bin","size":)" + std::to_string(size) + R"(,"sha256":")" + sha +
         R"(","signature":")" + kSig + R"(")" +
         (allow_downgrade ? R"(,"allow_downgrade":true})" : "}");
}

// What the agent keeps in flash while it reboots into `version` of command(...).
std::string bootRecord(const std::string& version) {
  return version + " " + kSha + " " + kSig + " http://10.1.0.5:9100/firmware/" + kSha + ".bin";
}

bool older(const char* a, const char* b) {
  return fleet::compareSemver(*fleet::parseSemver(a), *fleet::parseSemver(b)) < 0;
}

class UpdateTest : public ::testing::Test, protected fakes::FakePorts {
 protected:
  void SetUp() override {
    downloader.body = std::string(5000, 'x');
    slots.image_sha256 = kSha;
    slots.image_version = "1.3.0";
  }
  void boot() {
    transport.is_connected = false;
    transport.clear();
    fleet::DeviceOptions options;
    options.device_id = kId;
    options.fw_version = slots.running;
    agent = std::make_unique<fleet::UpdateAgent>(
        fleet::Topics("fleet", kId),
        fleet::UpdatePorts{transport, flash, slots, downloader, clock, logger});
    device = std::make_unique<fleet::Device>(options, ports());
    device->attachUpdates(agent.get());
    device->begin();
    agent->begin();
  }
  void connect() {
    transport.is_connected = true;
    device->onConnected();
  }
  void deliver(const std::string& leaf, const std::string& payload) {
    device->onMessage("fleet/devices/" + kId + "/" + leaf, bytes(payload), payload.size());
  }
  void run(int passes = 50) {
    for (int i = 0; i < passes; ++i) {
      clock.advance(10);
      device->loop();
    }
  }
  // Each update_state published: "downloading:0", "verifying", "failed:bad_sha256", ...
  std::vector<std::string> states() const {
    std::vector<std::string> out;
    for (const auto& p : transport.on("fleet/devices/" + kId + "/update/state")) {
      EXPECT_TRUE(p.retained);
      auto doc = fleet::json::parseObject(bytes(p.payload), p.payload.size(), 1024);
      EXPECT_TRUE(doc.ok());
      fleet::json::Reader r(doc.value(), doc.value().root());
      std::string state, version, running;
      std::optional<std::uint32_t> percent;
      std::optional<std::string> reason;
      r.string("state", 1, 16, state);
      r.string("version", 5, 31, version);
      r.string("running", 1, 32, running);
      r.optionalCounter("percent", percent);
      r.optionalString("reason", 64, reason);
      EXPECT_TRUE(r.ok()) << r.error().describe();
      EXPECT_EQ(running, slots.running);
      out.push_back(state + (percent ? ":" + std::to_string(*percent) : "") +
                    (reason ? ":" + *reason : ""));
    }
    return out;
  }
  std::optional<std::uint32_t> heartbeatRefused() {
    device->onConnected();
    const auto beats = transport.on("fleet/devices/" + kId + "/heartbeat");
    const auto hb = fleet::decodeHeartbeat(bytes(beats.back().payload), beats.back().payload.size());
    EXPECT_TRUE(hb.ok());
    return hb.value().images_refused;
  }
  // The bootloader's part: the activated slot runs next, on trial.
  void rebootInto(const std::string& version) {
    slots.running = version;
    slots.pending = true;
    boot();
  }

  fakes::FakeSlots slots;
  fakes::FakeDownloader downloader;
  std::unique_ptr<fleet::UpdateAgent> agent;
  std::unique_ptr<fleet::Device> device;
};

TEST(Semver, PrecedenceAsSemverSays) {
  EXPECT_TRUE(older("1.2.9", "1.3.0"));
  EXPECT_TRUE(older("1.3.0-rc.1", "1.3.0"));
  EXPECT_TRUE(older("1.3.0-alpha", "1.3.0-alpha.1"));
  EXPECT_TRUE(older("1.3.0-alpha.2", "1.3.0-alpha.10"));
  EXPECT_TRUE(older("1.3.0-2", "1.3.0-alpha"));
  EXPECT_TRUE(older("1.9.0", "1.10.0"));
  EXPECT_EQ(fleet::compareSemver(*fleet::parseSemver("1.3.0+a"), *fleet::parseSemver("1.3.0+b")),
            0);
  EXPECT_FALSE(fleet::parseSemver("1.3"));
  EXPECT_FALSE(fleet::parseSemver("01.3.0"));
  EXPECT_FALSE(fleet::parseSemver("1.3.0-01"));
  EXPECT_FALSE(fleet::parseSemver("1.3.0+"));
  EXPECT_FALSE(fleet::parseSemver("1.3.0-a..b"));
}

TEST(UpdateMsg, StateFitsAndSaysItsStep) {
  fleet::UpdateStateMsg msg;
  msg.version = "1.3.0";
  msg.phase = fleet::UpdatePhase::kFailed;
  msg.reason = "bad_signature";
  msg.running = "1.2.9";
  EXPECT_EQ(fleet::encodeUpdateState(kId, msg),
            R"({"v":1,"id":"esp32-a1b2c3d4e5f6","version":"1.3.0","state":"failed",)"
            R"("reason":"bad_signature","running":"1.2.9"})");
}

TEST_F(UpdateTest, UpdatesEndToEndAndConfirmsOnlyBackAtWork) {
  boot();
  connect();
  EXPECT_NE(std::find(transport.subscriptions.begin(), transport.subscriptions.end(),
                      std::make_pair("fleet/devices/" + kId + "/update", 1)),
            transport.subscriptions.end());
  deliver("update", command("1.3.0", 5000));
  run(20);
  EXPECT_EQ(slots.image, downloader.body);
  EXPECT_EQ(slots.activated, 1);
  EXPECT_EQ(states(), (std::vector<std::string>{"downloading:0", "downloading:20",
                                                 "downloading:40", "downloading:60",
                                                 "downloading:80", "downloading:100", "verifying",
                                                 "rebooting"}));
  EXPECT_EQ(slots.reboots, 0);  // "rebooting" gets out first
  clock.advance(fleet::kUpdateRebootDelayMs);
  device->loop();
  EXPECT_EQ(slots.reboots, 1);

  rebootInto("1.3.0");
  EXPECT_EQ(agent->stage(), UpdateStage::kTrial);
  run(5);
  EXPECT_EQ(slots.marked_valid, 0);  // not connected
  connect();
  run(5);
  EXPECT_EQ(slots.marked_valid, 0);  // config not settled yet
  deliver("config", samples::idleConfigJson(3));
  run(1);
  EXPECT_EQ(slots.marked_valid, 1);
  EXPECT_EQ(states(), (std::vector<std::string>{"confirmed"}));
  EXPECT_FALSE(flash.data.count(fleet::keys::kUpdateBoot));
  // The retained command again after a reconnect: already running it.
  deliver("update", command("1.3.0", 5000));
  run(5);
  EXPECT_EQ(downloader.urls.size(), 1u);
}

TEST_F(UpdateTest, ConfirmsWithoutAConfigAfterTheSettleTime) {
  flash.put(fleet::keys::kUpdateBoot, bootRecord("1.3.0"));
  rebootInto("1.3.0");
  connect();
  run(1);
  EXPECT_EQ(slots.marked_valid, 0);
  clock.advance(fleet::kConfirmSettleMs);
  run(1);
  EXPECT_EQ(slots.marked_valid, 1);
  EXPECT_EQ(states(), (std::vector<std::string>{"confirmed"}));
}

TEST_F(UpdateTest, ANewImageWaitsForItsSessionAccessPoint) {
  flash.put(fleet::keys::kConfig, fleet::encodeConfig(samples::activeConfig(7)));
  ap.fail_start = true;
  flash.put(fleet::keys::kUpdateBoot, bootRecord("1.3.0"));
  rebootInto("1.3.0");
  connect();
  clock.advance(fleet::kConfirmSettleMs);
  run(3);
  EXPECT_EQ(slots.marked_valid, 0);  // the session's access point is down
  EXPECT_EQ(slots.rollbacks, 0);
  clock.advance(fleet::kConfirmDeadlineMs);
  run(1);
  EXPECT_EQ(slots.rollbacks, 1);  // not back at work in time: the old image again
  EXPECT_EQ(slots.marked_valid, 0);
}

TEST_F(UpdateTest, TheOldImageReportsARollback) {
  flash.put(fleet::keys::kUpdateBoot, bootRecord("1.3.0"));
  slots.running = "1.2.0";
  boot();
  connect();
  EXPECT_EQ(states(), (std::vector<std::string>{"rolled_back:not_confirmed"}));
  // The same image is not tried again.
  deliver("update", command("1.3.0", 5000));
  run(5);
  EXPECT_TRUE(downloader.urls.empty());
}

TEST_F(UpdateTest, RefusesADowngradeUnlessAllowed) {
  boot();
  connect();
  deliver("update", command("1.1.0", 5000));
  run(5);
  EXPECT_EQ(states(), (std::vector<std::string>{"failed:downgrade"}));
  EXPECT_TRUE(downloader.urls.empty());
  transport.clear();
  slots.image_version = "1.1.0";
  deliver("update", command("1.1.0", 5000, true));
  run(20);
  EXPECT_EQ(slots.activated, 1);
  EXPECT_EQ(states().back(), "rebooting");
}

TEST_F(UpdateTest, NeverStartsNorRebootsDuringASession) {
  boot();
  connect();
  deliver("config", samples::activeConfigJson(7));
  deliver("update", command("1.3.0", 5000));
  run(20);
  EXPECT_TRUE(downloader.urls.empty());
  EXPECT_TRUE(states().empty());
  deliver("config", samples::idleConfigJson(8));
  run(3);
  ASSERT_EQ(downloader.urls.size(), 1u);
  deliver("config", samples::activeConfigJson(9));  // a lecture starts mid-download
  run(20);
  EXPECT_EQ(agent->stage(), UpdateStage::kVerified);
  EXPECT_EQ(slots.activated, 0);
  deliver("config", samples::idleConfigJson(10));
  run(1);
  clock.advance(fleet::kUpdateRebootDelayMs);
  run(1);
  EXPECT_EQ(slots.reboots, 1);
}

TEST_F(UpdateTest, ATamperedImageIsRefusedCountedAndNotTriedAgain) {
  boot();
  connect();
  slots.image_sha256 = std::string(64, 'b');
  deliver("update", command("1.3.0", 5000));
  run(20);
  EXPECT_EQ(states().back(), "failed:bad_sha256");
  EXPECT_EQ(slots.activated, 0);
  EXPECT_EQ(heartbeatRefused(), 1u);
  deliver("update", command("1.3.0", 5000));  // the retained command after a reconnect
  run(20);
  EXPECT_EQ(downloader.urls.size(), 1u);

  const std::string other(64, 'c');
  slots.image_sha256 = other;
  slots.signature = fleet::SignatureCheck::kInvalid;
  deliver("update", command("1.3.0", 5000, false, other));
  run(20);
  EXPECT_EQ(states().back(), "failed:bad_signature");
  EXPECT_EQ(slots.activated, 0);
  boot();  // the count survives a reboot
  connect();
  EXPECT_EQ(heartbeatRefused(), 2u);
}

TEST_F(UpdateTest, ASignedImageOfAnotherVersionIsRefused) {
  boot();
  connect();
  slots.image_version = "1.4.0";
  deliver("update", command("1.3.0", 5000));
  run(20);
  EXPECT_EQ(states().back(), "failed:bad_image");
  EXPECT_EQ(agent->imagesRefused(), 1u);
}

TEST_F(UpdateTest, ABrokenDownloadResumesWhereItStopped) {
  boot();
  connect();
  downloader.break_at = 2500;
  deliver("update", command("1.3.0", 5000));
  run(10);
  EXPECT_EQ(agent->stage(), UpdateStage::kRetryWait);
  clock.advance(fleet::kUpdateRetryMs);
  run(10);
  EXPECT_EQ(downloader.offsets, (std::vector<std::uint32_t>{0, 2500}));
  EXPECT_EQ(slots.image, downloader.body);
  EXPECT_EQ(slots.activated, 1);
}

TEST_F(UpdateTest, ADownloadThatKeepsBreakingFails) {
  boot();
  connect();
  downloader.body.clear();  // ends at once, short
  deliver("update", command("1.3.0", 5000));
  for (std::uint32_t i = 0; i < fleet::kUpdateMaxAttempts; ++i) {
    run(2);
    clock.advance(fleet::kUpdateRetryMs);
  }
  EXPECT_EQ(states().back(), "failed:download_error");
  EXPECT_EQ(agent->imagesRefused(), 0u);
}

TEST_F(UpdateTest, AWithdrawnCommandStopsTheDownload) {
  boot();
  connect();
  downloader.chunk = 100;
  deliver("update", command("1.3.0", 5000));
  run(3);
  device->onMessage("fleet/devices/" + kId + "/update", nullptr, 0);
  run(30);
  EXPECT_EQ(agent->stage(), UpdateStage::kIdle);
  EXPECT_FALSE(slots.opened);
  EXPECT_EQ(slots.activated, 0);
}

TEST_F(UpdateTest, ANewerCommandReplacesTheOneUnderWayAndTheSameOneDoesNot) {
  boot();
  connect();
  downloader.chunk = 100;
  deliver("update", command("1.3.0", 5000));
  run(3);
  deliver("update", command("1.3.0", 5000));  // redelivered after a reconnect
  run(3);
  EXPECT_EQ(downloader.urls.size(), 1u);
  const std::string other(64, 'd');
  slots.image_sha256 = other;
  slots.image_version = "1.4.0";
  deliver("update", command("1.4.0", 5000, false, other));
  run(200);
  ASSERT_EQ(downloader.urls.size(), 2u);
  EXPECT_NE(downloader.urls[1].find(other), std::string::npos);
  EXPECT_EQ(downloader.offsets[1], 0u);
  EXPECT_EQ(slots.activated, 1);
  EXPECT_EQ(states().back(), "rebooting");
}

TEST_F(UpdateTest, ABadCommandIsDroppedAndCounted) {
  boot();
  connect();
  deliver("update", R"({"v":1,"version":"1.3","url":"http://x/y.bin"})");
  run(3);
  EXPECT_EQ(agent->commandsDropped(), 1u);
  EXPECT_TRUE(states().empty());
}

TEST_F(UpdateTest, APlatformWithoutSlotsSaysSo) {
  slots.can_update = false;
  boot();
  connect();
  deliver("update", command("1.3.0", 5000));
  run(3);
  EXPECT_EQ(states(), (std::vector<std::string>{"failed:unsupported"}));
}

}  // namespace
