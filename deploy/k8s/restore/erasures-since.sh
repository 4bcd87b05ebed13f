#!/bin/sh
# The users whose erasure was asked for at or after a point in time: the erasures a
# database restored to that time has forgotten. Reads retention's record of
# data-subject requests (`python -m services.retention.cli --json requests`, taken
# from the live database before the switch) on stdin; prints one user id a line.
#   ... --json requests | deploy/k8s/restore/erasures-since.sh 2026-08-20T10:00:00Z
set -eu
[ $# -eq 1 ] || { echo "usage: $0 <UTC time, e.g. 2026-08-20T10:00:00Z>" >&2; exit 2; }
jq -r --arg since "$1" '
  ($since | sub("\\.[0-9]+"; "") | fromdateiso8601) as $t
  | .requests[]?
  | select(.kind == "erasure" and ((.created_at | sub("\\.[0-9]+"; "") | fromdateiso8601) >= $t))
  | .user_id' | sort -u
