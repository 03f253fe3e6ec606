// Error reporting. User mistakes found on the calling thread throw
// InvalidArgument (Python: ValueError) or Error (Python: RuntimeError).
// Ops that fail on the engine thread carry a Status to the waiting thread.
#pragma once
#include <stdexcept>
#include <string>

namespace bluefog {

class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class InvalidArgument : public std::invalid_argument {
 public:
  using std::invalid_argument::invalid_argument;
};

enum class StatusCode { kOk = 0, kInvalidArgument, kFailure };

class Status {
 public:
  Status() = default;
  static Status Ok() { return Status(); }
  static Status Invalid(std::string message) {
    return Status(StatusCode::kInvalidArgument, std::move(message));
  }
  static Status Failure(std::string message) {
    return Status(StatusCode::kFailure, std::move(message));
  }

  bool ok() const { return code_ == StatusCode::kOk; }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }
  // Throws InvalidArgument or Error when not ok.
  void ThrowIfError() const;

 private:
  Status(StatusCode code, std::string message)
      : code_(code), message_(std::move(message)) {}
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
};

}  // namespace bluefog
