// ml_tree.cc — CPU reference kernels of ai.onnx.ml TreeEnsemble (opset 5) and ai.onnx TfIdfVectorizer.
#include <algorithm>
#include <cmath>
#include <limits>
#include <map>

#include "backends/cpu/kernel.h"
#include "core/dtype_dispatch.h"

namespace ferry {

namespace {

Status node_error(const Node& n, const std::string& msg) {
  return invalid_argument("node " + n.display_name() + ": " + msg);
}

// ---------------- TreeEnsemble ----------------
enum class Mode { kLeq = 0, kLt, kGte, kGt, kEq, kNeq, kMember };

// Inverse error function: initial rational approximation refined by two Newton steps.
double erfinv(double y) {
  if (y <= -1) return -std::numeric_limits<double>::infinity();
  if (y >= 1) return std::numeric_limits<double>::infinity();
  double w = -std::log((1.0 - y) * (1.0 + y)), x;
  if (w < 5.0) {
    w -= 2.5;
    x = 2.81022636e-08;
    for (double c : {3.43273939e-07, -3.5233877e-06, -4.39150654e-06, 0.00021858087, -0.00125372503, -0.00417768164,
                     0.246640727, 1.50140941})
      x = c + x * w;
  } else {
    w = std::sqrt(w) - 3.0;
    x = -0.000200214257;
    for (double c : {0.000100950558, 0.00134934322, -0.00367342844, 0.00573950773, -0.0076224613, 0.00943887047,
                     1.00167406, 2.83297682})
      x = c + x * w;
  }
  x *= y;
  for (int i = 0; i < 2; ++i) x -= (std::erf(x) - y) / (2.0 / std::sqrt(M_PI) * std::exp(-x * x));
  return x;
}

class TreeEnsembleKernel : public CpuKernel {
 public:
  std::vector<int64_t> feature, true_id, false_id, true_leaf, false_leaf, roots, leaf_target, track_missing;
  std::vector<Mode> mode;
  std::vector<double> split, leaf_weight;
  std::vector<std::vector<double>> member_sets;  // per node (empty unless kMember)
  int64_t n_targets = 0, aggregate = 1, post = 0;

  Status run(KernelContext& ctx) override {
    const Tensor& x = *ctx.input(0);
    if (x.rank() != 2 && x.rank() != 1) return ctx.error("X must be 2-D");
    int64_t n = x.rank() == 2 ? x.dim(0) : 1, f = x.dim(x.rank() - 1);
    for (int64_t fid : feature)
      if (fid >= f) return ctx.error("feature id " + std::to_string(fid) + " >= number of features " + std::to_string(f));
    Tensor* y = ctx.output(0, x.dtype(), {n, n_targets});
    std::vector<double> xs = to_double_vector(x);
    double init = aggregate == 2 ? std::numeric_limits<double>::max()
                  : aggregate == 3 ? std::numeric_limits<double>::lowest()
                                   : 0.0;
    std::vector<double> res(static_cast<size_t>(n * n_targets), init);
    size_t nn = mode.size();
    for (int64_t r = 0; r < n; ++r) {
      const double* row = xs.data() + r * f;
      double* out = res.data() + r * n_targets;
      for (int64_t root : roots) {
        int64_t id = root;
        bool leaf = false;
        for (size_t steps = 0; !leaf; ++steps) {
          if (steps > nn) return ctx.error("tree has a cycle (node " + std::to_string(id) + ")");
          size_t i = static_cast<size_t>(id);
          bool go = eval(i, row[feature[i]]);
          id = go ? true_id[i] : false_id[i];
          leaf = go ? true_leaf[i] != 0 : false_leaf[i] != 0;
          if (!leaf && (id < 0 || static_cast<size_t>(id) >= nn)) return ctx.error("node id out of range");
        }
        size_t l = static_cast<size_t>(id);
        double& o = out[leaf_target[l]];
        if (aggregate == 2) o = std::min(o, leaf_weight[l]);
        else if (aggregate == 3) o = std::max(o, leaf_weight[l]);
        else o += leaf_weight[l];
      }
      if (aggregate == 0 && !roots.empty())
        for (int64_t t = 0; t < n_targets; ++t) out[t] /= static_cast<double>(roots.size());
      transform(out);
    }
    for (size_t i = 0; i < res.size(); ++i) store_double(*y, static_cast<int64_t>(i), res[i]);
    return Status::ok();
  }

