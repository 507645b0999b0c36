// ferry/status.h — errors as values.
//
// Every fallible ferry function returns a `Status` (no value) or an `Expected<T>` (a value or a Status).
// Nothing in ferry throws or aborts on model or user input; a Status carries a code and a message that
// names the node, tensor or request at fault, e.g. "node 'conv1' (Conv): weight rank 3, expected 4".
//
//   ferry::Expected<int> parse(std::string_view s);
//   ferry::Status use() {
//     FERRY_ASSIGN_OR_RETURN(int v, parse("3"));   // returns the Status on error
//     if (v < 0) return ferry::invalid_argument("negative value");
//     return ferry::Status::ok();
//   }
//
// Codes are deliberately few; the CLI maps InvalidArgument/NotFound/Unsupported (bad input) to exit code 2.
#pragma once

#include <cassert>
#include <string>
#include <utility>
#include <variant>

namespace ferry {

enum class StatusCode {
  kOk = 0,           // success
  kInvalidArgument,  // the caller's input (model, tensor, request) is malformed or inconsistent
  kUnsupported,      // valid input that ferry does not implement (op, dtype, attribute value)
  kOutOfMemory,      // an allocation failed
  kInternal,         // a bug in ferry: an invariant did not hold
  kNotFound,         // a named file, model, input or output does not exist
};

const char* status_code_name(StatusCode code);

class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(StatusCode code, std::string message) : code_(code), message_(std::move(message)) {}
  static Status ok() { return Status(); }

  bool is_ok() const { return code_ == StatusCode::kOk; }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }
  // "InvalidArgument: message"
  std::string to_string() const;
  // Returns a copy whose message is "prefix: message" (adds context while an error travels up).
  Status with_context(const std::string& prefix) const;

 private:
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
};

inline Status invalid_argument(std::string m) { return Status(StatusCode::kInvalidArgument, std::move(m)); }
inline Status unsupported(std::string m) { return Status(StatusCode::kUnsupported, std::move(m)); }
inline Status out_of_memory(std::string m) { return Status(StatusCode::kOutOfMemory, std::move(m)); }
inline Status internal_error(std::string m) { return Status(StatusCode::kInternal, std::move(m)); }
inline Status not_found(std::string m) { return Status(StatusCode::kNotFound, std::move(m)); }

// A value of type T or an error Status. Accessing value() of an error is a programming bug (asserted).
template <typename T>
class [[nodiscard]] Expected {
 public:
  Expected(T value) : data_(std::move(value)) {}  // NOLINT: implicit by design
  Expected(Status status) : data_(std::move(status)) { assert(!std::get<Status>(data_).is_ok()); }  // NOLINT

  bool has_value() const { return data_.index() == 0; }
  explicit operator bool() const { return has_value(); }
  T& value() & { assert(has_value()); return std::get<0>(data_); }
  const T& value() const& { assert(has_value()); return std::get<0>(data_); }
  T&& value() && { assert(has_value()); return std::move(std::get<0>(data_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  Status status() const { return has_value() ? Status::ok() : std::get<1>(data_); }

 private:
  std::variant<T, Status> data_;
};

}  // namespace ferry

#define FERRY_CONCAT_INNER_(a, b) a##b
#define FERRY_CONCAT_(a, b) FERRY_CONCAT_INNER_(a, b)

#define FERRY_RETURN_IF_ERROR(expr)                   \
  do {                                                \
    ::ferry::Status ferry_status_ = (expr);           \
    if (!ferry_status_.is_ok()) return ferry_status_; \
  } while (0)

#define FERRY_ASSIGN_OR_RETURN_IMPL_(tmp, lhs, expr) \
  auto tmp = (expr);                                 \
  if (!tmp.has_value()) return tmp.status();         \
  lhs = std::move(tmp).value()

#define FERRY_ASSIGN_OR_RETURN(lhs, expr) FERRY_ASSIGN_OR_RETURN_IMPL_(FERRY_CONCAT_(ferry_expected_, __LINE__), lhs, expr)
