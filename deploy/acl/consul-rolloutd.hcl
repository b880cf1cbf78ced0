# Consul ACL policy for rolloutd (least privilege). Paths assume the default
# --kv-prefix "rollouts/"; change every "rollouts/" below when you use another prefix.
#
#   consul acl policy create -name rolloutd -rules @deploy/acl/consul-rolloutd.hcl
#   consul acl token create -description rolloutd -policy-name rolloutd
# (or a Vault Consul secrets-engine role with this policy, see deploy/rolloutd.nomad.hcl).

# Rollout documents written by people / GitOps. rolloutd watches them with one recursive
# blocking query and never writes them.
key_prefix "rollouts/spec/" {
  policy = "read"
}

# Imperative requests from rolloutctl (promote, abort, retry, pause, resume). rolloutd
# reads and watches them; it records what it handled in the status, so it needs no write.
key_prefix "rollouts/control/" {
  policy = "read"
}

# The controller's record of each Rollout. Written only by rolloutd, always with CAS
# (?cas=<ModifyIndex>), so two instances can never clobber each other.
key_prefix "rollouts/status/" {
  policy = "write"
}

# What each router applied: read to decide that every live router converged after a flip.
key_prefix "rollouts/routers/" {
  policy = "read"
}

# The leader lock: acquired (?acquire=<session>), watched and released by rolloutd.
key "rollouts/leader" {
  policy = "write"
}

# The leader lock needs a session. Sessions are created on the node of the Consul agent
# rolloutd talks to; write on every node name because Nomad may place rolloutd anywhere.
# Narrow to session_prefix "<node-name-prefix>" when rolloutd runs on known nodes.
session_prefix "" {
  policy = "write"
}

# Health and catalog reads of the managed services: standby readiness (its own checks
# present and passing), flip convergence (every instance shows the new tags) and drain
# verification. Narrow to `service "<name>"` blocks when the managed services are known.
service_prefix "" {
  policy = "read"
}

# /v1/health/service entries include the node and its serfHealth check; without node read
# Consul filters those entries out and every instance would look missing.
node_prefix "" {
  policy = "read"
}
