// ml.cc — CPU reference kernels of the classic-ML family: ai.onnx.ml LabelEncoder, Binarizer,
// ArrayFeatureExtractor (TreeEnsemble and TfIdfVectorizer live in ml_tree.cc / ml_tfidf.cc).
#include <cmath>
#include <map>
#include <unordered_map>

#include "backends/cpu/kernel.h"
#include "core/dtype_dispatch.h"

namespace ferry {

void register_ml_tree_kernels(KernelRegistry& r);

namespace {

Status node_error(const Node& n, const std::string& msg) {
  return invalid_argument("node " + n.display_name() + ": " + msg);
}

// Copies element `j` of `src` into element `i` of `dst` (same dtype).
void copy_elem(const Tensor& src, int64_t j, Tensor& dst, int64_t i) {
  (void)visit_dtype(dst.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    dst.data<T>()[i] = src.data<T>()[j];
  });
}

// ---------------- LabelEncoder ----------------
class LabelEncoderKernel : public CpuKernel {
 public:
  std::unordered_map<std::string, int64_t> str_keys;
  std::unordered_map<int64_t, int64_t> int_keys;
  std::map<double, int64_t> float_keys;
  int64_t nan_key = -1;  // index of a NaN key, if any
  Tensor values, default_value;

  Status run(KernelContext& ctx) override {
    const Tensor* x = ctx.input(0);
    if (!x) return ctx.error("input X is missing");
    Tensor* y = ctx.output(0, values.dtype(), x->shape());
    int64_t n = x->numel();
    for (int64_t i = 0; i < n; ++i) {
      int64_t k = -1;
      if (x->dtype() == DType::kString) {
        auto it = str_keys.find(x->data<std::string>()[i]);
        if (it != str_keys.end()) k = it->second;
      } else if (dtype_is_integer(x->dtype())) {
        int64_t v = 0;
        (void)visit_dtype(x->dtype(), [&](auto tag) {
          using T = typename decltype(tag)::type;
          if constexpr (std::is_integral_v<T>) v = static_cast<int64_t>(x->data<T>()[i]);
        });
        auto it = int_keys.find(v);
        if (it != int_keys.end()) k = it->second;
      } else if (dtype_is_float(x->dtype())) {
        double v = load_double(*x, i);
        if (std::isnan(v)) {
          k = nan_key;
        } else {
          auto it = float_keys.find(v);
          if (it != float_keys.end()) k = it->second;
        }
      } else {
        return ctx.error(std::string("unsupported input type ") + dtype_name(x->dtype()));
      }
      if (k >= 0) copy_elem(values, k, *y, i);
      else copy_elem(default_value, 0, *y, i);
    }
    return Status::ok();
  }