 private:
  bool eval(size_t i, double v) const {
    if (std::isnan(v) && track_missing.size() > i && track_missing[i]) return true;
    double s = split[i];
    switch (mode[i]) {
      case Mode::kLeq: return v <= s;
      case Mode::kLt: return v < s;
      case Mode::kGte: return v >= s;
      case Mode::kGt: return v > s;
      case Mode::kEq: return v == s;
      case Mode::kNeq: return v != s;
      case Mode::kMember:
        return std::find(member_sets[i].begin(), member_sets[i].end(), v) != member_sets[i].end();
    }
    return false;
  }

  void transform(double* out) const {
    int64_t t = n_targets;
    if (post == 1 || post == 3) {  // SOFTMAX, SOFTMAX_ZERO (zeros stay zero and are left out)
      double mx = std::numeric_limits<double>::lowest(), sum = 0;
      for (int64_t k = 0; k < t; ++k)
        if (post == 1 || out[k] != 0) mx = std::max(mx, out[k]);
      for (int64_t k = 0; k < t; ++k) {
        if (post == 3 && out[k] == 0) continue;
        out[k] = std::exp(out[k] - mx);
        sum += out[k];
      }
      for (int64_t k = 0; k < t; ++k)
        if (sum > 0) out[k] /= sum;
    } else if (post == 2) {  // LOGISTIC
      for (int64_t k = 0; k < t; ++k) out[k] = 1.0 / (1.0 + std::exp(-out[k]));
    } else if (post == 4) {  // PROBIT
      for (int64_t k = 0; k < t; ++k) out[k] = std::sqrt(2.0) * erfinv(2.0 * out[k] - 1.0);
    }
  }
};

Expected<std::unique_ptr<CpuKernel>> make_tree_ensemble(const Node& n) {
  auto k = std::make_unique<TreeEnsembleKernel>();
  k->feature = n.attr_ints("nodes_featureids");
  k->true_id = n.attr_ints("nodes_truenodeids");
  k->false_id = n.attr_ints("nodes_falsenodeids");
  k->true_leaf = n.attr_ints("nodes_trueleafs");
  k->false_leaf = n.attr_ints("nodes_falseleafs");
  k->roots = n.attr_ints("tree_roots");
  k->leaf_target = n.attr_ints("leaf_targetids");
  k->track_missing = n.attr_ints("nodes_missing_value_tracks_true");
  k->n_targets = n.attr_int("n_targets", 0);
  k->aggregate = n.attr_int("aggregate_function", 1);
  k->post = n.attr_int("post_transform", 0);
  const Tensor* modes = n.attr_tensor("nodes_modes");
  const Tensor* splits = n.attr_tensor("nodes_splits");
  const Tensor* weights = n.attr_tensor("leaf_weights");
  if (!modes || !splits || !weights) return node_error(n, "nodes_modes, nodes_splits and leaf_weights are required");
  size_t nn = k->feature.size();
  if (k->true_id.size() != nn || k->false_id.size() != nn || k->true_leaf.size() != nn ||
      k->false_leaf.size() != nn || static_cast<size_t>(modes->numel()) != nn ||
      static_cast<size_t>(splits->numel()) != nn)
    return node_error(n, "nodes_* attributes have different lengths");
  if (k->n_targets <= 0) return node_error(n, "n_targets must be positive");
  if (k->aggregate < 0 || k->aggregate > 3) return node_error(n, "aggregate_function must be in [0, 3]");
  if (k->post < 0 || k->post > 4) return node_error(n, "post_transform must be in [0, 4]");
  k->split = to_double_vector(*splits);
  k->leaf_weight = to_double_vector(*weights);
  size_t nl = k->leaf_weight.size();
  if (k->leaf_target.size() != nl) return node_error(n, "leaf_targetids and leaf_weights have different lengths");
  for (int64_t t : k->leaf_target)
    if (t < 0 || t >= k->n_targets) return node_error(n, "leaf target id out of range");
  for (int64_t fid : k->feature)
    if (fid < 0) return node_error(n, "negative feature id");
  for (size_t i = 0; i < nn; ++i) {
    size_t lim_t = k->true_leaf[i] ? nl : nn, lim_f = k->false_leaf[i] ? nl : nn;
    if (k->true_id[i] < 0 || static_cast<size_t>(k->true_id[i]) >= lim_t || k->false_id[i] < 0 ||
        static_cast<size_t>(k->false_id[i]) >= lim_f)
      return node_error(n, "node " + std::to_string(i) + " points to a node/leaf out of range");
  }
  for (int64_t r : k->roots)
    if (r < 0 || static_cast<size_t>(r) >= nn) return node_error(n, "tree root out of range");
  std::vector<int64_t> mv = to_int64_vector(*modes);
  std::vector<double> members;
  if (const Tensor* m = n.attr_tensor("membership_values")) members = to_double_vector(*m);
  size_t mpos = 0;
  k->member_sets.resize(nn);
  for (size_t i = 0; i < nn; ++i) {
    if (mv[i] < 0 || mv[i] > 6) return node_error(n, "nodes_modes value out of range");
    k->mode.push_back(static_cast<Mode>(mv[i]));
    if (mv[i] == 6) {  // the next NaN-terminated run of membership_values
      while (mpos < members.size() && !std::isnan(members[mpos])) k->member_sets[i].push_back(members[mpos++]);
      ++mpos;
    }
  }
  return std::unique_ptr<CpuKernel>(std::move(k));
}

// ---------------- TfIdfVectorizer ----------------
// Counts n-grams (n in [min, max]) whose items are `skip + 1` apart, for every skip in [0, max_skip_count];
// unigrams are counted once. Pool n-grams are looked up as vectors of int64 or of strings.
class TfIdfKernel : public CpuKernel {
 public:
  std::map<std::vector<int64_t>, int64_t> int_pool;
  std::map<std::vector<std::string>, int64_t> str_pool;
  std::vector<float> weights;
  int64_t min_n = 1, max_n = 1, max_skip = 0, width = 0;
  int mode = 0;  // 0 TF, 1 IDF, 2 TFIDF

