#include <gtest/gtest.h>

#include "fleet_core/portal.h"
#include "samples.h"

using fleet::CheckinResult;
using fleet::PortalRequest;

namespace {

class FakeBackend : public fleet::PortalBackend {
 public:
  fleet::PortalSnapshot snapshot() const override { return snap; }
  bool stationRequest(const std::string& station) override {
    last_station = station;
    return done;
  }
  CheckinResult checkin(const std::string& student_id, const std::string& station_mac,
                        const std::string& station) override {
    last_student_id = student_id;
    last_station_mac = station_mac;
    last_checkin_station = station;
    ++calls;
    return result;
  }
  fleet::PortalSnapshot snap;
  bool done = false;
  std::string last_station;
  std::string last_checkin_station;
  CheckinResult result = CheckinResult::kCheckedIn;
  std::string last_student_id;
  std::string last_station_mac;
  int calls = 0;
};

fleet::PortalSnapshot activeSnapshot() {
  fleet::PortalSnapshot snap;
  snap.active_session = true;
  snap.session = samples::activeConfig().session;
  snap.applied_version = 7;
  snap.connected = true;
  return snap;
}

PortalRequest post(const std::string& student_id) {
  PortalRequest request;
  request.method = "POST";
  request.path = "/checkin";
  request.student_id = student_id;
  return request;
}

PortalRequest get(const std::string& path) {
  PortalRequest request;
  request.method = "GET";
  request.path = path;
  return request;
}

bool has(const std::string& body, const std::string& text) {
  return body.find(text) != std::string::npos;
}

}  // namespace

TEST(Portal, HomeShowsCourseSsidSyncAndForm) {
  FakeBackend backend;
  backend.snap = activeSnapshot();
  const auto r = fleet::handlePortal(get("/"), backend);
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.content_type, "text/html; charset=utf-8");
  EXPECT_TRUE(has(r.body, "<meta name=\"viewport\""));
  EXPECT_TRUE(has(r.body, "CS101 &ndash; Introduction to Computer Science"));
  EXPECT_TRUE(has(r.body, "CS101_Attendance_2024_2025"));
  EXPECT_TRUE(has(r.body, "In sync with the attendance server (configuration v7)"));
  EXPECT_TRUE(has(r.body, "<form method=\"post\" action=\"/checkin\">"));
  EXPECT_TRUE(has(r.body, "name=\"student_id\""));
  EXPECT_FALSE(has(r.body, "<script"));
  EXPECT_LT(r.body.size(), 4096u);
  EXPECT_EQ(backend.calls, 0);
}

TEST(Portal, HomeSaysWhenOfflineOrOutOfSync) {
  FakeBackend backend;
  backend.snap = activeSnapshot();
  backend.snap.connected = false;
  backend.snap.queued = 4;
  auto r = fleet::handlePortal(get("/"), backend);
  EXPECT_TRUE(has(r.body, "Offline from the attendance server (configuration v7 from memory)"));
  EXPECT_TRUE(has(r.body, "4 check-in(s) waiting"));
  backend.snap.connected = true;
  backend.snap.rejected_version = 8;
  backend.snap.rejected_error = "ssid <bad>";
  r = fleet::handlePortal(get("/"), backend);
  EXPECT_TRUE(has(r.body, "configuration v8 was refused (ssid &lt;bad&gt;)"));
}

TEST(Portal, HomeWithoutSessionHasNoForm) {
  FakeBackend backend;
  const auto r = fleet::handlePortal(get("/"), backend);
  EXPECT_EQ(r.status, 200);
  EXPECT_TRUE(has(r.body, "No attendance session is running"));
  EXPECT_FALSE(has(r.body, "<form"));
}

TEST(Portal, EscapesControllerText) {
  FakeBackend backend;
  backend.snap = activeSnapshot();
  backend.snap.session.course_title = "<script>alert(1)</script> & \"x\"";
  const auto r = fleet::handlePortal(get("/"), backend);
  EXPECT_FALSE(has(r.body, "<script>"));
  EXPECT_TRUE(has(r.body, "&lt;script&gt;alert(1)&lt;/script&gt; &amp; &quot;x&quot;"));
}

TEST(Portal, CheckinConfirms) {
  FakeBackend backend;
  backend.snap = activeSnapshot();
  PortalRequest request = post(" U2021/0042 ");
  request.station_mac = "aa:bb:cc:dd:ee:ff";
  const auto r = fleet::handlePortal(request, backend);
  EXPECT_EQ(r.status, 200);
  EXPECT_TRUE(has(r.body, "Checked in"));
  EXPECT_TRUE(has(r.body, "<b>U2021/0042</b> is checked in for CS101"));
  EXPECT_EQ(backend.last_station_mac, "aa:bb:cc:dd:ee:ff");
}

