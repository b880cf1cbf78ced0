#include "cli/show_commands.h"

#include <condition_variable>
#include <map>
#include <mutex>
#include <ostream>
#include <thread>

#include "clients/consul/blocking.h"
#include "reconcilers/rollout_reconciler.h"

namespace rollouts::cli {
namespace {

using reconcilers::TimePoint;

// Wakes the drawing loop when any watched resource changed (or the watch is cancelled).
class ChangeSignal {
 public:
  void Bump() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      ++generation_;
    }
    cv_.notify_all();
  }
  // Waits until the generation moves past `seen` or `timeout` elapses; returns the
  // current generation.
  uint64_t WaitPast(uint64_t seen, std::chrono::milliseconds timeout) {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait_for(lock, timeout, [&] { return generation_ != seen; });
    return generation_;
  }
  uint64_t generation() {
    std::lock_guard<std::mutex> lock(mu_);
    return generation_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  uint64_t generation_ = 0;
};

}  // namespace

TimePoint Now() {
  return std::chrono::time_point_cast<std::chrono::milliseconds>(reconcilers::Clock::now());
}

RolloutSummary ReadSummary(const Session& s, const std::string& name) {
  StoredSpec spec = RequireSpec(s, name);
  RolloutSummary r;
  r.name = name;
  r.spec = spec.rollout;
  if (!spec.errors.empty())
    r.spec_error = spec.errors.front().pointer + ": " + spec.errors.front().message;
  StoredStatus status = ReadStatus(s, name);
  r.has_status = status.modify_index != 0;
  r.status = std::move(status.status);
  return r;
}

int RunList(const Session& s) {
  std::vector<RolloutSummary> all;
  for (const std::string& name : ListRolloutNames(s)) {
    // A spec deleted between the listing and the read is simply gone.
    try {
      all.push_back(ReadSummary(s, name));
    } catch (const CommandError& e) {
      if (e.exit_code != kExitNotFound) throw;
    }
  }
  const TimePoint now = Now();
  if (s.json) {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& r : all) out.push_back(SummaryJson(r, now));
    *s.out << out.dump(2) << "\n";
  } else if (all.empty()) {
    *s.out << "no rollouts under " << s.kv.SpecDir() << "\n";
  } else {
    *s.out << RenderTable(all, now);
  }
  return kExitOk;
}

int RunGet(const Session& s, const std::string& name) {
  RolloutSummary r = ReadSummary(s, name);
  if (s.json) {
    *s.out << SummaryJson(r, Now()).dump(2) << "\n";
  } else {
    *s.out << RenderTable({r}, Now());
  }
  return kExitOk;
}

int RunDescribe(const Session& s, const std::string& name) {
  RolloutSummary r = ReadSummary(s, name);
  if (s.json) {
    *s.out << SummaryJson(r, Now()).dump(2) << "\n";
  } else {
    *s.out << RenderDescribe(r, Now());
  }
  return kExitOk;
}

int RunHistory(const Session& s, const std::string& name) {
  RolloutSummary r = ReadSummary(s, name);
  if (s.json) {
    *s.out << HistoryJson(r.status).dump(2) << "\n";
  } else {
    *s.out << RenderHistory(r);
  }
  return kExitOk;
}

