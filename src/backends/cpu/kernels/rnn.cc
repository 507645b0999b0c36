// rnn.cc — CPU reference kernels of the rnn family: RNN, GRU, LSTM (ONNX semantics, every opset).
//
// One generic loop runs every cell type: for each direction and each batch row (rows are independent, so
// they run in parallel), walk the valid steps of that row (sequence_lens) forward or backward, compute the
// gate pre-activations Xt*W^T + Ht-1*R^T + Wb + Rb in double, clip them, apply the activation functions and
// update the states. Steps past a row's length produce zeros in Y. Supports layout 0 and 1, initial states,
// peepholes, input_forget, clip, activations with activation_alpha/activation_beta, linear_before_reset.
#include <algorithm>
#include <cmath>
#include <string>

#include "backends/cpu/kernel.h"
#include "core/dtype_dispatch.h"

namespace ferry {
namespace {

enum class Cell { kRnn, kGru, kLstm };

struct Activation {
  std::string name;
  double alpha = 0, beta = 0;
  double operator()(double x) const {
    const std::string& n = name;
    if (n == "sigmoid") return 1.0 / (1.0 + std::exp(-x));
    if (n == "tanh") return std::tanh(x);
    if (n == "relu") return x > 0 ? x : 0;
    if (n == "affine") return alpha * x + beta;
    if (n == "leakyrelu") return x >= 0 ? x : alpha * x;
    if (n == "thresholdedrelu") return x > alpha ? x : 0;
    if (n == "scaledtanh") return alpha * std::tanh(beta * x);
    if (n == "hardsigmoid") return std::max(0.0, std::min(1.0, alpha * x + beta));
    if (n == "elu") return x >= 0 ? x : alpha * (std::exp(x) - 1);
    if (n == "softsign") return x / (1 + std::fabs(x));
    if (n == "softplus") return std::log1p(std::exp(-std::fabs(x))) + std::max(x, 0.0);
    return x;
  }
};

// Parses `activations` (+ alpha/beta consumed in order by the functions that take them), `per_dir` functions
// per direction; a list for one direction is reused for the other.
Expected<std::vector<Activation>> parse_activations(const Node& n, Cell cell, int dirs) {
  std::vector<std::string> defaults;
  if (cell == Cell::kRnn) defaults = {"Tanh"};
  else if (cell == Cell::kGru) defaults = {"Sigmoid", "Tanh"};
  else defaults = {"Sigmoid", "Tanh", "Tanh"};
  size_t per_dir = defaults.size();
  std::vector<std::string> names = n.attr_strings("activations", {});
  if (names.empty()) names = defaults;
  if (names.size() == per_dir && dirs == 2) {
    auto copy = names;
    names.insert(names.end(), copy.begin(), copy.end());
  }
  if (names.size() != per_dir * static_cast<size_t>(dirs))
    return invalid_argument("activations has " + std::to_string(names.size()) + " entries, expected " +
                            std::to_string(per_dir * static_cast<size_t>(dirs)));
  std::vector<float> alphas = n.attr_floats("activation_alpha", {}), betas = n.attr_floats("activation_beta", {});
  size_t ai = 0, bi = 0;
  std::vector<Activation> out;
  for (const auto& raw : names) {
    Activation a;
    for (char ch : raw) a.name += static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    double da = 0, db = 0;
    bool ua = false, ub = false;
    if (a.name == "affine") { da = 1; db = 0; ua = ub = true; }
    else if (a.name == "leakyrelu") { da = 0.01; ua = true; }
    else if (a.name == "thresholdedrelu") { da = 1; ua = true; }
    else if (a.name == "scaledtanh") { da = 1; db = 1; ua = ub = true; }
    else if (a.name == "hardsigmoid") { da = 0.2; db = 0.5; ua = ub = true; }
    else if (a.name == "elu") { da = 1; ua = true; }
    else if (a.name != "sigmoid" && a.name != "tanh" && a.name != "relu" && a.name != "softsign" &&
             a.name != "softplus")
      return unsupported("unknown activation '" + raw + "'");
    a.alpha = ua && ai < alphas.size() ? alphas[ai++] : da;
    a.beta = ub && bi < betas.size() ? betas[bi++] : db;
    out.push_back(a);
  }
  return out;
}

Status run_recurrent(KernelContext& ctx, Cell cell) {
  const Node& n = ctx.node();
  const int G = cell == Cell::kRnn ? 1 : cell == Cell::kGru ? 3 : 4;
  const Tensor& X = *ctx.input(0);
  const Tensor& W = *ctx.input(1);
  const Tensor& R = *ctx.input(2);
  const Tensor* B = ctx.input(3);
  const Tensor* SL = ctx.input(4);
  const Tensor* H0 = ctx.input(5);
  const Tensor* C0 = cell == Cell::kLstm ? ctx.input(6) : nullptr;
  const Tensor* P = cell == Cell::kLstm ? ctx.input(7) : nullptr;
  const int64_t layout = n.attr_int("layout", 0);
  std::string dir = n.attr_string("direction", "forward");
  const int D = dir == "bidirectional" ? 2 : 1;
  if (X.rank() != 3 || W.rank() != 3 || R.rank() != 3) return ctx.error("X, W and R must have rank 3");
  const int64_t S = layout == 0 ? X.dim(0) : X.dim(1), NB = layout == 0 ? X.dim(1) : X.dim(0), I = X.dim(2);
  const int64_t H = n.attr_int("hidden_size", W.dim(1) / G);
  if (H <= 0 || W.dim(0) != D || W.dim(1) != G * H || W.dim(2) != I || R.dim(0) != D || R.dim(1) != G * H ||
      R.dim(2) != H)
    return ctx.error("W/R shapes " + shape_to_string(W.shape()) + " " + shape_to_string(R.shape()) +
                     " do not match X " + shape_to_string(X.shape()) + ", hidden_size " + std::to_string(H));
  if (B && (B->numel() != D * 2 * G * H)) return ctx.error("B has wrong size");
  if (P && (P->numel() != D * 3 * H)) return ctx.error("P has wrong size");
  if (H0 && H0->numel() != D * NB * H) return ctx.error("initial_h has wrong size");
  if (C0 && C0->numel() != D * NB * H) return ctx.error("initial_c has wrong size");
  if (SL && SL->numel() != NB) return ctx.error("sequence_lens must have batch_size elements");
  auto acts = parse_activations(n, cell, D);
  if (!acts) return ctx.error(acts.status().message());
  const float clip = n.attr_float("clip", 0.f);
  const bool use_clip = n.attr(std::string("clip")) != nullptr && clip > 0;
  const bool lbr = n.attr_int("linear_before_reset", 0) != 0;
  const bool input_forget = n.attr_int("input_forget", 0) != 0;

  std::vector<int64_t> lens(static_cast<size_t>(NB), S);
  if (SL) {
    lens = to_int64_vector(*SL);
    for (int64_t l : lens)
      if (l < 0 || l > S) return ctx.error("sequence_lens value " + std::to_string(l) + " out of range [0, " +
                                           std::to_string(S) + "]");
  }
  std::vector<double> x = to_double_vector(X), w = to_double_vector(W), r = to_double_vector(R);
  std::vector<double> b = B ? to_double_vector(*B) : std::vector<double>(static_cast<size_t>(D * 2 * G * H), 0.0);
  std::vector<double> p = P ? to_double_vector(*P) : std::vector<double>(static_cast<size_t>(D * 3 * H), 0.0);
  std::vector<double> h0 = H0 ? to_double_vector(*H0) : std::vector<double>(static_cast<size_t>(D * NB * H), 0.0);
  std::vector<double> c0 = C0 ? to_double_vector(*C0) : std::vector<double>(static_cast<size_t>(D * NB * H), 0.0);

  auto xi = [&](int64_t t, int64_t bb) { return layout == 0 ? (t * NB + bb) * I : (bb * S + t) * I; };
  auto yi = [&](int64_t t, int64_t d, int64_t bb) {
    return layout == 0 ? ((t * D + d) * NB + bb) * H : ((bb * S + t) * D + d) * H;
  };
  auto si = [&](int64_t d, int64_t bb) { return layout == 0 ? (d * NB + bb) * H : (bb * D + d) * H; };

  std::vector<double> y(static_cast<size_t>(S * D * NB * H), 0.0), yh(static_cast<size_t>(D * NB * H), 0.0),
      yc(static_cast<size_t>(D * NB * H), 0.0);
  auto cl = [&](double v) { return use_clip ? std::max(-static_cast<double>(clip), std::min<double>(clip, v)) : v; };

  ctx.pool().parallel_for(D * NB, [&](int64_t begin, int64_t end) {
    std::vector<double> h(H), c(H), gx(G * H), gh(G * H), nh(H), nh_zr(2 * H);
    for (int64_t job = begin; job < end; ++job) {
      const int64_t d = job / NB, bb = job % NB;
      const bool reverse = dir == "reverse" || d == 1;
      const Activation* f = &(*acts)[static_cast<size_t>(d * (G == 1 ? 1 : G == 3 ? 2 : 3))];
      const double* wd = &w[static_cast<size_t>(d * G * H * I)];
      const double* rd = &r[static_cast<size_t>(d * G * H * H)];
      const double* wb = &b[static_cast<size_t>(d * 2 * G * H)];
      const double* rb = wb + G * H;
      const double* pd = &p[static_cast<size_t>(d * 3 * H)];
      for (int64_t k = 0; k < H; ++k) {
        h[k] = h0[static_cast<size_t>(si(d, bb) + k)];
        c[k] = c0[static_cast<size_t>(si(d, bb) + k)];
      }
      const int64_t len = lens[static_cast<size_t>(bb)];
      for (int64_t s = 0; s < len; ++s) {
        const int64_t t = reverse ? len - 1 - s : s;
        const double* xt = &x[static_cast<size_t>(xi(t, bb))];
        for (int64_t g = 0; g < G * H; ++g) {
          double ax = wb[g], ah = rb[g];
          for (int64_t i = 0; i < I; ++i) ax += xt[i] * wd[g * I + i];
          for (int64_t k = 0; k < H; ++k) ah += h[k] * rd[g * H + k];
          gx[g] = ax;
          gh[g] = ah;
        }
        if (cell == Cell::kRnn) {
          for (int64_t k = 0; k < H; ++k) nh[k] = f[0](cl(gx[k] + gh[k]));
        } else if (cell == Cell::kGru) {
          // gate order z, r, h; z and r first because h~ needs all of r when linear_before_reset = 0
          for (int64_t k = 0; k < 2 * H; ++k) nh_zr[k] = f[0](cl(gx[k] + gh[k]));
          for (int64_t k = 0; k < H; ++k) {
            double z = nh_zr[k], rr = nh_zr[H + k], hh;
            if (lbr) {
              hh = f[1](cl(gx[2 * H + k] + rr * gh[2 * H + k]));
            } else {
              double acc = rb[2 * H + k];
              for (int64_t j = 0; j < H; ++j) acc += nh_zr[H + j] * h[j] * rd[(2 * H + k) * H + j];
              hh = f[1](cl(gx[2 * H + k] + acc));
            }
            nh[k] = (1 - z) * hh + z * h[k];
          }
        } else {
          // gate order i, o, f, c; peepholes P = [Pi, Po, Pf]
          for (int64_t k = 0; k < H; ++k) {
            double ig = f[0](cl(gx[k] + gh[k] + pd[k] * c[k]));
            double fg = input_forget ? 1 - ig : f[0](cl(gx[2 * H + k] + gh[2 * H + k] + pd[2 * H + k] * c[k]));
            double cc = f[1](cl(gx[3 * H + k] + gh[3 * H + k]));
            double ct = fg * c[k] + ig * cc;
            double og = f[0](cl(gx[H + k] + gh[H + k] + pd[H + k] * ct));
            nh[k] = og * f[2](ct);
            gx[3 * H + k] = ct;  // new cell state, committed below
          }
          for (int64_t k = 0; k < H; ++k) c[k] = gx[3 * H + k];
        }
        for (int64_t k = 0; k < H; ++k) {
          h[k] = nh[k];
          y[static_cast<size_t>(yi(t, d, bb) + k)] = h[k];
        }
      }
      for (int64_t k = 0; k < H; ++k) {
        yh[static_cast<size_t>(si(d, bb) + k)] = h[k];
        yc[static_cast<size_t>(si(d, bb) + k)] = c[k];
      }
    }
  });

  const std::vector<double>* results[3] = {&y, &yh, &yc};
  for (int o = 0; o < ctx.num_outputs() && o < 3; ++o) {
    if (!ctx.has_output(o)) continue;
    FERRY_ASSIGN_OR_RETURN(Tensor * out, ctx.output(o));
    if (out->numel() != static_cast<int64_t>(results[o]->size())) return ctx.error("output size mismatch");
    for (int64_t i = 0; i < out->numel(); ++i) store_double(*out, i, (*results[o])[static_cast<size_t>(i)]);
  }
  return Status::ok();
}

Status rnn(KernelContext& ctx) { return run_recurrent(ctx, Cell::kRnn); }
Status gru(KernelContext& ctx) { return run_recurrent(ctx, Cell::kGru); }
Status lstm(KernelContext& ctx) { return run_recurrent(ctx, Cell::kLstm); }

}  // namespace

void register_rnn_kernels(KernelRegistry& r) {
  r.add_fn("", "RNN", rnn);
  r.add_fn("", "GRU", gru);
  r.add_fn("", "LSTM", lstm);
}

}  // namespace ferry
