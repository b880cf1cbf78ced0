# Consul ACL policy for rollout-router (least privilege). Paths assume the default
# --kv-prefix "rollouts/".
#
#   consul acl policy create -name rollout-router -rules @deploy/acl/consul-router.hcl
#   consul acl token create -description rollout-router -policy-name rollout-router

# The declared Active version of each Rollout (status.activeVersion): the router only
# routes to instances tagged active whose version matches it. Read and watched.
key_prefix "rollouts/status/" {
  policy = "read"
}

# The router's own report, rollouts/routers/<id>, written with ?acquire=<session> so it
# disappears when the router dies (session behavior "delete"). Write is needed on the
# prefix because the id is chosen at start (--id, default hostname-pid); with fixed ids,
# narrow it to `key "rollouts/routers/<id>"` per router token.
key_prefix "rollouts/routers/" {
  policy = "write"
}

# The session that owns the report key (create, renew, destroy), on the local agent's node.
session_prefix "" {
  policy = "write"
}

# Instances and checks of the routed services (blocking /v1/health/service/<name>, tags
# filtered by the router itself). Narrow to `service "<name>"` blocks per routed service.
service_prefix "" {
  policy = "read"
}

# Health entries carry node data; without node read Consul drops them.
node_prefix "" {
  policy = "read"
}