WatchInput GatherWatchInput(const Session& s, const std::string& name) {
  WatchInput in;
  in.name = name;
  in.color = s.color;
  std::optional<StoredSpec> spec = ReadSpec(s, name);
  if (!spec) {
    in.spec_note = "no key " + s.kv.Spec(name) + " (deleted?)";
  } else if (!spec->rollout) {
    in.spec_note = "invalid: " + spec->errors.front().pointer + ": " + spec->errors.front().message;
  } else {
    in.spec = spec->rollout;
  }
  StoredStatus status = ReadStatus(s, name);
  in.has_status = status.modify_index != 0;
  in.status = std::move(status.status);

  std::map<std::string, std::string> group_of_alloc;
  if (!in.spec) {
    in.job_note = "no valid spec: the Nomad job is unknown";
  } else if (!s.nomad) {
    in.job_note = "Nomad not configured";
  } else {
    const std::string& job_id = in.spec->spec.nomad.job;
    nomad::NomadClient& nomad = *s.nomad(in.spec->spec.nomad.namespace_);
    auto job = nomad.GetJob(job_id);
    if (!job.ok()) {
      in.job_note = "nomad: " + job.error().ToString();
    } else if (!job.value()) {
      in.job_note = "job " + job_id + " not found in Nomad";
    } else {
      in.job = reconcilers::JobView::FromDocument(job.value()->json());
      auto allocs = nomad.JobAllocations(job_id, {});
      if (allocs.ok()) {
        for (const auto& a : allocs.value().value) group_of_alloc[a.id] = a.task_group;
      }
    }
  }
  if (in.spec) {
    auto health = s.consul->HealthService(in.spec->spec.nomad.service, {}, {});
    if (!health.ok()) {
      in.instances_note = "consul health: " + health.error().ToString();
    } else {
      // Unfiltered health and tags read here (docs/design.md "Lessons"): never ?tag=.
      in.instances = reconcilers::InstancesFromHealth(health.value().value, group_of_alloc);
    }
  }
  in.now = Now();
  return in;
}

int RunWatch(const Session& s, const std::string& name, const WatchOptions& options) {
  StoredSpec first = RequireSpec(s, name);
  auto cancel = options.cancel ? options.cancel : std::make_shared<http::CancelToken>();
  ChangeSignal changed;
  int cancel_sub = cancel->Subscribe([&changed] { changed.Bump(); });

  consul::BlockingPolicy policy;
  policy.wait = options.blocking_wait;
  std::vector<std::thread> threads;
  auto watch_key = [&](std::string key) {
    threads.emplace_back([&, key] {
      consul::BlockingWatcher<std::optional<consul::KvPair>> w(
          [&s, key](const consul::QueryOptions& q) { return s.consul->KvGet(key, q); }, policy,
          cancel);
      while (!cancel->cancelled()) {
        if (w.Next().changed) changed.Bump();
      }
    });
  };
  watch_key(s.kv.Spec(name));
  watch_key(s.kv.Status(name));
  if (first.rollout) {
    const std::string service = first.rollout->spec.nomad.service;
    threads.emplace_back([&, service] {
      consul::BlockingWatcher<std::vector<consul::ServiceEntry>> w(
          [&s, service](const consul::QueryOptions& q) {
            return s.consul->HealthService(service, {}, q);
          },
          policy, cancel);
      while (!cancel->cancelled()) {
        if (w.Next().changed) changed.Bump();
      }
    });
    if (s.nomad) {
      const std::string job = first.rollout->spec.nomad.job;
      nomad::NomadClient* nomad = s.nomad(first.rollout->spec.nomad.namespace_);
      threads.emplace_back([&, job, nomad] {
        uint64_t index = 0;
        http::Backoff backoff(policy.error_backoff);
        while (!cancel->cancelled()) {
          nomad::BlockingQuery q{index, options.blocking_wait, cancel};
          auto allocs = nomad->JobAllocations(job, q);
          if (!allocs.ok()) {
            // Nomad down or the job gone: back off (bounded by cancel), do not spin.
            if (!cancel->SleepFor(backoff.Next())) break;
            continue;
          }
          backoff.Reset();
          uint64_t next = std::max<uint64_t>(allocs.value().index, 1);
          if (next != index) changed.Bump();
          index = next;
        }
      });
    }
  }

  int blocks = 0;
  std::string last_fingerprint;
  uint64_t seen = 0;
  int exit_code = kExitOk;
  try {
    while (!cancel->cancelled()) {
      WatchInput in = GatherWatchInput(s, name);
      // What changed is judged on the data, not on the clocks that move every second.
      WatchInput frozen = in;
      frozen.now = TimePoint{};
      frozen.color = false;
      std::string fingerprint = RenderWatchView(frozen);
      if (options.tty) {
        *s.out << "\033[H\033[2J" << RenderWatchView(in) << "\n"
               << reconcilers::FormatTime(in.now) << "  (Ctrl-C to quit)\n";
        s.out->flush();
        if (fingerprint != last_fingerprint) ++blocks;
      } else if (fingerprint != last_fingerprint && s.json) {
        // -o json: one JSON document per line and change (for jq / log shippers).
        RolloutSummary r;
        r.name = name;
        r.spec = in.spec;
        r.spec_error = in.spec_note;
        r.has_status = in.has_status;
        r.status = in.status;
        *s.out << SummaryJson(r, in.now).dump() << std::endl;
        ++blocks;
      } else if (fingerprint != last_fingerprint) {
        *s.out << "=== " << reconcilers::FormatTime(in.now) << " rollout/" << name << "\n"
               << RenderWatchView(in) << "\n";
        s.out->flush();
        ++blocks;
      }
      last_fingerprint = fingerprint;
      if (options.max_blocks > 0 && blocks >= options.max_blocks) break;
      // A TTY redraws every second for the elapsed clocks (no request is sent for that);
      // a pipe only prints when something changed.
      seen = changed.WaitPast(seen, options.tty ? std::chrono::seconds(1) : std::chrono::hours(1));
    }
  } catch (const CommandError&) {
    cancel->Unsubscribe(cancel_sub);
    cancel->Cancel();
    for (auto& t : threads) t.join();
    throw;
  }
  cancel->Unsubscribe(cancel_sub);
  cancel->Cancel();
  for (auto& t : threads) t.join();
  return exit_code;
}

