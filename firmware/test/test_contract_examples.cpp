// The decoders against the contract's own examples (schemas/examples/<name>/{valid,invalid}):
// every valid example decodes, every invalid one is rejected. Files over 1024 bytes are
// pretty-printed examples; whitespace outside strings is removed first.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <sstream>

#include "fakes.h"
#include "fleet_core/config.h"
#include "fleet_core/limits.h"
#include "fleet_core/messages.h"
#include "fleet_core/update_msg.h"

namespace fs = std::filesystem;

namespace {

using Check = std::function<fleet::DecodeError(const std::string&)>;

template <typename Decoded>
fleet::DecodeError errorOf(const Decoded& decoded) {
  return decoded.ok() ? fleet::DecodeError{} : decoded.error();
}

std::string minify(const std::string& text) {
  std::string out;
  bool in_string = false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      out.push_back(c);
      if (c == '\\' && i + 1 < text.size()) {
        out.push_back(text[++i]);
      } else if (c == '"') {
        in_string = false;
      }
    } else if (c == '"') {
      in_string = true;
      out.push_back(c);
    } else if (c != ' ' && c != '\n' && c != '\r' && c != '\t') {
      out.push_back(c);
    }
  }
  return out;
}

std::string readFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

struct Kind {
  const char* name;
  Check check;
};

std::vector<Kind> kinds() {
  using fakes::bytes;
  return {
      {"status",
       [](const std::string& t) { return errorOf(fleet::decodeStatus(bytes(t), t.size())); }},
      {"heartbeat",
       [](const std::string& t) { return errorOf(fleet::decodeHeartbeat(bytes(t), t.size())); }},
      {"state",
       [](const std::string& t) { return errorOf(fleet::decodeState(bytes(t), t.size())); }},
      {"attendance",
       [](const std::string& t) { return errorOf(fleet::decodeAttendance(bytes(t), t.size())); }},
      {"attendance_ack",
       [](const std::string& t) { return errorOf(fleet::decodeAck(bytes(t), t.size())); }},
      {"config",
       [](const std::string& t) { return errorOf(fleet::decodeConfig(bytes(t), t.size())); }},
      {"update",
       [](const std::string& t) { return errorOf(fleet::decodeUpdate(bytes(t), t.size())); }},
  };
}

const fs::path kExamples = FLEET_SCHEMA_EXAMPLES_DIR;

}  // namespace

TEST(ContractExamples, DecodersAgreeWithTheSchemaExamples) {
  ASSERT_TRUE(fs::is_directory(kExamples)) << "missing " << kExamples;
  int valid = 0;
  int invalid = 0;
  for (const Kind& kind : kinds()) {
    for (const char* verdict : {"valid", "invalid"}) {
      const fs::path dir = kExamples / kind.name / verdict;
      ASSERT_TRUE(fs::is_directory(dir)) << dir;
      for (const auto& entry : fs::directory_iterator(dir)) {
        std::string text = readFile(entry.path());
        if (text.size() > fleet::kMaxPayloadBytes) text = minify(text);
        const fleet::DecodeError error = kind.check(text);
        if (std::string(verdict) == "valid") {
          EXPECT_EQ(error.reason, fleet::RejectReason::kNone)
              << entry.path() << ": " << error.describe();
          ++valid;
        } else {
          EXPECT_NE(error.reason, fleet::RejectReason::kNone) << entry.path() << " was accepted";
          ++invalid;
        }
      }
    }
  }
  EXPECT_GT(valid, 10);
  EXPECT_GT(invalid, 50);
}
