// signal.cc — CPU reference kernels of the signal family: DFT, STFT, Hann/Hamming/Blackman windows,
// MelWeightMatrix.
//
// Transforms are direct O(n^2) sums in double with exact angle reduction ((k*t) mod n indexes a twiddle
// table), so bins that are mathematically zero (e.g. the imaginary part of the DC bin of a real signal) come
// out as exact zeros or within ~1e-15, which the ONNX tests require (atol 1e-7).
#include <cmath>
#include <vector>

#include "backends/cpu/kernel.h"
#include "core/dtype_dispatch.h"
#include "ops/signal_util.h"

namespace ferry {
namespace {

constexpr double kPi = 3.14159265358979323846;

struct Twiddles {
  std::vector<double> c, s;  // cos/sin(2*pi*j/n)
  explicit Twiddles(int64_t n) : c(static_cast<size_t>(n)), s(static_cast<size_t>(n)) {
    for (int64_t j = 0; j < n; ++j) {
      // Use symmetric evaluation so that quarter/half turns are exact.
      double a = 2.0 * kPi * static_cast<double>(j) / static_cast<double>(n);
      c[static_cast<size_t>(j)] = std::cos(a);
      s[static_cast<size_t>(j)] = std::sin(a);
      if (4 * j == n || 4 * j == 3 * n) c[static_cast<size_t>(j)] = 0.0;
      if (2 * j == n) s[static_cast<size_t>(j)] = 0.0;
    }
  }
};

int64_t scalar_int(const Tensor& t) { return to_int64_vector(t)[0]; }

Status dft(KernelContext& ctx) {
  const Node& n = ctx.node();
  const Tensor& x = *ctx.input(0);
  const int r = x.rank();
  if (r < 2) return ctx.error("input rank must be >= 2");
  const int64_t C = x.dim(r - 1);
  if (C != 1 && C != 2) return ctx.error("last dimension must be 1 or 2");
  const bool inverse = n.attr_int("inverse", 0) != 0, onesided = n.attr_int("onesided", 0) != 0;
  int64_t axis_v = n.attr_int("axis", 1);
  if (ctx.opset() >= 20) {
    axis_v = -2;
    if (const Tensor* a = ctx.input(2)) {
      if (a->numel() != 1) return ctx.error("axis must be a scalar");
      axis_v = scalar_int(*a);
    }
  }
  auto axis = dft_axis(axis_v, r);
  if (!axis) return ctx.error(axis.status().message());
  const int64_t L = x.dim(*axis);
  int64_t nfft = inverse && onesided ? 2 * (L - 1) : L;
  if (const Tensor* dl = ctx.input(1)) {
    if (dl->numel() != 1) return ctx.error("dft_length must be a scalar");
    nfft = scalar_int(*dl);
  }
  if (nfft <= 0) return ctx.error("DFT length must be positive, got " + std::to_string(nfft));
  if (nfft > (int64_t{1} << 24)) return ctx.unsupported_error("DFT length " + std::to_string(nfft) + " is too large");
  FERRY_ASSIGN_OR_RETURN(Tensor * y, ctx.output(0));
  const int64_t Lout = y->dim(*axis), Cout = y->dim(r - 1);
  int64_t outer = 1, inner = 1;
  for (int i = 0; i < *axis; ++i) outer *= x.dim(i);
  for (int i = *axis + 1; i < r - 1; ++i) inner *= x.dim(i);
  Twiddles tw(nfft);
  const double sign = inverse ? 1.0 : -1.0, scale = inverse ? 1.0 / static_cast<double>(nfft) : 1.0;
  const bool irfft = inverse && onesided;
  ctx.pool().parallel_for(outer * inner, [&](int64_t begin, int64_t end) {
    std::vector<double> re(static_cast<size_t>(nfft)), im(static_cast<size_t>(nfft));
    for (int64_t job = begin; job < end; ++job) {
      const int64_t o = job / inner, i = job % inner;
      auto in_at = [&](int64_t t, int64_t comp) { return load_double(x, ((o * L + t) * inner + i) * C + comp); };
      // Input line of length nfft (truncated or zero-padded; Hermitian-extended for irfft).
      for (int64_t t = 0; t < nfft; ++t) {
        double a = 0, b = 0;
        if (irfft) {
          int64_t half = nfft / 2 + 1;
          if (t < half) {
            if (t < L) { a = in_at(t, 0); b = C == 2 ? in_at(t, 1) : 0; }
          } else if (nfft - t < L) {
            a = in_at(nfft - t, 0);
            b = C == 2 ? -in_at(nfft - t, 1) : 0;
          }
        } else if (t < L) {
          a = in_at(t, 0);
          b = C == 2 ? in_at(t, 1) : 0;
        }
        re[static_cast<size_t>(t)] = a;
        im[static_cast<size_t>(t)] = b;
      }
      for (int64_t k = 0; k < Lout; ++k) {
        double sr = 0, si = 0;
        for (int64_t t = 0; t < nfft; ++t) {
          size_t j = static_cast<size_t>((k * t) % nfft);
          double cr = tw.c[j], ci = sign * tw.s[j];
          sr += re[static_cast<size_t>(t)] * cr - im[static_cast<size_t>(t)] * ci;
          si += re[static_cast<size_t>(t)] * ci + im[static_cast<size_t>(t)] * cr;
        }
        int64_t base = ((o * Lout + k) * inner + i) * Cout;
        store_double(*y, base, sr * scale);
        if (Cout == 2) store_double(*y, base + 1, si * scale);
      }
    }
  });
  return Status::ok();
}

Status stft(KernelContext& ctx) {
  const Tensor& x = *ctx.input(0);
  if (x.rank() != 3 || (x.dim(2) != 1 && x.dim(2) != 2)) return ctx.error("signal must have shape [batch, length, 1|2]");
  const Tensor* win = ctx.input(2);
  const int64_t B = x.dim(0), L = x.dim(1), C = x.dim(2);
  if (ctx.input(1)->numel() != 1) return ctx.error("frame_step must be a scalar");
  const int64_t step = scalar_int(*ctx.input(1));
  int64_t flen = win ? win->numel() : L;
  if (const Tensor* fl = ctx.input(3)) {
    if (fl->numel() != 1) return ctx.error("frame_length must be a scalar");
    flen = scalar_int(*fl);
  }
  if (step <= 0 || flen <= 0 || flen > L) return ctx.error("invalid frame_step/frame_length");
  if (flen > (int64_t{1} << 24)) return ctx.unsupported_error("frame_length is too large");
  if (win && (win->rank() != 1 || win->numel() != flen))
    return ctx.error("window length " + std::to_string(win->numel()) + " differs from frame_length " +
                     std::to_string(flen));
  FERRY_ASSIGN_OR_RETURN(Tensor * y, ctx.output(0));
  const int64_t frames = y->dim(1), bins = y->dim(2);
  std::vector<double> w = win ? to_double_vector(*win) : std::vector<double>(static_cast<size_t>(flen), 1.0);
  Twiddles tw(flen);
  ctx.pool().parallel_for(B * frames, [&](int64_t begin, int64_t end) {
    std::vector<double> re(static_cast<size_t>(flen)), im(static_cast<size_t>(flen));
    for (int64_t job = begin; job < end; ++job) {
      const int64_t b = job / frames, f = job % frames;
      for (int64_t t = 0; t < flen; ++t) {
        int64_t pos = f * step + t;
        double a = 0, c = 0;
        if (pos < L) {
          a = load_double(x, (b * L + pos) * C);
          c = C == 2 ? load_double(x, (b * L + pos) * C + 1) : 0;
        }
        re[static_cast<size_t>(t)] = a * w[static_cast<size_t>(t)];
        im[static_cast<size_t>(t)] = c * w[static_cast<size_t>(t)];
      }
      for (int64_t k = 0; k < bins; ++k) {
        double sr = 0, si = 0;
        for (int64_t t = 0; t < flen; ++t) {
          size_t j = static_cast<size_t>((k * t) % flen);
          double cr = tw.c[j], ci = -tw.s[j];
          sr += re[static_cast<size_t>(t)] * cr - im[static_cast<size_t>(t)] * ci;
          si += re[static_cast<size_t>(t)] * ci + im[static_cast<size_t>(t)] * cr;
        }
        int64_t base = ((b * frames + f) * bins + k) * 2;
        store_double(*y, base, sr);
        store_double(*y, base + 1, si);
      }
    }
  });
  return Status::ok();
}

enum class Window { kHann, kHamming, kBlackman };

Status window(KernelContext& ctx, Window kind) {
  FERRY_ASSIGN_OR_RETURN(Tensor * y, ctx.output(0));
  const int64_t size = y->numel();
  const bool periodic = ctx.node().attr_int("periodic", 1) != 0;
  const double N = static_cast<double>(periodic ? size : size - 1);
  for (int64_t i = 0; i < size; ++i) {
    double a = N > 0 ? 2.0 * kPi * static_cast<double>(i) / N : 0.0, v;
    if (kind == Window::kHann) v = 0.5 - 0.5 * std::cos(a);
    else if (kind == Window::kHamming) v = 25.0 / 46.0 - (21.0 / 46.0) * std::cos(a);
    else v = 0.42 - 0.5 * std::cos(a) + 0.08 * std::cos(2 * a);
    store_double(*y, i, v);
  }
  return Status::ok();
}

Status hann_window(KernelContext& ctx) { return window(ctx, Window::kHann); }
Status hamming_window(KernelContext& ctx) { return window(ctx, Window::kHamming); }
Status blackman_window(KernelContext& ctx) { return window(ctx, Window::kBlackman); }

// Triangular mel filter bank, as the ONNX reference computes it (mel edges in float32, bins in double).
Status mel_weight_matrix(KernelContext& ctx) {
  for (int i = 0; i < 5; ++i)
    if (ctx.input(i)->numel() != 1) return ctx.error("all inputs must be scalars");
  const int64_t bins = scalar_int(*ctx.input(0)), dft_length = scalar_int(*ctx.input(1));
  const int64_t rate = scalar_int(*ctx.input(2));
  const float lo = static_cast<float>(load_double(*ctx.input(3), 0));
  const float hi = static_cast<float>(load_double(*ctx.input(4), 0));
  if (bins <= 0 || dft_length <= 0 || rate <= 0) return ctx.error("num_mel_bins, dft_length and sample_rate must be positive");
  FERRY_ASSIGN_OR_RETURN(Tensor * y, ctx.output(0));
  const int64_t spec_bins = dft_length / 2 + 1;
  const float lo_mel = 2595.0f * std::log10(1.0f + lo / 700.0f);
  const float hi_mel = 2595.0f * std::log10(1.0f + hi / 700.0f);
  const float step = (hi_mel - lo_mel) / static_cast<float>(bins + 2);
  std::vector<int64_t> fb(static_cast<size_t>(bins + 2));
  for (int64_t i = 0; i < bins + 2; ++i) {
    double mel = static_cast<double>(i) * static_cast<double>(step) + static_cast<double>(lo_mel);
    double hz = 700.0 * (std::pow(10.0, mel / 2595.0) - 1.0);
    double bin = std::floor(static_cast<double>(dft_length + 1) * hz / static_cast<double>(rate));
    if (!std::isfinite(bin) || std::fabs(bin) > 1e15) return ctx.error("mel edges are not finite");
    fb[static_cast<size_t>(i)] = static_cast<int64_t>(bin);
  }
  std::vector<double> out(static_cast<size_t>(spec_bins * bins), 0.0);
  auto at = [&](int64_t row, int64_t col) -> double* {
    if (row < 0 || row >= spec_bins) return nullptr;
    return &out[static_cast<size_t>(row * bins + col)];
  };
  for (int64_t i = 0; i < bins; ++i) {
    int64_t l = fb[static_cast<size_t>(i)], c = fb[static_cast<size_t>(i + 1)], h = fb[static_cast<size_t>(i + 2)];
    if (c == l) {
      if (double* p = at(c, i)) *p = 1;
      else return ctx.error("mel bin edge outside the spectrogram (check sample_rate and upper_edge_hertz)");
    } else {
      for (int64_t j = l; j <= c; ++j) {
        double* p = at(j, i);
        if (!p) return ctx.error("mel bin edge outside the spectrogram (check sample_rate and upper_edge_hertz)");
        *p = static_cast<double>(j - l) / static_cast<double>(c - l);
      }
    }
    for (int64_t j = c; j < h; ++j) {
      double* p = at(j, i);
      if (!p) return ctx.error("mel bin edge outside the spectrogram (check sample_rate and upper_edge_hertz)");
      *p = static_cast<double>(h - j) / static_cast<double>(h - c);
    }
  }
  for (int64_t i = 0; i < y->numel(); ++i) store_double(*y, i, out[static_cast<size_t>(i)]);
  return Status::ok();
}

}  // namespace

void register_signal_kernels(KernelRegistry& r) {
  r.add_fn("", "DFT", dft);
  r.add_fn("", "STFT", stft);
  r.add_fn("", "HannWindow", hann_window);
  r.add_fn("", "HammingWindow", hamming_window);
  r.add_fn("", "BlackmanWindow", blackman_window);
  r.add_fn("", "MelWeightMatrix", mel_weight_matrix);
}

}  // namespace ferry
