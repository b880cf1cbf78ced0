# Nomad ACL policy for rolloutd (least privilege).
#
#   nomad acl policy apply -description "rolloutd" rolloutd deploy/acl/nomad-rolloutd.hcl
#   nomad acl token create -name rolloutd -policy rolloutd -type client
# (or a Vault Nomad secrets-engine role with this policy, see deploy/rolloutd.nomad.hcl).
#
# One namespace block per Nomad namespace that holds managed jobs (NOMAD_NAMESPACE, and
# the namespaces named in --allowed-jobs). rolloutd additionally refuses jobs outside
# --allowed-jobs, so the ACL is the second fence, not the only one.
namespace "default" {
  capabilities = [
    # GET /v1/job/<id>, /versions, /allocations, /deployments, /deployment, /evaluations,
    # /summary, /v1/allocation/<id>, /v1/deployment/<id>, /v1/evaluation/<id>: observe the
    # job, its allocations' health and its deployments.
    "read-job",
    # GET /v1/jobs: find the managed job and report an unknown job clearly.
    "list-jobs",
    # POST /v1/jobs and /v1/job/<id>/plan: every change (new version in the standby group,
    # the active/standby tag flip, the old group's Count to 0) is one job register with
    # EnforceIndex. Deliberately NOT "scale-job": the scale endpoint is never used (on
    # Nomad 1.0 a rejected scale still changed the job), and not "dispatch-job",
    # "alloc-lifecycle", "alloc-exec", "read-logs" or "submit-recommendation".
    "submit-job",
  ]
}

# Nothing outside the namespace: no node, agent, operator or quota access. (Leader
# election and all state live in Consul, not Nomad.)
