// Tests for Status and the exception types the bindings translate
// (InvalidArgument and MismatchError -> ValueError, the rest -> RuntimeError).
#include <gtest/gtest.h>

#include <stdexcept>
#include <string>
#include <type_traits>

#include "bluefog/core/status.h"

namespace bluefog {
namespace {

static_assert(std::is_base_of<std::invalid_argument, InvalidArgument>::value,
              "InvalidArgument must be a std::invalid_argument");
static_assert(std::is_base_of<std::runtime_error, Error>::value,
              "Error must be a std::runtime_error");
static_assert(!std::is_base_of<std::runtime_error, InvalidArgument>::value,
              "InvalidArgument must not be caught as a runtime_error");

TEST(Status, DefaultAndOkAreOk) {
  Status a;
  Status b = Status::Ok();
  EXPECT_TRUE(a.ok());
  EXPECT_TRUE(b.ok());
  EXPECT_EQ(a.code(), StatusCode::kOk);
  EXPECT_EQ(a.message(), "");
  EXPECT_NO_THROW(a.ThrowIfError());
  EXPECT_NO_THROW(b.ThrowIfError());
}

TEST(Status, InvalidThrowsInvalidArgumentWithMessage) {
  Status s = Status::Invalid("bad shape [2, 3]");
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(), "bad shape [2, 3]");
  try {
    s.ThrowIfError();
    FAIL() << "did not throw";
  } catch (const InvalidArgument& e) {
    EXPECT_STREQ(e.what(), "bad shape [2, 3]");
  }
  // Catchable as the standard base class, and not as a runtime_error.
  EXPECT_THROW(s.ThrowIfError(), std::invalid_argument);
  EXPECT_THROW(s.ThrowIfError(), std::logic_error);
  bool caught_as_runtime_error = false;
  try {
    s.ThrowIfError();
  } catch (const std::runtime_error&) {
    caught_as_runtime_error = true;
  } catch (const std::exception&) {
  }
  EXPECT_FALSE(caught_as_runtime_error);
}

// Each code throws its own class, which the bindings register under the same
// name in Python (module.cc); the base decides ValueError or RuntimeError.
template <class Expected, class Base>
void ExpectThrows(const Status& s, StatusCode code) {
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(s.code(), code);
  try {
    s.ThrowIfError();
    FAIL() << "did not throw";
  } catch (const Expected& e) {
    EXPECT_EQ(e.what(), s.message());
    EXPECT_NE(dynamic_cast<const Base*>(&e), nullptr);
  } catch (const std::exception& e) {
    FAIL() << "threw another class for code " << static_cast<int>(code) << ": " << e.what();
  }
}

TEST(Status, EveryCodeThrowsItsOwnClass) {
  ExpectThrows<MismatchError, std::invalid_argument>(
      Status::Mismatch("rank 1 sent a float64 [2], rank 0 a float32 [2]"),
      StatusCode::kMismatch);
  ExpectThrows<TimeoutError, std::runtime_error>(Status::Timeout("waited 30 s for rank 2"),
                                                 StatusCode::kTimeout);
  ExpectThrows<PeerFailureError, std::runtime_error>(Status::PeerFailure("rank 3 died"),
                                                     StatusCode::kPeerFailure);
  ExpectThrows<ShutdownError, std::runtime_error>(Status::Shutdown("bluefog shut down"),
                                                  StatusCode::kShutdown);
  ExpectThrows<InternalError, std::runtime_error>(Status::Internal("MPI_Isend failed"),
                                                  StatusCode::kInternal);
}

TEST(Status, OnlyMismatchIsAlsoAnInvalidArgument) {
  EXPECT_THROW(Status::Mismatch("m").ThrowIfError(), InvalidArgument);
  for (const Status& s : {Status::Timeout("t"), Status::PeerFailure("p"),
                          Status::Shutdown("s"), Status::Internal("i")}) {
    EXPECT_THROW(s.ThrowIfError(), Error);
    bool caught_as_invalid_argument = false;
    try {
      s.ThrowIfError();
    } catch (const std::invalid_argument&) {
      caught_as_invalid_argument = true;
    } catch (const std::exception&) {
    }
    EXPECT_FALSE(caught_as_invalid_argument) << static_cast<int>(s.code());
  }
}

TEST(Status, EmptyMessagesStillThrow) {
  EXPECT_THROW(Status::Invalid("").ThrowIfError(), InvalidArgument);
  EXPECT_THROW(Status::Internal("").ThrowIfError(), InternalError);
}

TEST(Status, CopiesKeepCodeAndMessage) {
  Status s = Status::Invalid("x");
  Status t = s;
  EXPECT_EQ(t.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(t.message(), "x");
  t = Status::Ok();
  EXPECT_TRUE(t.ok());
  EXPECT_FALSE(s.ok());
}

TEST(Status, ExceptionsCarryMessagesDirectly) {
  try {
    throw InvalidArgument("v");
  } catch (const std::exception& e) {
    EXPECT_STREQ(e.what(), "v");
  }
  try {
    throw Error("r");
  } catch (const std::exception& e) {
    EXPECT_STREQ(e.what(), "r");
  }
}

}  // namespace
}  // namespace bluefog
