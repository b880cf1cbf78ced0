#include "cli/text_diff.h"

#include <algorithm>
#include <sstream>
#include <vector>

namespace rollouts::cli {
namespace {

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) lines.push_back(line);
  return lines;
}

struct Edit {
  char op;   // ' ', '-', '+'
  size_t a;  // line index in `from` (for ' ' and '-')
  size_t b;  // line index in `to` (for ' ' and '+')
};

std::vector<Edit> Edits(const std::vector<std::string>& a, const std::vector<std::string>& b) {
  // lcs[i][j]: length of the LCS of a[i..] and b[j..].
  std::vector<std::vector<int>> lcs(a.size() + 1, std::vector<int>(b.size() + 1, 0));
  for (size_t i = a.size(); i-- > 0;) {
    for (size_t j = b.size(); j-- > 0;) {
      lcs[i][j] = a[i] == b[j] ? lcs[i + 1][j + 1] + 1 : std::max(lcs[i + 1][j], lcs[i][j + 1]);
    }
  }
  std::vector<Edit> edits;
  size_t i = 0, j = 0;
  while (i < a.size() || j < b.size()) {
    if (i < a.size() && j < b.size() && a[i] == b[j]) {
      edits.push_back({' ', i++, j++});
    } else if (i < a.size() && (j == b.size() || lcs[i + 1][j] >= lcs[i][j + 1])) {
      edits.push_back({'-', i++, j});  // removals first, as diff(1) prints them
    } else {
      edits.push_back({'+', i, j++});
    }
  }
  return edits;
}

}  // namespace

std::string UnifiedDiff(const std::string& from, const std::string& to,
                        const std::string& from_label, const std::string& to_label, int context) {
  std::vector<std::string> a = Lines(from), b = Lines(to);
  std::vector<Edit> edits = Edits(a, b);
  if (std::all_of(edits.begin(), edits.end(), [](const Edit& e) { return e.op == ' '; })) {
    return "";
  }
  std::string out = "--- " + from_label + "\n+++ " + to_label + "\n";
  const size_t n = edits.size();
  const size_t ctx = static_cast<size_t>(std::max(context, 0));
  size_t k = 0;
  while (k < n) {
    if (edits[k].op == ' ') {
      ++k;
      continue;
    }
    // A hunk: from `context` lines before this change to `context` lines after the last
    // change that is closer than 2*context to the previous one.
    size_t start = k >= ctx ? k - ctx : 0;
    size_t end = k;
    while (end < n) {
      size_t next_change = end;
      while (next_change < n && edits[next_change].op == ' ') ++next_change;
      if (next_change == n || next_change - end > 2 * ctx) break;
      end = next_change;
      while (end < n && edits[end].op != ' ') ++end;
    }
    size_t stop = std::min(n, end + ctx);
    size_t a_start = 0, b_start = 0, a_len = 0, b_len = 0;
    bool first_a = true, first_b = true;
    for (size_t e = start; e < stop; ++e) {
      if (edits[e].op != '+') {
        if (first_a) a_start = edits[e].a, first_a = false;
        ++a_len;
      }
      if (edits[e].op != '-') {
        if (first_b) b_start = edits[e].b, first_b = false;
        ++b_len;
      }
    }
    // Unified diff numbers lines from 1; an empty side names the line before it.
    auto range = [](bool empty, size_t s, size_t len, size_t fallback) {
      size_t line = empty ? fallback : s + 1;
      return std::to_string(line) + "," + std::to_string(len);
    };
    out += "@@ -" + range(first_a, a_start, a_len, edits[start].a) + " +" +
           range(first_b, b_start, b_len, edits[start].b) + " @@\n";
    for (size_t e = start; e < stop; ++e) {
      const std::string& text = edits[e].op == '+' ? b[edits[e].b] : a[edits[e].a];
      out += edits[e].op;
      out += text + "\n";
    }
    k = stop;
  }
  return out;
}

}  // namespace rollouts::cli