void AddShowCommands(CLI::App& app, const Runner& run, const std::function<bool()>& stdout_is_tty,
                     const std::function<std::shared_ptr<http::CancelToken>()>& interrupt) {
  app.add_subcommand("list", "Table of every Rollout: phase, versions, current step, failure")
      ->callback([&run] { run([](Session& s) { return RunList(s); }); });

  struct GetArgs {
    std::string name;
    bool watch = false;
    int count = 0;
  };
  auto get_args = std::make_shared<GetArgs>();
  CLI::App* get = app.add_subcommand("get", "One Rollout's row; --watch for a live view");
  get->add_option("name", get_args->name, "Rollout name")->required();
  get->add_flag("-w,--watch", get_args->watch,
                "Live view redrawn on change (Consul/Nomad blocking queries). Without a TTY: "
                "one block of plain lines per change");
  get->add_option("--count", get_args->count,
                  "With --watch: exit after this many changed views (0: until Ctrl-C)")
      ->check(CLI::NonNegativeNumber);
  get->callback([get_args, &run, &stdout_is_tty, &interrupt] {
    run([get_args, &stdout_is_tty, &interrupt](Session& s) {
      if (!get_args->watch) return RunGet(s, get_args->name);
      WatchOptions o;
      o.tty = stdout_is_tty() && !s.json;
      o.cancel = interrupt();
      o.max_blocks = get_args->count;
      return RunWatch(s, get_args->name, o);
    });
  });

  for (const char* verb : {"describe", "history"}) {
    auto name = std::make_shared<std::string>();
    const bool describe = std::string(verb) == "describe";
    CLI::App* cmd = app.add_subcommand(
        verb, describe ? "Status, current step, conditions, analysis, events, history"
                       : "Finished rollouts of one Rollout, newest first");
    cmd->add_option("name", *name, "Rollout name")->required();
    cmd->callback([name, describe, &run] {
      run([name, describe](Session& s) {
        return describe ? RunDescribe(s, *name) : RunHistory(s, *name);
      });
    });
  }
}

}  // namespace rollouts::cli