TEST(Portal, ConfirmationSaysTheWifiWillDropWhenRecycling) {
  FakeBackend backend;
  backend.snap = activeSnapshot();
  PortalRequest request = post("U2021/0042");
  request.station = "aa:bb:cc:dd:ee:ff";
  EXPECT_FALSE(has(fleet::handlePortal(request, backend).body, "disconnected"));
  backend.snap.releases_stations = true;
  const auto r = fleet::handlePortal(request, backend);
  EXPECT_TRUE(has(r.body, "You are done: this phone will be disconnected from <b>"));
  EXPECT_FALSE(has(r.body, "<form"));
  EXPECT_EQ(backend.last_station, "aa:bb:cc:dd:ee:ff");
  EXPECT_EQ(backend.last_checkin_station, "aa:bb:cc:dd:ee:ff");
}

TEST(Portal, HomeToAPhoneThatIsDoneSaysAlreadyCheckedIn) {
  FakeBackend backend;
  backend.snap = activeSnapshot();
  backend.snap.releases_stations = true;
  backend.done = true;
  const auto r = fleet::handlePortal(get("/"), backend);
  EXPECT_EQ(r.status, 200);
  EXPECT_TRUE(has(r.body, "already checked in for CS101"));
  EXPECT_TRUE(has(r.body, "will be disconnected"));
  EXPECT_FALSE(has(r.body, "<form"));
  backend.snap.active_session = false;  // no session: nothing to be done with
  EXPECT_TRUE(has(fleet::handlePortal(get("/"), backend).body, "No attendance session"));
}

TEST(Portal, AccessPointFullIsAShort503) {
  const auto r = fleet::accessPointFull();
  EXPECT_EQ(r.status, 503);
  EXPECT_EQ(r.body, fleet::kAccessPointFullBody);
}

TEST(Portal, RepeatSaysAlreadyCheckedIn) {
  FakeBackend backend;
  backend.snap = activeSnapshot();
  backend.result = CheckinResult::kAlreadyCheckedIn;
  const auto r = fleet::handlePortal(post("U2021/0042"), backend);
  EXPECT_EQ(r.status, 200);
  EXPECT_TRUE(has(r.body, "already checked in"));
}

TEST(Portal, NoActiveSessionIs409) {
  FakeBackend backend;
  backend.result = CheckinResult::kNoActiveSession;
  const auto r = fleet::handlePortal(post("U2021/0042"), backend);
  EXPECT_EQ(r.status, 409);
  EXPECT_TRUE(has(r.body, "No active session"));
}

TEST(Portal, BadStudentIdIs400WithTheFormAgain) {
  FakeBackend backend;
  backend.snap = activeSnapshot();
  backend.result = CheckinResult::kBadStudentId;
  const auto r = fleet::handlePortal(post("<bad id>"), backend);
  EXPECT_EQ(r.status, 400);
  EXPECT_TRUE(has(r.body, "Check your student ID"));
  EXPECT_TRUE(has(r.body, "value=\"&lt;bad id&gt;\""));
}

TEST(Portal, FullQueueAndFlashErrors) {
  FakeBackend backend;
  backend.snap = activeSnapshot();
  backend.result = CheckinResult::kQueueFull;
  EXPECT_EQ(fleet::handlePortal(post("U1"), backend).status, 503);
  backend.result = CheckinResult::kStorageError;
  EXPECT_EQ(fleet::handlePortal(post("U1"), backend).status, 500);
}

TEST(Portal, EverythingElseRedirectsHome) {
  FakeBackend backend;
  for (const char* path :
       {"/generate_204", "/hotspot-detect.html", "/ncsi.txt", "/checkin", "/x/y"}) {
    const auto r = fleet::handlePortal(get(path), backend);
    EXPECT_EQ(r.status, 302) << path;
    EXPECT_EQ(r.location, "/") << path;
  }
  PortalRequest post_home = post("U1");
  post_home.path = "/";
  EXPECT_EQ(fleet::handlePortal(post_home, backend).status, 302);
  EXPECT_EQ(fleet::handlePortal(get("/?x=1"), backend).status, 200);
  EXPECT_EQ(fleet::handlePortal(get("/nope"), backend, "http://192.168.4.1/").location,
            "http://192.168.4.1/");
  EXPECT_EQ(backend.calls, 0);
}

TEST(Portal, FormFieldDecoding) {
  EXPECT_EQ(fleet::formField("student_id=U2021%2F0042", "student_id"), "U2021/0042");
  EXPECT_EQ(fleet::formField("a=1&student_id=U2021/0042&b=2", "student_id"), "U2021/0042");
  EXPECT_EQ(fleet::formField("student_id=a+b", "student_id"), "a b");
  EXPECT_EQ(fleet::formField("student_id=", "student_id"), "");
  EXPECT_EQ(fleet::formField("student_id", "student_id"), "");
  EXPECT_EQ(fleet::formField("student_id=%zz", "student_id"), "%zz");
  EXPECT_FALSE(fleet::formField("other=1", "student_id"));
  EXPECT_FALSE(fleet::formField("", "student_id"));
}
