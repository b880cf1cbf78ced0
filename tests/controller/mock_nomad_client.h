// GoogleMock double of nomad::NomadClient for the progress-watch and reconciler tests.
#pragma once

#include <gmock/gmock.h>

#include "clients/nomad/nomad_client.h"

namespace rollouts::controller::testing {

class MockNomadClient : public nomad::NomadClient {
 public:
  using Allocs = nomad::Indexed<std::vector<nomad::AllocationStub>>;
  MOCK_METHOD((nomad::ApiResult<std::string>), Leader, (), (override));
  MOCK_METHOD((nomad::ApiResult<std::vector<nomad::JobListStub>>), ListJobs, (const std::string&),
              (override));
  MOCK_METHOD((nomad::ApiResult<std::optional<nomad::Job>>), GetJob, (const std::string&),
              (override));
  MOCK_METHOD((nomad::ApiResult<nomad::WriteResponse>), RegisterJob,
              (const nomad::Job&, std::optional<uint64_t>, bool), (override));
  MOCK_METHOD((nomad::ApiResult<nomad::PlanResult>), PlanJob, (const nomad::Job&), (override));
  MOCK_METHOD((nomad::ApiResult<nomad::JobVersions>), GetJobVersions, (const std::string&, bool),
              (override));
  MOCK_METHOD((nomad::ApiResult<nomad::WriteResponse>), ScaleJob,
              (const std::string&, const std::string&, std::optional<int>, const std::string&,
               const nlohmann::json&),
              (override));
  MOCK_METHOD((nomad::ApiResult<nomad::JobScaleStatus>), GetJobScaleStatus, (const std::string&),
              (override));
  MOCK_METHOD((nomad::ApiResult<nomad::WriteResponse>), DeregisterJob, (const std::string&, bool),
              (override));
  MOCK_METHOD((nomad::ApiResult<Allocs>), JobAllocations,
              (const std::string&, const nomad::BlockingQuery&), (override));
  MOCK_METHOD((nomad::ApiResult<std::optional<nomad::Allocation>>), GetAllocation,
              (const std::string&), (override));
  MOCK_METHOD((nomad::ApiResult<std::vector<nomad::Deployment>>), JobDeployments,
              (const std::string&), (override));
  MOCK_METHOD((nomad::ApiResult<std::optional<nomad::Deployment>>), LatestDeployment,
              (const std::string&), (override));
  MOCK_METHOD((nomad::ApiResult<std::optional<nomad::Deployment>>), GetDeployment,
              (const std::string&), (override));
  MOCK_METHOD((nomad::ApiResult<std::optional<nomad::Evaluation>>), GetEvaluation,
              (const std::string&), (override));
  MOCK_METHOD((nomad::ApiResult<std::vector<nomad::Evaluation>>), JobEvaluations,
              (const std::string&), (override));
  MOCK_METHOD((nomad::ApiResult<nomad::JobSummary>), GetJobSummary, (const std::string&),
              (override));
};

}  // namespace rollouts::controller::testing
