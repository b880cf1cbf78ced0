// A NomadAgent behind a real HTTP server on 127.0.0.1, a client for it, and helpers the
// Nomad-side tests share (bounded polling, job bodies, counting task processes in /proc).
#pragma once

#include <dirent.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "clients/http/http.h"
#include "clients/http/server.h"
#include "sandbox/nomad/nomad_agent.h"
#include "tests/sandbox_nomad/fake_catalog.h"

namespace rollouts::sandbox::testing {

using nlohmann::json;

struct Reply {
  int status = 0;
  http::Headers headers;
  std::string text;
  json body;  // parsed when the response is JSON
};

class NomadTestEnv {
 public:
  explicit NomadTestEnv(std::chrono::milliseconds stagger = std::chrono::milliseconds(50),
                        bool apply_rejected_scale = false) {
    data_dir_ =
        std::filesystem::temp_directory_path() /
        ("sandbox-nomad-test-" + std::to_string(getpid()) + "-" + std::to_string(++counter()));
    NomadAgentOptions options;
    options.data_dir = data_dir_.string();
    options.stagger = stagger;
    options.apply_rejected_scale = apply_rejected_scale;
    agent_ = std::make_unique<NomadAgent>(catalog_, options);
    server_ = http::StartServer({}, [this](http::ServerRequest request, http::Responder respond) {
      agent_->Handle(std::move(request), std::move(respond));
    });
    client_ = http::MakeClient({server_->base_url(), {}});
  }
  ~NomadTestEnv() {
    server_->Stop();
    agent_->Shutdown();
    std::error_code ec;
    std::filesystem::remove_all(data_dir_, ec);
  }

  Reply Send(const std::string& method, const std::string& target, const std::string& body = "",
             std::chrono::milliseconds timeout = std::chrono::seconds(30)) {
    http::Request request;
    request.method = *http::ParseMethod(method);
    request.target = target;
    request.body = body;
    request.timeout = timeout;
    http::Result result = client_->Send(request);
    Reply reply;
    if (!result.ok()) {
      ADD_FAILURE() << method << " " << target << ": " << result.error().message;
      return reply;
    }
    reply.status = result.response().status;
    reply.headers = result.response().headers;
    reply.text = result.response().body;
    auto type = result.response().Header("Content-Type");
    if (type && type->find("json") != std::string::npos) {
      reply.body = json::parse(reply.text, nullptr, false);
    }
    return reply;
  }
  Reply Get(const std::string& target) { return Send("GET", target); }
  Reply Post(const std::string& target, const json& body) {
    return Send("POST", target, body.dump());
  }

  // Polls `done` every 100 ms for at most `limit`; true when it became true.
  static bool WaitFor(const std::function<bool()>& done,
                      std::chrono::seconds limit = std::chrono::seconds(60)) {
    const auto give_up = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < give_up) {
      if (done()) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return done();
  }

  bool WaitDeployment(const std::string& job, int64_t version, const std::string& status) {
    return WaitFor([&] {
      Reply r = Get("/v1/job/" + job + "/deployment");
      return r.body.is_object() && r.body["JobVersion"] == version && r.body["Status"] == status;
    });
  }

  FakeCatalog& catalog() { return catalog_; }
  NomadAgent& agent() { return *agent_; }
  const std::filesystem::path& data_dir() const { return data_dir_; }

 private:
  static int& counter() {
    static int n = 0;
    return n;
  }
  std::filesystem::path data_dir_;
  FakeCatalog catalog_;
  std::unique_ptr<NomadAgent> agent_;
  std::unique_ptr<http::Server> server_;
  std::unique_ptr<http::Client> client_;
};

// Processes (of this user, not zombies) with `wanted` as one of the NUL-separated words
// of /proc/PID/<file> ("environ" or "cmdline").
inline std::set<pid_t> ProcessesWithWord(const std::string& file, const std::string& wanted) {
  std::set<pid_t> out;
  DIR* proc = opendir("/proc");
  if (!proc) return out;
  while (dirent* entry = readdir(proc)) {
    const std::string pid_text = entry->d_name;
    if (pid_text.find_first_not_of("0123456789") != std::string::npos) continue;
    std::ifstream words("/proc/" + pid_text + "/" + file, std::ios::binary);
    std::string word;
    while (std::getline(words, word, '\0')) {
      if (word == wanted) {
        // Zombies keep their environ readable only while not reaped; skip them.
        std::ifstream stat("/proc/" + pid_text + "/stat");
        std::string pid_field, comm, state;
        stat >> pid_field >> comm >> state;
        if (state != "Z") out.insert(static_cast<pid_t>(std::stoi(pid_text)));
        break;
      }
    }
  }
  closedir(proc);
  return out;
}

// Processes whose environment has NAME=VALUE: the tasks the agent started.
inline std::set<pid_t> ProcessesWithEnv(const std::string& name, const std::string& value) {
  return ProcessesWithWord("environ", name + "=" + value);
}

// A job's group with a short MinHealthyTime, so deployments finish in about a second.
inline json WithFastUpdate(json job) {
  for (json& group : job["TaskGroups"]) {
    if (!group.contains("Update")) group["Update"] = json::object();
    group["Update"]["MinHealthyTime"] = 1000000000LL;
    group["Update"]["HealthyDeadline"] = 60000000000LL;
  }
  return job;
}

}  // namespace rollouts::sandbox::testing
