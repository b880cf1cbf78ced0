#include "tests/support/fixture_server.h"

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace rollouts::testing {

namespace fs = std::filesystem;
using ojson = nlohmann::ordered_json;

std::string FixturesDir() {
  if (const char* env = std::getenv("ROLLOUTS_FIXTURES_DIR"); env != nullptr && *env != 0) {
    return env;
  }
  return ROLLOUTS_FIXTURES_DIR;
}

namespace {

void DumpString(const std::string& s, std::string& out) {
  // Python's json.dumps escapes every non-ASCII code point as \uXXXX (ensure_ascii).
  static const char* kHex = "0123456789abcdef";
  out.push_back('"');
  for (size_t i = 0; i < s.size(); ++i) {
    auto c = static_cast<unsigned char>(s[i]);
    switch (c) {
      case '"':
        out += "\\\"";
        continue;
      case '\\':
        out += "\\\\";
        continue;
      case '\n':
        out += "\\n";
        continue;
      case '\r':
        out += "\\r";
        continue;
      case '\t':
        out += "\\t";
        continue;
      case '\b':
        out += "\\b";
        continue;
      case '\f':
        out += "\\f";
        continue;
      default:
        break;
    }
    uint32_t cp = c;
    if (c >= 0x80) {
      int extra = c >= 0xF0 ? 3 : c >= 0xE0 ? 2 : 1;
      cp = c & (0x3F >> extra);
      for (int k = 0; k < extra && i + 1 < s.size(); ++k) cp = (cp << 6) | (s[++i] & 0x3F);
    }
    auto emit = [&](uint32_t u) {
      out += "\\u";
      for (int shift = 12; shift >= 0; shift -= 4) out.push_back(kHex[(u >> shift) & 15]);
    };
    if (cp < 0x20 || cp >= 0x7F) {
      if (cp >= 0x10000) {
        cp -= 0x10000;
        emit(0xD800 + (cp >> 10));
        emit(0xDC00 + (cp & 0x3FF));
      } else {
        emit(cp);
      }
    } else {
      out.push_back(static_cast<char>(cp));
    }
  }
  out.push_back('"');
}

void Dump(const ojson& v, std::string& out) {
  switch (v.type()) {
    case ojson::value_t::object: {
      out.push_back('{');
      bool first = true;
      for (auto it = v.begin(); it != v.end(); ++it) {
        if (!first) out += ", ";
        first = false;
        DumpString(it.key(), out);
        out += ": ";
        Dump(it.value(), out);
      }
      out.push_back('}');
      break;
    }
    case ojson::value_t::array: {
      out.push_back('[');
      for (size_t i = 0; i < v.size(); ++i) {
        if (i > 0) out += ", ";
        Dump(v[i], out);
      }
      out.push_back(']');
      break;
    }
    case ojson::value_t::string:
      DumpString(v.get<std::string>(), out);
      break;
    default:
      out += v.dump();
      break;
  }
}

}  // namespace

std::string PythonJsonDumps(const ojson& value) {
  std::string out;
  Dump(value, out);
  return out;
}

std::string Fixture::RequestBodyBytes() const {
  if (request_body.is_null()) return "";
  if (request_body.is_string()) return request_body.get<std::string>();
  return PythonJsonDumps(request_body);
}

Fixture LoadFixture(const std::string& relative_path) {
  fs::path path = fs::path(FixturesDir()) / relative_path;
  std::ifstream in(path);
  if (!in) throw std::runtime_error("cannot open fixture " + path.string());
  ojson doc = ojson::parse(in);
  Fixture f;
  f.file = relative_path;
  f.note = doc.value("note", "");
  const ojson& req = doc.at("request");
  f.method = req.at("method").get<std::string>();
  f.path = req.at("path").get<std::string>();
  f.request_headers = req.value("headers", ojson::object());
  f.request_body = req.contains("body") ? req.at("body") : ojson();
  const ojson& resp = doc.at("response");
  f.status = resp.at("status").get<int>();
  bool is_json = false;
  for (auto it = resp.at("headers").begin(); it != resp.at("headers").end(); ++it) {
    std::string value = it.value().get<std::string>();
    f.response_headers.emplace(it.key(), value);
    if (it.key() == "Content-Type" && value.find("json") != std::string::npos) is_json = true;
  }
  f.response_body = resp.contains("body") ? resp.at("body") : ojson("");
  if (is_json) {
    f.response_body_raw = f.response_body.dump();
  } else if (f.response_body.is_string()) {
    f.response_body_raw = f.response_body.get<std::string>();
  } else {
    f.response_body_raw = f.response_body.dump();
  }
  return f;
}

std::vector<Fixture> LoadFixtures(const std::string& subdir) {
  std::vector<std::string> names;
  for (const auto& entry : fs::directory_iterator(fs::path(FixturesDir()) / subdir)) {
    std::string name = entry.path().filename().string();
    if (entry.path().extension() != ".json") continue;
    if (name.empty() || name[0] < '0' || name[0] > '9') continue;  // hello-job.json is a body
    names.push_back(name);
  }
  std::sort(names.begin(), names.end());
  std::vector<Fixture> out;
  out.reserve(names.size());
  for (const auto& n : names) out.push_back(LoadFixture(subdir + "/" + n));
  return out;
}

FixtureServer::FixtureServer(std::vector<Fixture> fixtures)
    : fixtures_(std::move(fixtures)), used_(fixtures_.size(), false) {
  server_ = http::StartServer({}, [this](http::ServerRequest req, http::Responder respond) {
    Handle(std::move(req), std::move(respond));
  });
}

FixtureServer::~FixtureServer() {
  server_->Stop();
}

std::string FixtureServer::base_url() const {
  return server_->base_url();
}

std::vector<http::ServerRequest> FixtureServer::received() const {
  std::lock_guard lock(mu_);
  return received_;
}

void FixtureServer::Handle(http::ServerRequest request, http::Responder respond) {
  std::unique_lock lock(mu_);
  received_.push_back(request);
  for (size_t i = 0; i < fixtures_.size(); ++i) {
    const Fixture& f = fixtures_[i];
    if (used_[i] || f.method != request.method || f.path != request.target) continue;
    used_[i] = true;
    http::Response out{f.status, f.response_headers, f.response_body_raw};
    lock.unlock();
    respond(std::move(out));
    return;
  }
  lock.unlock();
  respond(http::Response{599,
                         {{"Content-Type", "text/plain"}},
                         "no unused fixture matches " + request.method + " " + request.target});
}

}  // namespace rollouts::testing
