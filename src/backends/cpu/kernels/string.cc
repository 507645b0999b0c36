// string.cc — CPU reference kernels of the string family: StringConcat, StringSplit, StringNormalizer,
// RegexFullMatch.
#include <pthread.h>

#include <algorithm>
#include <cwctype>
#include <locale>
#include <regex>
#include <unordered_set>

#include "backends/cpu/kernel.h"

namespace ferry {

namespace {

// Offset into a broadcast input for each output element (numpy rules; shapes already validated).
std::vector<int64_t> broadcast_offsets(const Shape& in, const Shape& out) {
  int64_t n = shape_numel(out);
  std::vector<int64_t> offs(static_cast<size_t>(n));
  size_t r = out.size();
  std::vector<int64_t> strides(r, 0);
  int64_t s = 1;
  for (size_t k = 0; k < in.size(); ++k) {
    size_t ik = in.size() - 1 - k, ok = r - 1 - k;
    strides[ok] = in[ik] == 1 ? 0 : s;
    s *= in[ik];
  }
  std::vector<int64_t> idx(r, 0);
  for (int64_t i = 0; i < n; ++i) {
    int64_t o = 0;
    for (size_t k = 0; k < r; ++k) o += idx[k] * strides[k];
    offs[static_cast<size_t>(i)] = o;
    for (size_t k = r; k-- > 0;) {
      if (++idx[k] < out[k]) break;
      idx[k] = 0;
    }
  }
  return offs;
}

Status check_string(KernelContext& ctx, int i) {
  const Tensor* t = ctx.input(i);
  if (!t) return ctx.error("input " + std::to_string(i) + " is missing");
  if (t->dtype() != DType::kString) return ctx.error("input " + std::to_string(i) + " must be string");
  return Status::ok();
}

Status string_concat(KernelContext& ctx) {
  FERRY_RETURN_IF_ERROR(check_string(ctx, 0));
  FERRY_RETURN_IF_ERROR(check_string(ctx, 1));
  const Tensor& a = *ctx.input(0);
  const Tensor& b = *ctx.input(1);
  FERRY_ASSIGN_OR_RETURN(Tensor * y, ctx.output(0));
  auto oa = broadcast_offsets(a.shape(), y->shape());
  auto ob = broadcast_offsets(b.shape(), y->shape());
  const std::string* pa = a.data<std::string>();
  const std::string* pb = b.data<std::string>();
  std::string* py = y->data<std::string>();
  for (int64_t i = 0; i < y->numel(); ++i) py[i] = pa[oa[static_cast<size_t>(i)]] + pb[ob[static_cast<size_t>(i)]];
  return Status::ok();
}

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }

// Python str.split semantics: no delimiter splits on whitespace runs (dropping empty pieces); maxsplit < 0 is
// unlimited, otherwise at most maxsplit splits and the rest is the last piece.
std::vector<std::string> split_one(const std::string& s, const std::string& delim, bool has_delim, int64_t maxsplit) {
  std::vector<std::string> out;
  if (has_delim && !delim.empty()) {
    size_t pos = 0;
    int64_t splits = 0;
    while (maxsplit < 0 || splits < maxsplit) {
      size_t f = s.find(delim, pos);
      if (f == std::string::npos) break;
      out.push_back(s.substr(pos, f - pos));
      pos = f + delim.size();
      ++splits;
    }
    out.push_back(s.substr(pos));
    return out;
  }
  size_t i = 0, n = s.size();
  int64_t splits = 0;
  while (true) {
    while (i < n && is_space(s[i])) ++i;
    if (i >= n) break;
    if (maxsplit >= 0 && splits >= maxsplit) {
      out.push_back(s.substr(i));  // Python keeps the remainder's trailing whitespace
      break;
    }
    size_t j = i;
    while (j < n && !is_space(s[j])) ++j;
    out.push_back(s.substr(i, j - i));
    ++splits;
    i = j;
  }
  return out;
}

Status string_split(KernelContext& ctx) {
  FERRY_RETURN_IF_ERROR(check_string(ctx, 0));
  const Tensor& x = *ctx.input(0);
  const Attr* da = ctx.node().attr("delimiter");
  std::string delim = da ? da->s : "";
  int64_t maxsplit = ctx.node().attr_int("maxsplit", -1);
  const std::string* px = x.data<std::string>();
  std::vector<std::vector<std::string>> parts(static_cast<size_t>(x.numel()));
  size_t width = 0;
  for (int64_t i = 0; i < x.numel(); ++i) {
    parts[static_cast<size_t>(i)] = split_one(px[i], delim, da != nullptr, maxsplit);
    width = std::max(width, parts[static_cast<size_t>(i)].size());
  }
  Shape sub_shape = x.shape();
  sub_shape.push_back(static_cast<int64_t>(width));
  Tensor* sub = ctx.output(0, DType::kString, sub_shape);
  std::string* ps = sub->data<std::string>();
  for (size_t i = 0; i < parts.size(); ++i)
    for (size_t k = 0; k < width; ++k) ps[i * width + k] = k < parts[i].size() ? parts[i][k] : std::string();
  if (ctx.has_output(1)) {
    Tensor* len = ctx.output(1, DType::kInt64, x.shape());
    int64_t* pl = len->data<int64_t>();
    for (size_t i = 0; i < parts.size(); ++i) pl[i] = static_cast<int64_t>(parts[i].size());
  }
  return Status::ok();
}

// ---- UTF-8 case mapping (locale-aware where a UTF-8 locale exists; ASCII otherwise) ----
std::u32string utf8_decode(const std::string& s) {
  std::u32string out;
  size_t i = 0, n = s.size();
  while (i < n) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    int len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
    if (len == 0 || i + static_cast<size_t>(len) > n) {  // invalid byte: keep it as is (Latin-1)
      out.push_back(c);
      ++i;
      continue;
    }
    char32_t cp = len == 1 ? c : len == 2 ? (c & 0x1F) : len == 3 ? (c & 0x0F) : (c & 0x07);
    bool ok = true;
    for (int k = 1; k < len; ++k) {
      unsigned char cc = static_cast<unsigned char>(s[i + static_cast<size_t>(k)]);
      if ((cc >> 6) != 2) ok = false;
      cp = (cp << 6) | (cc & 0x3F);
    }
    if (!ok) {
      out.push_back(c);
      ++i;
      continue;
    }
    out.push_back(cp);
    i += static_cast<size_t>(len);
  }
  return out;
}

