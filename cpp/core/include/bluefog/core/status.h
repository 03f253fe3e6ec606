// Error reporting: one taxonomy from C++ to Python. User mistakes found on
// the calling thread throw InvalidArgument (Python: bf.InvalidArgumentError,
// a ValueError); the other kinds below subclass Error (RuntimeError), except
// MismatchError, which is an InvalidArgument.
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

// A rank the op needs failed, died, shut down or became unreachable
// (Python: bf.PeerFailureError).
class PeerFailureError : public Error {
 public:
  using Error::Error;
};

// Ranks disagree about an op: shape, dtype, root, topology or a setting
// (Python: bf.MismatchError, a ValueError).
class MismatchError : public InvalidArgument {
 public:
  using InvalidArgument::InvalidArgument;
};

// This rank is shutting down or has shut down (Python: bf.ShutdownError).
class ShutdownError : public Error {
 public:
  using Error::Error;
};

// Neither the caller's mistake nor a peer's: a bug in bluefog, or MPI or
// the system failing (Python: bf.InternalError).
class InternalError : public Error {
 public:
  using Error::Error;
};

// The values travel in error notices between ranks: append only.
enum class StatusCode : uint8_t {
  kOk = 0,
  kInvalidArgument = 1,
  kInternal = 2,
  kTimeout = 3,
  kPeerFailure = 4,
  kMismatch = 5,
  kShutdown = 6,
};
constexpr StatusCode kLastStatusCode = StatusCode::kShutdown;

class Status {
 public:
  Status() = default;
  Status(StatusCode code, std::string message)
      : code_(code), message_(std::move(message)) {}
  static Status Ok() { return Status(); }
  static Status Invalid(std::string message) {
    return Status(StatusCode::kInvalidArgument, std::move(message));
  }
  static Status Internal(std::string message) {
    return Status(StatusCode::kInternal, std::move(message));
  }
  static Status Mismatch(std::string message) {
    return Status(StatusCode::kMismatch, std::move(message));
  }
  static Status Shutdown(std::string message) {
    return Status(StatusCode::kShutdown, std::move(message));
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
