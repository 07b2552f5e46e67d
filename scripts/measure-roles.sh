#!/usr/bin/env bash
# Peak memory and CPU of each worker role while draining the simulator's
# history, with one process per role as in Kubernetes (make bench runs one
# process with every role). Starts its own in-memory kfake broker and
# Temporal dev server on spare ports and its own database (dropped at the
# end); needs bin/orderflow and bin/temporal (make build bin/temporal).
#
#   scripts/measure-roles.sh [orders]      default 50000
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
B=$ROOT/bin
N=${1:-50000}
[ -x "$B/orderflow" ] && [ -x "$B/temporal" ] || { echo "measure-roles: run make build bin/temporal first" >&2; exit 1; }
WORK=$(mktemp -d "${TMPDIR:-/tmp}/orderflow-roles.XXXXXX")
DB=orderflow_roles_$$
export KAFKA_BROKERS=127.0.0.1:19092 TEMPORAL_ADDRESS=127.0.0.1:17233
export PG_DSN="postgres://postgres@127.0.0.1:5432/$DB?sslmode=disable"
export TEMPORAL_TASK_QUEUE_PREFIX=measure-roles SCHEDULE_ID=measure-roles LOG_LEVEL=warn
ADMIN="postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	psql "$ADMIN" -XAtqc "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null 2>&1 || true
	echo "logs: $WORK"
}
trap cleanup EXIT

psql "$ADMIN" -XAtqc "CREATE DATABASE $DB"
"$B/orderflow" broker -addr 127.0.0.1:19092 -data "" >"$WORK/broker.log" 2>&1 &
pids+=($!)
"$B/temporal" server start-dev --headless --port 17233 --ui-port 18233 --log-level error >"$WORK/temporal.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 60); do "$B/orderflow" healthcheck -url http://127.0.0.1:18233/ >/dev/null 2>&1 && break; sleep 0.5; done
"$B/orderflow" migrate >"$WORK/migrate.log" 2>&1
echo "producing $N orders of history…"
"$B/orderflow" simulate -history "$N" -per-minute 0 >"$WORK/simulate.log" 2>&1

declare -A role_pid
port=18081
for r in stg dds cdm; do
	WORKER_ROLES=$r HEALTH_ADDR=127.0.0.1:$port "$B/orderflow" worker >"$WORK/worker-$r.log" 2>&1 &
	role_pid[$r]=$!
	pids+=($!)
	port=$((port + 1))
done
sleep 3
"$B/orderflow" schedule ensure >"$WORK/schedule.log" 2>&1
start=$(date +%s.%N)
"$B/orderflow" schedule trigger >>"$WORK/schedule.log" 2>&1
drained=
for _ in $(seq 1 600); do
	sleep 0.5
	if "$B/orderflow" status 2>/dev/null | grep -qE '(^|[^0-9])lag:? *0([^0-9]|$)'; then drained=1; break; fi
done
end=$(date +%s.%N)
[ -n "$drained" ] || { echo "measure-roles: not drained after 5 minutes (logs in $WORK)" >&2; exit 1; }
hz=$(getconf CLK_TCK)
awk -v n="$N" -v s="$start" -v e="$end" 'BEGIN {printf "drained %s orders in %.1f s (polled every 0.5 s)\n\n", n, e - s}'
printf '%-5s %14s %14s %10s\n' role 'peak RSS MiB' 'RSS now MiB' 'CPU s'
for r in stg dds cdm; do
	p=${role_pid[$r]}
	hwm=$(awk '/VmHWM/ {print $2}' "/proc/$p/status")
	rss=$(awk '/VmRSS/ {print $2}' "/proc/$p/status")
	cpu=$(awk -v hz="$hz" '{printf "%.1f", ($14 + $15) / hz}' "/proc/$p/stat")
	awk -v r="$r" -v h="$hwm" -v n="$rss" -v c="$cpu" 'BEGIN {printf "%-5s %14.0f %14.0f %10s\n", r, h / 1024, n / 1024, c}'
done
