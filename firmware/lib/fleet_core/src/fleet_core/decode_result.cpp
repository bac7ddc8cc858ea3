#include "fleet_core/decode_result.h"

namespace fleet {

const char* rejectReasonName(RejectReason reason) {
  switch (reason) {
    case RejectReason::kNone: return "none";
    case RejectReason::kTooLarge: return "too_large";
    case RejectReason::kBadJson: return "bad_json";
    case RejectReason::kNotObject: return "not_object";
    case RejectReason::kBadVersion: return "bad_version";
    case RejectReason::kSchema: return "schema";
    case RejectReason::kBadTopic: return "bad_topic";
    case RejectReason::kBadDeviceId: return "bad_device_id";
    case RejectReason::kIdMismatch: return "id_mismatch";
    case RejectReason::kBadStudentId: return "bad_student_id";
  }
  return "unknown";
}

std::string DecodeError::describe() const {
  std::string text = rejectReasonName(reason);
  if (!detail.empty()) text += ": " + detail;
  return text;
}

}  // namespace fleet
