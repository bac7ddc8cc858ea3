// Outcome of decoding a message from the network: a value or a rejection with the contract's
// reason code (docs/contract.md, "Rejection reasons") and a short human detail.
#pragma once

#include <optional>
#include <string>
#include <utility>

namespace fleet {

enum class RejectReason {
  kNone,
  kTooLarge,
  kBadJson,
  kNotObject,
  kBadVersion,
  kSchema,
  kBadTopic,
  kBadDeviceId,
  kIdMismatch,
  kBadStudentId,
};

// The contract's spelling: "too_large", "bad_json", ...
const char* rejectReasonName(RejectReason reason);

struct DecodeError {
  RejectReason reason = RejectReason::kNone;
  std::string detail;

  // "schema: ssid must be 1..32 characters of [A-Za-z0-9_-]"
  std::string describe() const;
};

template <typename T>
class Decoded {
 public:
  Decoded(T value) : value_(std::move(value)) {}            // NOLINT(google-explicit-constructor)
  Decoded(DecodeError error) : error_(std::move(error)) {}  // NOLINT(google-explicit-constructor)

  bool ok() const { return value_.has_value(); }
  const T& value() const { return *value_; }
  T& value() { return *value_; }
  const DecodeError& error() const { return error_; }

 private:
  std::optional<T> value_;
  DecodeError error_;
};

inline DecodeError reject(RejectReason reason, std::string detail) {
  return DecodeError{reason, std::move(detail)};
}

}  // namespace fleet
