// kernels_bench.cuh — the --bench / --bench-only timings of kernels_test.cu (model-sized FP16 cases, CUDA events,
// median of 50 after 10 warm-ups). Included once, by kernels_test.cu, inside its anonymous namespace.
#pragma once

// ---------------------------------------------------------------- --bench
// Median of 50 timed launches after 10 warm-ups, CUDA events around each launch.
float time_ms(const std::function<cudaError_t()>& f) {
  cudaEvent_t a, b;
  cudaEventCreate(&a);
  cudaEventCreate(&b);
  for (int i = 0; i < 10; ++i) f();
  std::vector<float> t;
  for (int i = 0; i < 50; ++i) {
    cudaEventRecord(a);
    f();
    cudaEventRecord(b);
    cudaEventSynchronize(b);
    float ms = 0;
    cudaEventElapsedTime(&ms, a, b);
    t.push_back(ms);
  }
  cudaEventDestroy(a);
  cudaEventDestroy(b);
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

void bench() {
  using H = __half;
  std::printf("\nbench (FP16, median of 50; GB/s counts bytes read + written once)\n");
  auto line = [](const char* name, float ms, double bytes, double flops) {
    std::printf("  %-46s %8.3f ms %7.0f GB/s", name, ms, bytes / ms / 1e6);
    if (flops > 0) std::printf(" %6.1f TFLOP/s", flops / ms / 1e9);
    std::printf("\n");
  };
  {
    int64_t n = 64LL * 64 * 112 * 112;  // resnet50 b64 stem activation
    Dev<H> a(rnd<H>(n)), b(rnd<H>(n)), y(n);
    int64_t s[1] = {n};
    k::BroadcastDesc d;
    k::make_broadcast(s, 1, s, 1, &d);
    line("add (b64x64x112x112)", time_ms([&] { return k::binary(k::BinaryOp::Add, a.p, b.p, y.p, d, nullptr); }),
         3.0 * n * 2, 0);
    line("relu (same)", time_ms([&] { return k::unary(k::UnaryOp::Relu, a.p, y.p, n, 0, 0, nullptr); }), 2.0 * n * 2, 0);
    Dev<float> f(n);
    line("nhwc_to_nchw f16->f32 (same)", time_ms([&] { return k::nhwc_to_nchw(a.p, f.p, 64, 64, 112 * 112, nullptr); }),
         n * 6.0, 0);
  }
  {
    int64_t rows = 256LL * 197, cols = 768;  // vit_b_16 b256 LayerNorm
    Dev<H> x(rnd<H>(rows * cols)), r(rnd<H>(rows * cols)), g(rnd<H>(cols)), bt(rnd<H>(cols)), y(rows * cols), s(rows * cols);
    line("layer_norm 50432x768", time_ms([&] { return k::layer_norm(x.p, (H*)nullptr, g.p, bt.p, y.p, (H*)nullptr, rows, cols, 1e-6f, nullptr); }),
         4.0 * rows * cols, 0);
    line("layer_norm +residual+sum_out 50432x768", time_ms([&] { return k::layer_norm(x.p, r.p, g.p, bt.p, y.p, s.p, rows, cols, 1e-6f, nullptr); }),
         8.0 * rows * cols, 0);
  }
  {
    int64_t rows = 256LL * 12 * 197, cols = 197;
    Dev<H> x(rnd<H>(rows * cols)), y(rows * cols);
    line("softmax 605184x197", time_ms([&] { return k::softmax(x.p, y.p, rows, cols, nullptr); }), 4.0 * rows * cols, 0);
  }
  for (int bsz : {1, 256}) {
    int s = 197, h = 12, dim = 64;
    size_t n = size_t(bsz) * s * h * dim;
    Dev<H> q(rnd<H>(n)), kk(rnd<H>(n)), v(rnd<H>(n)), o(n);
    k::AttentionDesc d;
    d.batch = bsz; d.heads = h; d.seq_q = s; d.seq_k = s; d.head_dim = dim; d.scale = 0.125f;
    int64_t st[3] = {int64_t(s) * h * dim, dim, int64_t(h) * dim};
    for (int i = 0; i < 3; ++i) d.q_strides[i] = d.k_strides[i] = d.v_strides[i] = d.o_strides[i] = st[i];
    std::string nm = "attention vit b" + std::to_string(bsz) + " (12h, s197, d64)";
    line(nm.c_str(), time_ms([&] { return k::attention(q.p, kk.p, v.p, (const float*)nullptr, o.p, d, nullptr); }),
         4.0 * n * 2, 4.0 * bsz * h * double(s) * s * dim);
  }
}