  void add_keys(const Tensor& keys) {
    std::vector<int64_t> ints;
    if (dtype_is_integer(keys.dtype())) ints = to_int64_vector(keys);
    for (int64_t i = 0; i < keys.numel(); ++i) {
      if (keys.dtype() == DType::kString) {
        str_keys.emplace(keys.data<std::string>()[i], i);
      } else if (dtype_is_integer(keys.dtype())) {
        int_keys.emplace(ints[static_cast<size_t>(i)], i);
      } else {
        double v = load_double(keys, i);
        if (std::isnan(v)) {
          if (nan_key < 0) nan_key = i;
        } else {
          float_keys.emplace(v, i);
        }
      }
    }
  }
};

Tensor default_for(DType t) {
  if (t == DType::kString) return Tensor::from_vector<std::string>(t, {1}, {"_Unused"});
  Tensor d = Tensor::zeros(t, {1});
  store_double(d, 0, dtype_is_float(t) ? -0.0 : -1.0);
  return d;
}

Expected<std::unique_ptr<CpuKernel>> make_label_encoder(const Node& n) {
  auto k = std::make_unique<LabelEncoderKernel>();
  if (n.attr("classes_strings")) {  // opset 1: string <-> index in classes_strings
    std::vector<std::string> cls = n.attr_strings("classes_strings");
    Tensor cs = Tensor::from_vector<std::string>(DType::kString, {static_cast<int64_t>(cls.size())}, cls);
    std::vector<int64_t> ids(cls.size());
    for (size_t i = 0; i < ids.size(); ++i) ids[i] = static_cast<int64_t>(i);
    Tensor is = Tensor::from_vector<int64_t>(DType::kInt64, {static_cast<int64_t>(ids.size())}, ids);
    // Two encoders, one per direction; the input type picks one at run time.
    class Opset1 : public CpuKernel {
     public:
      LabelEncoderKernel to_int, to_str;
      Status run(KernelContext& ctx) override {
        const Tensor* x = ctx.input(0);
        if (!x) return ctx.error("input X is missing");
        return x->dtype() == DType::kString ? to_int.run(ctx) : to_str.run(ctx);
      }
    };
    auto o = std::make_unique<Opset1>();
    o->to_int.add_keys(cs);
    o->to_int.values = is;
    o->to_int.default_value = Tensor::from_vector<int64_t>(DType::kInt64, {1}, {n.attr_int("default_int64", -1)});
    o->to_str.add_keys(is);
    o->to_str.values = cs;
    o->to_str.default_value =
        Tensor::from_vector<std::string>(DType::kString, {1}, {n.attr_string("default_string", "_Unused")});
    return std::unique_ptr<CpuKernel>(std::move(o));
  }
  // Keys.
  Tensor keys;
  if (const Tensor* t = n.attr_tensor("keys_tensor")) {
    keys = *t;
  } else if (n.attr("keys_strings")) {
    auto v = n.attr_strings("keys_strings");
    keys = Tensor::from_vector<std::string>(DType::kString, {static_cast<int64_t>(v.size())}, v);
  } else if (n.attr("keys_int64s")) {
    auto v = n.attr_ints("keys_int64s");
    keys = Tensor::from_vector<int64_t>(DType::kInt64, {static_cast<int64_t>(v.size())}, v);
  } else if (n.attr("keys_floats")) {
    auto v = n.attr_floats("keys_floats");
    keys = Tensor::from_vector<float>(DType::kFloat, {static_cast<int64_t>(v.size())}, v);
  } else {
    return node_error(n, "one of keys_strings, keys_int64s, keys_floats, keys_tensor is required");
  }
  // Values and default.
  if (const Tensor* t = n.attr_tensor("values_tensor")) {
    k->values = *t;
  } else if (n.attr("values_strings")) {
    auto v = n.attr_strings("values_strings");
    k->values = Tensor::from_vector<std::string>(DType::kString, {static_cast<int64_t>(v.size())}, v);
  } else if (n.attr("values_int64s")) {
    auto v = n.attr_ints("values_int64s");
    k->values = Tensor::from_vector<int64_t>(DType::kInt64, {static_cast<int64_t>(v.size())}, v);
  } else if (n.attr("values_floats")) {
    auto v = n.attr_floats("values_floats");
    k->values = Tensor::from_vector<float>(DType::kFloat, {static_cast<int64_t>(v.size())}, v);
  } else {
    return node_error(n, "one of values_strings, values_int64s, values_floats, values_tensor is required");
  }
  if (keys.numel() != k->values.numel())
    return node_error(n, "keys and values have different lengths (" + std::to_string(keys.numel()) + " vs " +
                             std::to_string(k->values.numel()) + ")");
  if (!visit_dtype(k->values.dtype(), [](auto) {}).is_ok())
    return node_error(n, std::string("unsupported values type ") + dtype_name(k->values.dtype()));
  DType vt = k->values.dtype();
  if (const Tensor* d = n.attr_tensor("default_tensor")) {
    if (d->numel() != 1 || d->dtype() != vt) return node_error(n, "default_tensor must be one element of the values type");
    k->default_value = *d;
  } else if (vt == DType::kString) {
    k->default_value = Tensor::from_vector<std::string>(vt, {1}, {n.attr_string("default_string", "_Unused")});
  } else if (vt == DType::kInt64 && n.attr("default_int64")) {
    k->default_value = Tensor::from_vector<int64_t>(vt, {1}, {n.attr_int("default_int64", -1)});
  } else if (vt == DType::kFloat && n.attr("default_float")) {
    k->default_value = Tensor::from_vector<float>(vt, {1}, {n.attr_float("default_float", -0.0f)});
  } else {
    k->default_value = default_for(vt);
  }
  k->add_keys(keys);
  return std::unique_ptr<CpuKernel>(std::move(k));
}

// ---------------- Binarizer ----------------
Status binarizer(KernelContext& ctx) {
  const Tensor& x = *ctx.input(0);
  if (x.dtype() == DType::kString || x.dtype() == DType::kBool) return ctx.error("X must be numeric");
  double thr = ctx.node().attr_float("threshold", 0.0f);
  Tensor* y = ctx.output(0, x.dtype(), x.shape());
  for (int64_t i = 0; i < x.numel(); ++i) store_double(*y, i, load_double(x, i) > thr ? 1.0 : 0.0);
  return Status::ok();
}

// ---------------- ArrayFeatureExtractor ----------------
Status array_feature_extractor(KernelContext& ctx) {
  const Tensor& x = *ctx.input(0);
  const Tensor& ind = *ctx.input(1);
  if (x.rank() < 1) return ctx.error("X must have rank >= 1");
  std::vector<int64_t> idx = to_int64_vector(ind);
  int64_t last = x.dim(x.rank() - 1);
  for (int64_t v : idx)
    if (v < 0 || v >= last)
      return ctx.error("index " + std::to_string(v) + " out of range [0, " + std::to_string(last) + ")");
  Shape ys = x.shape();
  if (x.rank() == 1) ys.insert(ys.begin(), 1);
  ys.back() = static_cast<int64_t>(idx.size());
  Tensor* y = ctx.output(0, x.dtype(), ys);
  int64_t rows = last == 0 ? 0 : x.numel() / last, k = static_cast<int64_t>(idx.size());
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t j = 0; j < k; ++j) copy_elem(x, r * last + idx[static_cast<size_t>(j)], *y, r * k + j);
  return Status::ok();
}

}  // namespace

void register_ml_kernels(KernelRegistry& r) {
  r.add("ai.onnx.ml", "LabelEncoder", make_label_encoder);
  r.add_fn("ai.onnx.ml", "Binarizer", binarizer);
  r.add_fn("ai.onnx.ml", "ArrayFeatureExtractor", array_feature_extractor);
  register_ml_tree_kernels(r);
}

}  // namespace ferry
