// string.cc — op semantics (schemas + shape/dtype inference) of the string family:
// StringConcat, StringSplit, StringNormalizer, RegexFullMatch.
#include "ops/op_registry.h"

namespace ferry {

namespace {

Status require_string(InferContext& c, int i) {
  DType t = c.input_dtype(i);
  if (t != DType::kUndefined && t != DType::kString)
    return c.error("input " + std::to_string(i) + " must be a string tensor, got " + dtype_name(t));
  return Status::ok();
}

Status infer_string_concat(InferContext& c) {
  FERRY_RETURN_IF_ERROR(require_string(c, 0));
  FERRY_RETURN_IF_ERROR(require_string(c, 1));
  Expected<SymShape> s = broadcast_shapes({c.input_shape(0), c.input_shape(1)});
  if (!s) return c.error(s.status().message());
  c.set_output(0, DType::kString, *s);
  return Status::ok();
}

Status infer_string_split(InferContext& c) {
  FERRY_RETURN_IF_ERROR(require_string(c, 0));
  const SymShape& x = c.input_shape(0);
  if (x.rank_known) {
    SymShape sub = x;
    sub.dims.emplace_back();  // the number of substrings depends on the data
    c.set_output(0, DType::kString, sub);
  } else {
    c.set_output(0, DType::kString, SymShape::unknown());
  }
  if (c.has_output(1)) c.set_output(1, DType::kInt64, x);
  return Status::ok();
}

Status infer_string_normalizer(InferContext& c) {
  FERRY_RETURN_IF_ERROR(require_string(c, 0));
  std::string action = c.node().attr_string("case_change_action", "NONE");
  if (action != "NONE" && action != "LOWER" && action != "UPPER")
    return c.error("case_change_action must be NONE, LOWER or UPPER, got '" + action + "'");
  const SymShape& x = c.input_shape(0);
  if (x.rank_known) {
    if (x.rank() != 1 && x.rank() != 2) return c.error("input must have shape [C] or [1, C], got " + x.to_string());
    if (x.rank() == 2 && x.dims[0].known() && x.dims[0].value != 1)
      return c.error("2-D input must have shape [1, C], got " + x.to_string());
    SymShape y = x;
    if (c.node().attr_strings("stopwords").empty() && x.is_concrete()) {
      // Without stopwords nothing is removed, except that an empty input yields one empty string.
      int64_t n = x.dims.back().value;
      if (n == 0) y.dims.back() = Dim(1);
      if (x.rank() == 2) y.dims[0] = Dim(1);
    } else {
      y.dims.back() = Dim();
      if (x.rank() == 2) y.dims[0] = Dim(1);
    }
    c.set_output(0, DType::kString, y);
  } else {
    c.set_output(0, DType::kString, SymShape::unknown());
  }
  return Status::ok();
}

Status infer_regex_full_match(InferContext& c) {
  FERRY_RETURN_IF_ERROR(require_string(c, 0));
  if (!c.node().attr("pattern")) return c.error("attribute 'pattern' is required");
  c.set_output(0, DType::kBool, c.input_shape(0));
  return Status::ok();
}

}  // namespace

void register_string(OpRegistry& r) {
  r.add({"", "StringConcat", 2, 2, 1, 1, infer_string_concat});
  r.add({"", "StringSplit", 1, 1, 1, 2, infer_string_split});
  r.add({"", "StringNormalizer", 1, 1, 1, 1, infer_string_normalizer});
  r.add({"", "RegexFullMatch", 1, 1, 1, 1, infer_regex_full_match});
}

}  // namespace ferry
