#!/usr/bin/env bash
# A Nomad job's HCL passes the real Nomad's `nomad job validate`, and its JSON copy says
# what the HCL says as the real Nomad parses it: `nomad job run -output` turns the HCL
# into the API form (offline, no agent), and both are compared on what matters to an
# operator: ids, update, groups, ports, services and checks, and per task its lifecycle,
# command, arguments, environment names, signals, resources, restart and log settings. Left out on purpose, as the JSON copies are for the
# sandbox (docs/operations.md, docs/routers.md): the driver (exec vs raw_exec), static vs
# dynamic ports (labels are compared), constraints, Vault and templates, env values.
#   check_nomad_job_hcl.sh JOB.hcl JOB.json [JOB.hcl JOB.json]...
# Exits 77 (skipped) without nomad ($ROLLOUTS_AGENTS_DIR or PATH, as the real-agent tier).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
source "$root/scripts/lib/real-agents.sh"
real_agents_require nomad
command -v jq >/dev/null || { echo "SKIP: jq is missing (scripts/install-deps.sh installs it)"; exit 77; }
nomad=$(real_agent_path nomad)

# shellcheck disable=SC2016  # jq program
projection='
  .Job | {
    ID, Name, Type, Namespace: (.Namespace // "default"), Datacenters,
    Update: (.Update // {} | {MaxParallel, HealthCheck, MinHealthyTime, HealthyDeadline,
                              ProgressDeadline, AutoRevert}),
    Groups: [.TaskGroups[] | {
      Name, Count,
      RestartPolicy: (.RestartPolicy // {} | {Attempts, Interval, Delay, Mode}),
      Ports: ([.Networks[]? | ((.ReservedPorts // [])[], (.DynamicPorts // [])[]) | .Label] | sort),
      Services: [.Services[]? | {Name, PortLabel, Tags,
                                 Checks: [.Checks[]? | {Name, Type, Path, Interval, Timeout}]}],
      Tasks: [.Tasks[] | {
        Name, Lifecycle: (.Lifecycle // null), command: .Config.command, args: .Config.args,
        EnvNames: ((.Env // {}) | keys), KillSignal, KillTimeout,
        CPU: .Resources.CPU, MemoryMB: .Resources.MemoryMB,
        LogConfig: (.LogConfig // {} | {MaxFiles, MaxFileSizeMB})}]}]}'

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail=0
while (($# >= 2)); do
  hcl=$1 json=$2
  shift 2
  # `job validate` without an agent (port 1 refuses at once) validates the job locally:
  # stanzas, lifecycle, ports, services; only the driver config needs an agent.
  if ! NOMAD_ADDR=http://127.0.0.1:1 "$nomad" job validate "$hcl" >"$work/validate" 2>&1; then
    echo "FAILED: nomad job validate $(basename "$hcl"):"
    cat "$work/validate"
    fail=1
    continue
  fi
  "$nomad" job run -output "$hcl" >"$work/parsed.json"
  jq -S "$projection" "$work/parsed.json" >"$work/from-hcl.json"
  jq -S "$projection" "$json" >"$work/from-json.json"
  if diff -u "$work/from-hcl.json" "$work/from-json.json" >"$work/diff"; then
    echo "ok: $(basename "$json") says what $(basename "$hcl") says"
  else
    echo "FAILED: $(basename "$json") differs from $(basename "$hcl") (- HCL, + JSON):"
    cat "$work/diff"
    fail=1
  fi
done
exit $fail
