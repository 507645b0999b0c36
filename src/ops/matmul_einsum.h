// matmul_einsum.h — Einsum equation parsing shared by shape inference (src/ops/matmul.cc) and the CPU kernel.
//
//   EinsumSpec spec;
//   Status s = parse_einsum("bij,bjk->bik", {3, 3}, &spec);   // ranks of the inputs
//   // spec.inputs[0] == {'b','i','j'}, spec.output == {'b','i','k'}
//
// Labels are ints: letters keep their character code; the dims an ellipsis stands for get the labels
// kEllipsisBase + 0, 1, ... counted from the first broadcast dim (right-aligned across inputs, as numpy does).
// Implicit mode (no "->") outputs the ellipsis dims, then letters used exactly once, in ASCII order.
#pragma once

#include <algorithm>
#include <map>
#include <string>
#include <vector>

#include "ferry/status.h"

namespace ferry {

constexpr int kEllipsisBase = 1000;

struct EinsumSpec {
  std::vector<std::vector<int>> inputs;  // per input, one label per axis
  std::vector<int> output;               // one label per output axis
  int ellipsis_rank = 0;                 // number of dims the ellipsis stands for (max over inputs)
};

inline bool einsum_is_letter(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

// Parses one term ("ij", "...ij", "i...j") into letters, with the position of the ellipsis (-1 if none).
inline Status einsum_parse_term(const std::string& term, std::vector<int>* letters, int* ell_pos) {
  *ell_pos = -1;
  letters->clear();
  for (size_t i = 0; i < term.size();) {
    if (term[i] == '.') {
      if (term.compare(i, 3, "...") != 0 || *ell_pos >= 0)
        return invalid_argument("Einsum: malformed ellipsis in term '" + term + "'");
      *ell_pos = static_cast<int>(letters->size());
      i += 3;
    } else if (einsum_is_letter(term[i])) {
      letters->push_back(term[i]);
      ++i;
    } else {
      return invalid_argument(std::string("Einsum: invalid character '") + term[i] + "' in equation");
    }
  }
  return Status::ok();
}

inline Status parse_einsum(const std::string& equation, const std::vector<int>& ranks, EinsumSpec* spec) {
  std::string eq;
  for (char c : equation)
    if (c != ' ') eq += c;
  std::string lhs = eq, rhs;
  bool explicit_out = false;
  size_t arrow = eq.find("->");
  if (arrow != std::string::npos) {
    lhs = eq.substr(0, arrow);
    rhs = eq.substr(arrow + 2);
    explicit_out = true;
  }
  std::vector<std::string> terms;
  size_t start = 0;
  while (true) {
    size_t comma = lhs.find(',', start);
    terms.push_back(lhs.substr(start, comma == std::string::npos ? std::string::npos : comma - start));
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  if (terms.size() != ranks.size())
    return invalid_argument("Einsum: equation '" + equation + "' has " + std::to_string(terms.size()) +
                            " input terms but there are " + std::to_string(ranks.size()) + " inputs");
  spec->inputs.assign(terms.size(), {});
  spec->ellipsis_rank = 0;
  std::vector<std::vector<int>> letters(terms.size());
  std::vector<int> ell_pos(terms.size());
  for (size_t t = 0; t < terms.size(); ++t) {
    FERRY_RETURN_IF_ERROR(einsum_parse_term(terms[t], &letters[t], &ell_pos[t]));
    int nl = static_cast<int>(letters[t].size());
    if (ell_pos[t] < 0 ? nl != ranks[t] : nl > ranks[t])
      return invalid_argument("Einsum: term '" + terms[t] + "' does not match input rank " +
                              std::to_string(ranks[t]));
    if (ell_pos[t] >= 0) spec->ellipsis_rank = std::max(spec->ellipsis_rank, ranks[t] - nl);
  }
  for (size_t t = 0; t < terms.size(); ++t) {
    auto& labels = spec->inputs[t];
    for (int i = 0; i < static_cast<int>(letters[t].size()); ++i) {
      if (i == ell_pos[t]) {
        int ne = ranks[t] - static_cast<int>(letters[t].size());
        for (int e = 0; e < ne; ++e) labels.push_back(kEllipsisBase + spec->ellipsis_rank - ne + e);
      }
      labels.push_back(letters[t][i]);
    }
    if (ell_pos[t] == static_cast<int>(letters[t].size())) {
      int ne = ranks[t] - static_cast<int>(letters[t].size());
      for (int e = 0; e < ne; ++e) labels.push_back(kEllipsisBase + spec->ellipsis_rank - ne + e);
    }
  }
  spec->output.clear();
  if (explicit_out) {
    std::vector<int> out_letters;
    int out_ell = -1;
    FERRY_RETURN_IF_ERROR(einsum_parse_term(rhs, &out_letters, &out_ell));
    for (int i = 0; i <= static_cast<int>(out_letters.size()); ++i) {
      if (i == out_ell)
        for (int e = 0; e < spec->ellipsis_rank; ++e) spec->output.push_back(kEllipsisBase + e);
      if (i < static_cast<int>(out_letters.size())) {
        int l = out_letters[i];
        if (std::count(spec->output.begin(), spec->output.end(), l))
          return invalid_argument(std::string("Einsum: output label '") + static_cast<char>(l) + "' repeated");
        bool found = false;
        for (auto& in : spec->inputs) found = found || std::count(in.begin(), in.end(), l) > 0;
        if (!found)
          return invalid_argument(std::string("Einsum: output label '") + static_cast<char>(l) +
                                  "' does not appear in any input");
        spec->output.push_back(l);
      }
    }
    // Without "..." in the output, the ellipsis dims are summed over.
  } else {
    for (int e = 0; e < spec->ellipsis_rank; ++e) spec->output.push_back(kEllipsisBase + e);
    std::map<int, int> counts;
    for (auto& in : spec->inputs)
      for (int l : in)
        if (l < kEllipsisBase) counts[l]++;
    for (auto& [l, c] : counts)
      if (c == 1) spec->output.push_back(l);
  }
  return Status::ok();
}

}  // namespace ferry
