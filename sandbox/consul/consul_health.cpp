// /v1/catalog/* and /v1/health/* of the sandbox's Consul agent.
#include <algorithm>
#include <set>

#include "sandbox/common/blocking_params.h"
#include "sandbox/consul/catalog_json.h"
#include "sandbox/consul/consul_agent.h"
#include "sandbox/consul/consul_http.h"

namespace rollouts::sandbox {
namespace {

using ojson = nlohmann::ordered_json;

std::vector<std::string> ParamValues(const std::vector<std::pair<std::string, std::string>>& query,
                                     const std::string& name) {
  std::vector<std::string> out;
  for (const auto& [key, value] : query) {
    if (key == name) out.push_back(value);
  }
  return out;
}

bool HasTags(const std::vector<std::string>& have, const std::vector<std::string>& wanted) {
  return std::all_of(wanted.begin(), wanted.end(), [&](const std::string& tag) {
    return std::find(have.begin(), have.end(), tag) != have.end();
  });
}

// ?passing: every check of the entry (serfHealth included) is passing.
bool AllPassing(const ojson& health_entry) {
  const ojson& checks = health_entry["Checks"];
  return std::all_of(checks.begin(), checks.end(),
                     [](const ojson& check) { return check["Status"] == "passing"; });
}

bool PassingRequested(const std::vector<std::pair<std::string, std::string>>& query) {
  if (!HasParam(query, "passing")) return false;
  std::string value = ParamValue(query, "passing");
  return value != "false" && value != "0";
}

}  // namespace

void ConsulAgent::CatalogServices(const Query& query, http::Responder respond) {
  BlockingParams params = std::get<BlockingParams>(ParseBlockingParams(query));
  ConsulState* state = state_.get();
  auto current_index = [state] { return state->catalog().services_table_index; };
  auto render = [state]() -> http::Response {
    std::map<std::string, std::vector<std::string>> tags_by_name;
    for (const auto& [id, record] : state->catalog().services) {
      auto& tags = tags_by_name[record.registration.name];
      for (const auto& tag : record.registration.tags) {
        if (std::find(tags.begin(), tags.end(), tag) == tags.end()) tags.push_back(tag);
      }
    }
    ojson body = ojson::object();
    for (const auto& [name, tags] : tags_by_name) body[name] = tags;
    return JsonRead(body, state->catalog().services_table_index);
  };
  Lock lock = state_->Acquire();
  state_->AnswerOrPark(lock, {WatchTopic::Kind::kTable, "services"}, params.min_index,
                       params.blocking, params.wait, current_index, render, std::move(respond));
}

void ConsulAgent::CatalogNodes(const Query& query, http::Responder respond) {
  BlockingParams params = std::get<BlockingParams>(ParseBlockingParams(query));
  auto current_index = [] { return kNodeModifyIndex; };
  auto render = [] {
    ojson node = NodeJson();
    return JsonRead(ojson::array({node}), kNodeModifyIndex);
  };
  Lock lock = state_->Acquire();
  state_->AnswerOrPark(lock, {WatchTopic::Kind::kTable, "nodes"}, params.min_index, params.blocking,
                       params.wait, current_index, render, std::move(respond));
}

void ConsulAgent::ServiceRead(const std::string& endpoint, const std::string& name,
                              const Query& query, http::Responder respond) {
  BlockingParams params = std::get<BlockingParams>(ParseBlockingParams(query));
  std::vector<std::string> tags = ParamValues(query, "tag");
  bool passing = PassingRequested(query);
  ConsulState* state = state_.get();
  auto current_index = [state, name] { return state->catalog().ServiceIndex(name); };
  // Consul 1.10 serves blocking health queries from its streaming backend, which
  // reports KnownLeader false (fixtures 088-104); non-blocking ones use plain RPC.
  bool streaming = endpoint == "/v1/health/service/" && params.blocking;
  bool stale_view = streaming && options_.stale_tag_filter && !tags.empty();
  std::string view_key = name;
  for (const auto& tag : tags) view_key += "\n" + tag;
  auto render = [this, state, endpoint, name, tags, passing, streaming, stale_view,
                 view_key]() -> http::Response {
    const CatalogData& catalog = state->catalog();
    uint64_t index = catalog.ServiceIndex(name);
    std::vector<const ServiceRecord*> instances = catalog.Instances(name);
    ojson body = ojson::array();
    if (endpoint == "/v1/health/checks/") {
      std::vector<ojson> checks;
      for (const ServiceRecord* record : instances) {
        if (!record->checks_registered) continue;
        for (const auto& check : record->checks) checks.push_back(CheckJson(*record, check));
      }
      std::sort(checks.begin(), checks.end(), [](const ojson& a, const ojson& b) {
        return a["CheckID"].get<std::string>() < b["CheckID"].get<std::string>();
      });
      for (auto& check : checks) body.push_back(std::move(check));
      return JsonRead(body, index);
    }
    if (endpoint == "/v1/catalog/service/") {
      for (const ServiceRecord* record : instances) {
        if (HasTags(record->registration.tags, tags))
          body.push_back(CatalogServiceEntryJson(*record));
      }
      return JsonRead(body, index);
    }
    if (stale_view) {
      // The 1.10.3 streaming view: entries are added/updated while they match and
      // removed when deregistered, but never dropped when they stop matching.
      auto& view = stale_views_[view_key];
      std::set<std::string> present;
      for (const ServiceRecord* record : instances) {
        present.insert(record->registration.id);
        if (HasTags(record->registration.tags, tags)) {
          view[record->registration.id] = HealthEntryJson(*record).dump();
        }
      }
      for (auto it = view.begin(); it != view.end();) {
        it = present.count(it->first) ? std::next(it) : view.erase(it);
      }
      for (const auto& [id, entry_text] : view) {
        ojson entry = ojson::parse(entry_text);
        if (!passing || AllPassing(entry)) body.push_back(std::move(entry));
      }
      return JsonRead(body, index, false);
    }
    for (const ServiceRecord* record : instances) {
      if (!HasTags(record->registration.tags, tags)) continue;
      ojson entry = HealthEntryJson(*record);
      if (passing && !AllPassing(entry)) continue;
      body.push_back(std::move(entry));
    }
    return JsonRead(body, index, !streaming);
  };
  Lock lock = state_->Acquire();
  state_->AnswerOrPark(lock, {WatchTopic::Kind::kService, name}, params.min_index, params.blocking,
                       params.wait, current_index, render, std::move(respond));
}

}  // namespace rollouts::sandbox