  Status run(KernelContext& ctx) override {
    const Tensor& x = *ctx.input(0);
    bool is_str = x.dtype() == DType::kString;
    if (!is_str && x.dtype() != DType::kInt32 && x.dtype() != DType::kInt64)
      return ctx.error("X must be string, int32 or int64");
    if (x.rank() != 1 && x.rank() != 2) return ctx.error("X must be 1-D or 2-D");
    int64_t rows = x.rank() == 2 ? x.dim(0) : 1, c = x.dim(x.rank() - 1);
    Tensor* y = ctx.output(0, DType::kFloat, x.rank() == 2 ? Shape{rows, width} : Shape{width});
    float* py = y->data<float>();
    std::fill(py, py + y->numel(), 0.0f);
    std::vector<int64_t> ix;
    if (!is_str) ix = to_int64_vector(x);
    for (int64_t r = 0; r < rows; ++r) {
      float* out = py + r * width;
      for (int64_t start = 0; start < c; ++start) {
        for (int64_t skip = 0; skip <= max_skip; ++skip) {
          for (int64_t len = std::max<int64_t>(min_n, 1); len <= max_n; ++len) {
            if (len == 1 && skip > 0) continue;
            int64_t last = start + (len - 1) * (skip + 1);
            if (last >= c) break;
            int64_t id = -1;
            if (is_str) {
              std::vector<std::string> g;
              for (int64_t k = 0; k < len; ++k) g.push_back(x.data<std::string>()[r * c + start + k * (skip + 1)]);
              auto it = str_pool.find(g);
              if (it != str_pool.end()) id = it->second;
            } else {
              std::vector<int64_t> g;
              for (int64_t k = 0; k < len; ++k) g.push_back(ix[static_cast<size_t>(r * c + start + k * (skip + 1))]);
              auto it = int_pool.find(g);
              if (it != int_pool.end()) id = it->second;
            }
            if (id >= 0) out[id] += 1.0f;
          }
        }
      }
      for (int64_t k = 0; k < width; ++k) {
        float w = static_cast<size_t>(k) < weights.size() ? weights[static_cast<size_t>(k)] : 1.0f;
        if (mode == 1) out[k] = out[k] > 0 ? w : 0.0f;
        else if (mode == 2) out[k] *= w;
      }
    }
    return Status::ok();
  }
};

Expected<std::unique_ptr<CpuKernel>> make_tfidf(const Node& n) {
  auto k = std::make_unique<TfIdfKernel>();
  k->min_n = n.attr_int("min_gram_length", 1);
  k->max_n = n.attr_int("max_gram_length", 1);
  k->max_skip = n.attr_int("max_skip_count", 0);
  std::string mode = n.attr_string("mode", "TF");
  k->mode = mode == "IDF" ? 1 : mode == "TFIDF" ? 2 : 0;
  std::vector<int64_t> counts = n.attr_ints("ngram_counts");
  std::vector<int64_t> indexes = n.attr_ints("ngram_indexes");
  std::vector<float> w = n.attr_floats("weights");
  std::vector<int64_t> pool_i = n.attr_ints("pool_int64s");
  std::vector<std::string> pool_s = n.attr_strings("pool_strings");
  bool is_str = !pool_s.empty();
  int64_t pool_size = is_str ? static_cast<int64_t>(pool_s.size()) : static_cast<int64_t>(pool_i.size());
  for (int64_t v : indexes) {
    // The output width is max(ngram_indexes) + 1: bound it so a hostile model cannot make us allocate gigabytes.
    if (v < 0 || v >= (int64_t{1} << 24))
      return node_error(n, "ngram_indexes value " + std::to_string(v) + " out of range [0, 2^24)");
    k->width = std::max(k->width, v + 1);
  }
  // Weights are given per n-gram (in pool order); store them per output index.
  k->weights.assign(static_cast<size_t>(k->width), 1.0f);
  size_t gram = 0;
  for (size_t lvl = 0; lvl < counts.size(); ++lvl) {
    int64_t len = static_cast<int64_t>(lvl) + 1;
    int64_t begin = counts[lvl], end = lvl + 1 < counts.size() ? counts[lvl + 1] : pool_size;
    if (begin < 0 || end > pool_size || begin > end || (end - begin) % len != 0)
      return node_error(n, "ngram_counts inconsistent with the pool size");
    for (int64_t p = begin; p < end; p += len, ++gram) {
      if (gram >= indexes.size()) return node_error(n, "fewer ngram_indexes than n-grams in the pool");
      int64_t out = indexes[gram];
      if (out < 0) return node_error(n, "negative ngram index");
      if (gram < w.size()) k->weights[static_cast<size_t>(out)] = w[gram];
      if (is_str) {
        k->str_pool[std::vector<std::string>(pool_s.begin() + p, pool_s.begin() + p + len)] = out;
      } else {
        k->int_pool[std::vector<int64_t>(pool_i.begin() + p, pool_i.begin() + p + len)] = out;
      }
    }
  }
  return std::unique_ptr<CpuKernel>(std::move(k));
}

}  // namespace

void register_ml_tree_kernels(KernelRegistry& r) {
  r.add("ai.onnx.ml", "TreeEnsemble", make_tree_ensemble);
  r.add("", "TfIdfVectorizer", make_tfidf);
}

}  // namespace ferry
