// ml.cc — op semantics of the classic-ML family: ai.onnx.ml LabelEncoder, TreeEnsemble, Binarizer,
// ArrayFeatureExtractor, and ai.onnx TfIdfVectorizer.
#include <algorithm>

#include "ops/op_registry.h"

namespace ferry {

namespace {

constexpr const char* kMl = "ai.onnx.ml";

// Output element type of LabelEncoder from whichever values_* attribute is present.
Expected<DType> label_encoder_out_dtype(InferContext& c) {
  const Node& n = c.node();
  if (n.opset == 1 || n.attr("classes_strings")) {
    return c.input_dtype(0) == DType::kString ? DType::kInt64 : DType::kString;
  }
  if (const Tensor* t = n.attr_tensor("values_tensor")) return t->dtype();
  if (n.attr("values_strings")) return DType::kString;
  if (n.attr("values_int64s")) return DType::kInt64;
  if (n.attr("values_floats")) return DType::kFloat;
  return c.error("one of values_strings, values_int64s, values_floats, values_tensor is required");
}

Status infer_label_encoder(InferContext& c) {
  FERRY_ASSIGN_OR_RETURN(DType out, label_encoder_out_dtype(c));
  c.set_output(0, out, c.input_shape(0));
  return Status::ok();
}

Status infer_tree_ensemble(InferContext& c) {
  DType t = c.input_dtype(0);
  if (t != DType::kUndefined && t != DType::kFloat && t != DType::kDouble && t != DType::kFloat16)
    return c.error(std::string("X must be float, double or float16, got ") + dtype_name(t));
  int64_t n_targets = c.node().attr_int("n_targets", -1);
  if (n_targets <= 0) return c.error("attribute n_targets must be positive");
  const SymShape& x = c.input_shape(0);
  if (x.rank_known && x.rank() != 2 && x.rank() != 1) return c.error("X must be 2-D [N, F], got " + x.to_string());
  Dim n = x.rank_known ? (x.rank() == 2 ? x.dims[0] : Dim(1)) : Dim();
  c.set_output(0, t, SymShape::from_dims({n, Dim(n_targets)}));
  return Status::ok();
}

Status infer_binarizer(InferContext& c) {
  c.set_output(0, c.input_dtype(0), c.input_shape(0));
  return Status::ok();
}

Status infer_array_feature_extractor(InferContext& c) {
  const SymShape& x = c.input_shape(0);
  const SymShape& y = c.input_shape(1);
  if (c.input_dtype(1) != DType::kUndefined && c.input_dtype(1) != DType::kInt64)
    return c.error("indices must be int64");
  Dim k;
  if (y.is_concrete()) k = Dim(shape_numel(y.to_shape()));
  if (!x.rank_known) {
    c.set_output(0, c.input_dtype(0), SymShape::unknown());
  } else if (x.rank() == 0) {
    return c.error("X must have rank >= 1");
  } else if (x.rank() == 1) {
    c.set_output(0, c.input_dtype(0), SymShape::from_dims({Dim(1), k}));
  } else {
    SymShape out = x;
    out.dims.back() = k;
    c.set_output(0, c.input_dtype(0), out);
  }
  return Status::ok();
}

Status infer_tfidf(InferContext& c) {
  const Node& n = c.node();
  DType t = c.input_dtype(0);
  if (t != DType::kUndefined && t != DType::kString && t != DType::kInt32 && t != DType::kInt64)
    return c.error(std::string("X must be string, int32 or int64, got ") + dtype_name(t));
  std::string mode = n.attr_string("mode", "");
  if (mode != "TF" && mode != "IDF" && mode != "TFIDF") return c.error("mode must be TF, IDF or TFIDF");
  int64_t mn = n.attr_int("min_gram_length", 0), mx = n.attr_int("max_gram_length", 0);
  if (mn < 1 || mx < mn) return c.error("need 1 <= min_gram_length <= max_gram_length");
  if (n.attr_int("max_skip_count", 0) < 0) return c.error("max_skip_count must be >= 0");
  std::vector<int64_t> idx = n.attr_ints("ngram_indexes");
  int64_t width = 0;
  for (int64_t v : idx) {
    if (v < 0) return c.error("ngram_indexes must be >= 0");
    width = std::max(width, v + 1);
  }
  const SymShape& x = c.input_shape(0);
  if (!x.rank_known) {
    c.set_output(0, DType::kFloat, SymShape::unknown());
  } else if (x.rank() == 1) {
    c.set_output(0, DType::kFloat, SymShape::from_dims({Dim(width)}));
  } else if (x.rank() == 2) {
    c.set_output(0, DType::kFloat, SymShape::from_dims({x.dims[0], Dim(width)}));
  } else {
    return c.error("X must be 1-D or 2-D, got " + x.to_string());
  }
  return Status::ok();
}

}  // namespace

void register_ml(OpRegistry& r) {
  r.add({kMl, "LabelEncoder", 1, 1, 1, 1, infer_label_encoder});
  r.add({kMl, "TreeEnsemble", 1, 1, 1, 1, infer_tree_ensemble});
  r.add({kMl, "Binarizer", 1, 1, 1, 1, infer_binarizer});
  r.add({kMl, "ArrayFeatureExtractor", 2, 2, 1, 1, infer_array_feature_extractor});
  r.add({"", "TfIdfVectorizer", 1, 1, 1, 1, infer_tfidf});
}

}  // namespace ferry