std::string utf8_encode(const std::u32string& s) {
  std::string out;
  for (char32_t cp : s) {
    if (cp < 0x80) {
      out.push_back(static_cast<char>(cp));
    } else if (cp < 0x800) {
      out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
      out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else if (cp < 0x10000) {
      out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
      out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
      out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else {
      out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
      out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
      out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
      out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    }
  }
  return out;
}

const std::locale& utf8_locale() {
  static const std::locale loc = [] {
    for (const char* name : {"en_US.UTF-8", "C.UTF-8", "C.utf8"}) {
      try {
        return std::locale(name);
      } catch (...) {  // locale not installed: try the next one
      }
    }
    return std::locale::classic();
  }();
  return loc;
}

std::string change_case(const std::string& s, bool upper) {
  const auto& ct = std::use_facet<std::ctype<wchar_t>>(utf8_locale());
  std::u32string u = utf8_decode(s);
  for (char32_t& cp : u) {
    if (cp < 0x80) {
      char c = static_cast<char>(cp);
      if (upper && c >= 'a' && c <= 'z') cp = static_cast<char32_t>(c - 'a' + 'A');
      if (!upper && c >= 'A' && c <= 'Z') cp = static_cast<char32_t>(c - 'A' + 'a');
    } else {
      wchar_t w = static_cast<wchar_t>(cp);
      cp = static_cast<char32_t>(upper ? ct.toupper(w) : ct.tolower(w));
    }
  }
  return utf8_encode(u);
}

Status string_normalizer(KernelContext& ctx) {
  FERRY_RETURN_IF_ERROR(check_string(ctx, 0));
  const Tensor& x = *ctx.input(0);
  const Node& n = ctx.node();
  if (x.rank() != 1 && !(x.rank() == 2 && x.dim(0) == 1))
    return ctx.error("input must have shape [C] or [1, C], got " + shape_to_string(x.shape()));
  std::string action = n.attr_string("case_change_action", "NONE");
  bool case_sensitive = n.attr_int("is_case_sensitive", 0) != 0;
  std::unordered_set<std::string> stop;
  for (const std::string& w : n.attr_strings("stopwords")) stop.insert(case_sensitive ? w : change_case(w, false));
  const std::string* px = x.data<std::string>();
  std::vector<std::string> kept;
  for (int64_t i = 0; i < x.numel(); ++i) {
    if (!stop.empty() && stop.count(case_sensitive ? px[i] : change_case(px[i], false))) continue;
    if (action == "LOWER") kept.push_back(change_case(px[i], false));
    else if (action == "UPPER") kept.push_back(change_case(px[i], true));
    else kept.push_back(px[i]);
  }
  if (kept.empty()) kept.emplace_back();  // ONNX: an all-filtered input gives one empty string
  Shape ys = x.rank() == 2 ? Shape{1, static_cast<int64_t>(kept.size())} : Shape{static_cast<int64_t>(kept.size())};
  Tensor* y = ctx.output(0, DType::kString, ys);
  std::string* py = y->data<std::string>();
  for (size_t i = 0; i < kept.size(); ++i) py[i] = kept[i];
  return Status::ok();
}

// libstdc++'s regex executor recurses once or more per input character (~1 KiB of stack each), so long strings
// can overflow a thread's stack. Short strings match on the calling thread; longer ones on a helper thread with
// a stack sized to the input (reserved lazily); beyond kMaxRegexInput the kernel refuses.
constexpr size_t kDirectRegexInput = 2048;
constexpr size_t kMaxRegexInput = size_t{1} << 16;

struct RegexJob {
  const std::string* text = nullptr;
  const std::regex* re = nullptr;
  bool result = false;
  std::string error;
};

void* regex_job_main(void* arg) {
  auto* job = static_cast<RegexJob*>(arg);
  try {
    job->result = std::regex_match(*job->text, *job->re);
  } catch (const std::exception& e) {  // regex_error (complexity/stack limits), bad_alloc
    job->error = e.what();
  }
  return nullptr;
}

Status regex_match_on_big_stack(const std::string& text, const std::regex& re, bool* result) {
  RegexJob job;
  job.text = &text;
  job.re = &re;
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setstacksize(&attr, (size_t{16} << 20) + text.size() * (size_t{8} << 10));
  pthread_t tid;
  int rc = pthread_create(&tid, &attr, regex_job_main, &job);
  pthread_attr_destroy(&attr);
  if (rc != 0) return out_of_memory("cannot start a thread for a long regex match");
  pthread_join(tid, nullptr);
  if (!job.error.empty()) return invalid_argument("regex evaluation failed: " + job.error);
  *result = job.result;
  return Status::ok();
}

class RegexFullMatchKernel : public CpuKernel {
 public:
  explicit RegexFullMatchKernel(std::regex re) : re_(std::move(re)) {}
  Status run(KernelContext& ctx) override {
    FERRY_RETURN_IF_ERROR(check_string(ctx, 0));
    const Tensor& x = *ctx.input(0);
    Tensor* y = ctx.output(0, DType::kBool, x.shape());
    const std::string* px = x.data<std::string>();
    bool* py = y->data<bool>();
    for (int64_t i = 0; i < x.numel(); ++i) {
      if (px[i].size() > kMaxRegexInput)
        return ctx.unsupported_error("string of " + std::to_string(px[i].size()) + " bytes exceeds the regex limit");
      if (px[i].size() > kDirectRegexInput) {
        bool r = false;
        Status st = regex_match_on_big_stack(px[i], re_, &r);
        if (!st.is_ok()) return st.with_context("node " + ctx.node().display_name());
        py[i] = r;
        continue;
      }
      try {
        py[i] = std::regex_match(px[i], re_);
      } catch (const std::regex_error& e) {  // e.g. error_complexity on pathological input
        return ctx.error(std::string("regex evaluation failed: ") + e.what());
      }
    }
    return Status::ok();
  }

 private:
  std::regex re_;
};

Expected<std::unique_ptr<CpuKernel>> make_regex_full_match(const Node& node) {
  const Attr* p = node.attr("pattern");
  if (!p) return invalid_argument("node " + node.display_name() + ": attribute 'pattern' is required");
  try {
    std::regex re(p->s, std::regex::ECMAScript);
    return std::unique_ptr<CpuKernel>(new RegexFullMatchKernel(std::move(re)));
  } catch (const std::regex_error& e) {
    return invalid_argument("node " + node.display_name() + ": invalid regex '" + p->s + "': " + e.what());
  }
}

}  // namespace

void register_string_kernels(KernelRegistry& r) {
  r.add_fn("", "StringConcat", string_concat);
  r.add_fn("", "StringSplit", string_split);
  r.add_fn("", "StringNormalizer", string_normalizer);
  r.add("", "RegexFullMatch", make_regex_full_match);
}

}  // namespace ferry
