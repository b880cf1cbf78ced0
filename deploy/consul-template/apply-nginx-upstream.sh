#!/usr/bin/env bash
# Installs a file rendered by consul-template (rollout-upstream.ctmpl) as nginx's live
# upstream file and reloads nginx, refusing anything that would lose traffic:
#
#   1. the candidate must contain at least one upstream block, and every upstream block at
#      least one `server` line: an empty upstream (no ready instance tagged active runs the
#      declared version, e.g. in the staggered instant of a flip) is refused and the live
#      file, the last good one, stays in place;
#   2. an unchanged candidate does nothing (no reload);
#   3. the candidate is moved over the live file atomically (copy to a temporary file in
#      the same directory, then rename), and `nginx -t` tests the whole configuration as
#      nginx would load it; if the test fails the previous live file is moved back the same
#      way. nginx reads the file only on reload, so the rejected file was never served;
#   4. `nginx -s reload` (old workers finish their requests, new ones use the new upstream).
#
# Exit codes: 0 reloaded or unchanged; 2 usage; 3 empty upstream refused; 4 nginx -t
# rejected the candidate (previous file restored); 5 reload failed (the new file is in
# place and passed nginx -t; nginx keeps running its previous configuration, e.g. nginx
# is not running). Every refusal leaves the live file as it was and says why on stderr.
# --always-exit-zero turns 3, 4 and 5 into 0 (the message on stderr stays): consul-template
# 0.25 stops for good when its command exits non-zero, so as its command a refused empty
# upstream (expected in the instant of a flip) would leave nginx on the last good file
# with nothing watching Consul any more.
#
# Use as consul-template's `command` (see README.md):
#   apply-nginx-upstream.sh --candidate FILE --live FILE [--nginx PATH] [--conf NGINX_CONF]
#                           [--prefix NGINX_PREFIX] [--always-exit-zero]
set -uo pipefail

candidate='' live='' nginx=/usr/sbin/nginx conf='' prefix='' always_zero=false
usage() {
  sed -n '2,/^set -uo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2
  exit 2
}
while [ $# -gt 0 ]; do
  case $1 in
    --candidate) candidate=${2:-}; shift 2 || usage ;;
    --live) live=${2:-}; shift 2 || usage ;;
    --nginx) nginx=${2:-}; shift 2 || usage ;;
    --conf) conf=${2:-}; shift 2 || usage ;;
    --prefix) prefix=${2:-}; shift 2 || usage ;;
    --always-exit-zero) always_zero=true; shift ;;
    -h | --help) usage ;;
    *) echo "apply-nginx-upstream: unknown argument '$1'" >&2; usage ;;
  esac
done
if [ -z "$candidate" ] || [ -z "$live" ]; then usage; fi

say() { echo "apply-nginx-upstream: $*" >&2; }
# refuse CODE: ends a run that left nginx on what it had (see --always-exit-zero).
refuse() {
  if $always_zero; then
    say "(exit $1 reported as 0: --always-exit-zero)"
    exit 0
  fi
  exit "$1"
}
nginx_cmd() {
  local args=("$nginx")
  [ -n "$prefix" ] && args+=(-p "$prefix")
  [ -n "$conf" ] && args+=(-c "$conf")
  "${args[@]}" "$@"
}
# Copies $1 over $2 atomically: readers (nginx -t, a reload) see the old or the new file,
# never a half-written one.
install_atomically() {
  local tmp
  tmp=$(mktemp "$(dirname "$2")/.$(basename "$2").XXXXXX") || return 1
  if cat "$1" >"$tmp" && chmod 0644 "$tmp" && mv -f "$tmp" "$2"; then return 0; fi
  rm -f "$tmp"
  return 1
}

if [ ! -r "$candidate" ]; then
  say "cannot read the candidate $candidate; keeping $live"
  refuse 3
fi

# One run at a time per live file (consul-template may run commands of several templates).
exec 9>"$live.lock" || { say "cannot open the lock file $live.lock"; exit 2; }
flock -w 60 9 || { say "another run holds $live.lock for 60 s; giving up"; exit 2; }

# 1. Every upstream block needs a server line (comments and blank lines ignored).
check=$(awk '
  { sub(/#.*/, "") }
  !inside && /^[ \t]*upstream[ \t]+[^ \t{]+[ \t]*\{/ {
    inside = 1; servers = 0; blocks++
    name = $0; sub(/^[ \t]*upstream[ \t]+/, "", name); sub(/[ \t]*\{.*/, "", name)
    next
  }
  inside && /^[ \t]*server[ \t]+[^ \t;{]+/ { servers++; total++ }
  inside && /^[ \t]*\}/ { inside = 0; if (servers == 0) print "empty " name }
  END {
    if (blocks == 0) print "empty (no upstream block at all)"
    else if (inside) print "empty " name " (unterminated)"
    print "servers " total + 0
  }
' "$candidate")
empty=$(echo "$check" | sed -n 's/^empty //p' | paste -sd, -)
servers=$(echo "$check" | sed -n 's/^servers //p')
if [ -n "$empty" ]; then
  say "refusing $candidate: no server in upstream $empty" \
    "(no passing instance tagged active runs the declared version); keeping the last good $live"
  refuse 3
fi

# 2. Nothing to do.
if [ -f "$live" ] && cmp -s "$candidate" "$live"; then
  say "unchanged: $live already has this content; no reload"
  exit 0
fi

# 3. Move in, test, move back on failure.
backup=
if [ -f "$live" ]; then
  backup=$live.last-good
  install_atomically "$live" "$backup" || { say "cannot save $live to $backup; keeping $live"; refuse 4; }
fi
install_atomically "$candidate" "$live" || { say "cannot write $live; it is unchanged"; refuse 4; }
if ! out=$(nginx_cmd -t -q 2>&1); then
  if [ -n "$backup" ]; then
    install_atomically "$backup" "$live" || say "WARNING: could not restore $live from $backup"
  else
    rm -f "$live"
  fi
  say "nginx -t rejected $candidate; kept the last good $live. nginx said: $out"
  refuse 4
fi

# 4. Reload.
if ! out=$(nginx_cmd -s reload 2>&1); then
  say "$live passed nginx -t but the reload failed (is nginx running?): $out"
  refuse 5
fi
say "reloaded nginx with $live ($servers upstream servers)"
exit 0
