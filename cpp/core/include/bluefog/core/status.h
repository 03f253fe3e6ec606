// Error reporting. User mistakes found on the calling thread throw
// InvalidArgument (Python: ValueError) or Error (Python: RuntimeError).
// Ops that fail on the engine thread carry a Status to the waiting thread;
// its code says which exception it becomes.
#pragma once
#include <cstdint>
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

// An op waited past BLUEFOG_OP_TIMEOUT_SECONDS (Python: bf.OpTimeoutError).
class TimeoutError : public Error {
 public:
  using Error::Error;
};

// A rank the op needs failed, died or shut down (Python: bf.PeerFailureError).
class PeerFailureError : public Error {
 public:
  using Error::Error;
};

// The values travel in error notices between ranks: append only.
enum class StatusCode : uint8_t {
  kOk = 0,
  kInvalidArgument = 1,
  kFailure = 2,
  kTimeout = 3,
  kPeerFailure = 4,
};

class Status {
 public:
  Status() = default;
  Status(StatusCode code, std::string message)
      : code_(code), message_(std::move(message)) {}
  static Status Ok() { return Status(); }
  static Status Invalid(std::string message) {
    return Status(StatusCode::kInvalidArgument, std::move(message));
  }
  static Status Failure(std::string message) {
    return Status(StatusCode::kFailure, std::move(message));
  }
  static Status Timeout(std::string message) {
    return Status(StatusCode::kTimeout, std::move(message));
  }
  static Status PeerFailure(std::string message) {
    return Status(StatusCode::kPeerFailure, std::move(message));
  }

  bool ok() const { return code_ == StatusCode::kOk; }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }
  // The same code with another message.
  Status WithMessage(std::string message) const { return Status(code_, std::move(message)); }
  // Throws the exception that matches the code when not ok.
  void ThrowIfError() const;

 private:
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
};

}  // namespace bluefog
