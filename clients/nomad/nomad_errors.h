// Classifies Nomad's error answers. Nomad answers in plain text and its status codes say
// little on their own: 500 is used both for job validation failures (a multi-error text)
// and for an EnforceIndex conflict, 400 for undecodable JSON and for a scale refused
// during a deployment. So the classification looks at what was called and at the text.
#pragma once

#include <string>

#include "clients/common/api_error.h"

namespace rollouts::nomad {

enum class CallKind {
  kRead,
  kRegister,  // POST /v1/jobs, POST /v1/job/<id>, and plan (validates the same way)
  kWrite,     // scale, deregister
};

// endpoint is "METHOD /path" without the query; body is the agent's answer.
clients::ApiError ClassifyNomadError(CallKind call, const std::string& endpoint, int status,
                                     const std::string& body);

}  // namespace rollouts::nomad
