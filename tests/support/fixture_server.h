// Serves recorded Consul/Nomad exchanges from tests/fixtures/api on 127.0.0.1 so a
// client can be tested against exactly what the real agents answered.
#pragma once

#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "clients/http/http.h"
#include "clients/http/server.h"

namespace rollouts::testing {

struct Fixture {
  std::string file;  // "consul/008-kv-get-single.json"
  std::string note;
  std::string method;
  std::string path;  // path + query exactly as recorded
  nlohmann::ordered_json request_headers;
  nlohmann::ordered_json request_body;  // null = no body; string = sent verbatim; else json.dumps
  int status = 0;
  http::Headers response_headers;
  nlohmann::ordered_json response_body;  // parsed JSON when the response was JSON, else a string
  std::string response_body_raw;         // the bytes the server sends back

  // The request body bytes the recording driver sent (json.dumps with ", " / ": ").
  std::string RequestBodyBytes() const;
};

// The folder with consul/ and nomad/ (ROLLOUTS_FIXTURES_DIR at build time, or the
// ROLLOUTS_FIXTURES_DIR environment variable).
std::string FixturesDir();
Fixture LoadFixture(const std::string& relative_path);
// Every exchange file in "consul" or "nomad", in file order (hello-job.json excluded).
std::vector<Fixture> LoadFixtures(const std::string& subdir);

// Python's json.dumps default formatting, which is what the fixtures' request bodies were
// sent as (KV values are exactly these bytes).
std::string PythonJsonDumps(const nlohmann::ordered_json& value);

// Answers each request with the first not-yet-used fixture whose method and path+query
// match exactly (so a sequence of identical requests replays in order). Unmatched
// requests get 599 and a text naming the request, which makes a test fail clearly.
class FixtureServer {
 public:
  explicit FixtureServer(std::vector<Fixture> fixtures);
  ~FixtureServer();
  std::string base_url() const;
  std::vector<http::ServerRequest> received() const;

 private:
  void Handle(http::ServerRequest request, http::Responder respond);

  mutable std::mutex mu_;
  std::vector<Fixture> fixtures_;
  std::vector<bool> used_;
  std::vector<http::ServerRequest> received_;
  std::unique_ptr<http::Server> server_;
};

}  // namespace rollouts::testing
