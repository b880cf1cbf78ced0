#!/bin/bash
# Checks cli/rolloutctl.bash-completion: it parses, completes verbs, flags and fixed
# values, and offers no Rollout names when Consul is unreachable (instead of errors).
# Usage: completion_test.sh <repo root> <rolloutctl binary>
set -u
root="$1"
PATH="$(dirname "$2"):$PATH"
export CONSUL_HTTP_ADDR=127.0.0.1:1
source "$root/cli/rolloutctl.bash-completion" || { echo "FAIL: script does not source"; exit 1; }
fail=0
check() {  # check "<words>" <want-word> [absent]
  local line="$1" want="$2" absent="${3:-}"
  read -r -a COMP_WORDS <<<"$line"
  [[ "$line" == *" " ]] && COMP_WORDS+=("")
  COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
  COMPREPLY=()
  _rolloutctl
  local got=" ${COMPREPLY[*]} "
  if [[ -n "$absent" ]]; then
    [[ "$got" != *" $want "* ]] || { echo "FAIL: '$line' offered '$want': $got"; fail=1; }
  else
    [[ "$got" == *" $want "* ]] || { echo "FAIL: '$line' did not offer '$want': $got"; fail=1; }
  fi
}
check "rolloutctl " promote
check "rolloutctl se" set-version
check "rolloutctl --consul-addr x " wait
check "rolloutctl wait hello --for " Healthy
check "rolloutctl wait hello --for D" Degraded
check "rolloutctl get hello --w" --watch
check "rolloutctl undo hello --" --to
check "rolloutctl list -o " json
check "rolloutctl apply --" --dry-run
check "rolloutctl promote " promote absent
[[ $fail == 0 ]] && echo "OK: bash completion"
exit $fail
