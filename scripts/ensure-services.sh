#!/usr/bin/env bash
# Makes sure PostgreSQL answers on 127.0.0.1:5432 and Redis on 127.0.0.1:6379:
# leaves running servers alone, starts installed but stopped ones, and (as
# root) installs missing ones from Debian's packages. Then creates the
# database named by $PG_DSN if it does not exist yet.
#
#   --test-tools  also the tools the tests drive: chromium (the dashboard's
#                 browser test), docker-compose (validates
#                 docker-compose.yml without an engine) and promtool (Debian
#                 package prometheus: checks and unit-tests the alerting
#                 rules of deploy/monitoring). Installed here, one after the
#                 other, rather than by tests running in parallel.
#   PG_DSN        default postgres://postgres@127.0.0.1:5432/orderflow?sslmode=disable
#
# One line per action; exits non-zero with the reason when it cannot.
set -euo pipefail

PG_HOST=127.0.0.1
PG_PORT=5432
REDIS_HOST=127.0.0.1
REDIS_PORT=6379
PG_DSN=${PG_DSN:-postgres://postgres@127.0.0.1:5432/orderflow?sslmode=disable}

say() { echo "ensure-services: $*"; }
die() { echo "ensure-services: ERROR: $*" >&2; exit 1; }
is_root() { [ "$(id -u)" -eq 0 ]; }

# --- probes ---------------------------------------------------------------

port_open() { # host port
	(exec 3<>"/dev/tcp/$1/$2") 2>/dev/null
}

pg_up() {
	if command -v pg_isready >/dev/null 2>&1; then
		pg_isready -q -h "$PG_HOST" -p "$PG_PORT" -t 3
	else
		port_open "$PG_HOST" "$PG_PORT"
	fi
}

redis_up() {
	if command -v redis-cli >/dev/null 2>&1; then
		[ "$(timeout 5 redis-cli -h "$REDIS_HOST" -p "$REDIS_PORT" ping 2>/dev/null)" = PONG ]
	else
		local reply
		reply=$(timeout 5 bash -c 'exec 3<>"/dev/tcp/$1/$2"; printf "PING\r\n" >&3; head -c 5 <&3' _ "$REDIS_HOST" "$REDIS_PORT" 2>/dev/null) || return 1
		[ "$reply" = "+PONG" ]
	fi
}

wait_for() { # seconds probe
	local secs=$1 probe=$2 i
	for ((i = 0; i < secs * 4; i++)); do
		if "$probe"; then return 0; fi
		sleep 0.25
	done
	return 1
}

# --- installing -------------------------------------------------------------

APT_UPDATED=
apt_install() { # packages...
	is_root || die "$* not installed and not running as root; install it: sudo apt-get install -y $*"
	command -v apt-get >/dev/null 2>&1 || die "$* not installed and apt-get is not available; install it yourself"
	if [ -z "$APT_UPDATED" ]; then
		say "running apt-get update"
		DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 update -qq || die "apt-get update failed"
		APT_UPDATED=1
	fi
	say "installing $* with apt-get"
	# Wait for another apt-get (say the machine's own) rather than fail.
	DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "$@" >/dev/null ||
		die "apt-get install $* failed"
}

# --- PostgreSQL -------------------------------------------------------------

pg_versions() { # installed server versions, newest last
	local d
	for d in /usr/lib/postgresql/*/bin/postgres; do
		[ -x "$d" ] || continue
		d=${d#/usr/lib/postgresql/}
		echo "${d%%/*}"
	done | sort -n
}

pg_installed() { [ -n "$(pg_versions)" ]; }

# pg_cluster prints "version name" of the cluster to start: the one on
# $PG_PORT, else the first one; nothing if there is none.
pg_cluster() {
	local first="" ver name port rest
	command -v pg_lsclusters >/dev/null 2>&1 || return 0
	while read -r ver name port rest; do
		[ -n "$first" ] || first="$ver $name"
		if [ "$port" = "$PG_PORT" ]; then
			echo "$ver $name"
			return 0
		fi
	done < <(pg_lsclusters -h 2>/dev/null || true)
	if [ -n "$first" ]; then echo "$first"; fi
}

# pg_trust_local makes local TCP connections trusted (a fresh Debian cluster
# wants a password for them; the project's DSNs have none).
pg_trust_local() { # version name
	local hba="/etc/postgresql/$1/$2/pg_hba.conf"
	[ -f "$hba" ] || return 0
	if grep -Eq '^[[:space:]]*host[[:space:]]+all[[:space:]]+all[[:space:]]+127\.0\.0\.1/32[[:space:]]+trust' "$hba"; then
		return 0
	fi
	say "configuring trust authentication for 127.0.0.1 and ::1 in $hba"
	sed -i -E 's/^([[:space:]]*host[[:space:]]+all[[:space:]]+all[[:space:]]+(127\.0\.0\.1\/32|::1\/128)[[:space:]]+)[a-z0-9-]+/\1trust/' "$hba"
	if ! grep -Eq '^[[:space:]]*host[[:space:]]+all[[:space:]]+all[[:space:]]+127\.0\.0\.1/32[[:space:]]+trust' "$hba"; then
		# No such line to edit: put ours first (pg_hba is first match).
		sed -i '1i host all all 127.0.0.1/32 trust\nhost all all ::1/128 trust' "$hba"
	fi
}

pg_start() {
	local fresh=$1 cluster ver name log
	if ! command -v pg_ctlcluster >/dev/null 2>&1; then
		if command -v service >/dev/null 2>&1; then
			say "starting PostgreSQL with: service postgresql start"
			service postgresql start >/dev/null || die "service postgresql start failed"
			return
		fi
		die "PostgreSQL is installed but pg_ctlcluster (postgresql-common) is missing; start it on $PG_HOST:$PG_PORT yourself"
	fi
	cluster=$(pg_cluster)
	if [ -z "$cluster" ]; then
		is_root || die "PostgreSQL has no cluster; create one: sudo pg_createcluster $(pg_versions | tail -n1) main"
		ver=$(pg_versions | tail -n1)
		say "creating PostgreSQL cluster $ver/main on port $PG_PORT"
		pg_createcluster -p "$PG_PORT" "$ver" main >/dev/null || die "pg_createcluster $ver main failed"
		fresh=1
		cluster="$ver main"
	fi
	read -r ver name <<<"$cluster"
	if [ "$fresh" = 1 ]; then pg_trust_local "$ver" "$name"; fi
	if pg_lsclusters -h "$ver" "$name" 2>/dev/null | awk '{print $4}' | grep -q '^online'; then
		# Running but not answering yet (just started by the package, or
		# restarted for the new pg_hba.conf): reload and wait below.
		pg_ctlcluster --skip-systemctl-redirect "$ver" "$name" reload >/dev/null 2>&1 || true
		say "PostgreSQL $ver/$name is running; waiting for it"
	else
		say "starting PostgreSQL $ver/$name with: pg_ctlcluster --skip-systemctl-redirect $ver $name start"
		if ! pg_ctlcluster --skip-systemctl-redirect "$ver" "$name" start; then
			log=/var/log/postgresql/postgresql-$ver-$name.log
			[ -r "$log" ] && tail -n 20 "$log" >&2
			die "could not start PostgreSQL $ver/$name (log: $log)"
		fi
	fi
}

ensure_pg() {
	if pg_up; then
		say "PostgreSQL answers on $PG_HOST:$PG_PORT"
		return
	fi
	local fresh=0
	if ! pg_installed; then
		say "PostgreSQL is not installed"
		apt_install postgresql
		fresh=1
		pg_up && { pg_trust_local_all; say "PostgreSQL answers on $PG_HOST:$PG_PORT"; return; }
	fi
	pg_start "$fresh"
	wait_for 30 pg_up ||
		die "PostgreSQL does not answer on $PG_HOST:$PG_PORT after starting it (is its port $PG_PORT? see pg_lsclusters and /var/log/postgresql/)"
	say "PostgreSQL answers on $PG_HOST:$PG_PORT"
}

# After a fresh install whose cluster the package already started.
pg_trust_local_all() {
	local ver name
	local cluster
	cluster=$(pg_cluster)
	[ -n "$cluster" ] || return 0
	read -r ver name <<<"$cluster"
	pg_trust_local "$ver" "$name"
	pg_ctlcluster --skip-systemctl-redirect "$ver" "$name" reload >/dev/null 2>&1 || true
}

# --- Redis ------------------------------------------------------------------

redis_start() {
	local dir=/var/lib/redis logdir=/var/log/redis
	if ! { mkdir -p "$dir" "$logdir" && [ -w "$dir" ] && [ -w "$logdir" ]; } 2>/dev/null; then
		dir=${TMPDIR:-/tmp}/orderflow-redis
		logdir=$dir
		mkdir -p "$dir"
	fi
	say "starting Redis with: redis-server --daemonize yes --bind 127.0.0.1 -::1 --port $REDIS_PORT (log $logdir/ci.log)"
	redis-server --daemonize yes --bind 127.0.0.1 -::1 --port "$REDIS_PORT" --save "" --appendonly no \
		--dir "$dir" --logfile "$logdir/ci.log" ||
		die "could not start Redis (log: $logdir/ci.log)"
	wait_for 15 redis_up || {
		tail -n 20 "$logdir/ci.log" >&2 2>/dev/null || true
		die "Redis does not answer on $REDIS_HOST:$REDIS_PORT after starting it (log: $logdir/ci.log)"
	}
}

ensure_redis() {
	if redis_up; then
		say "Redis answers on $REDIS_HOST:$REDIS_PORT"
		return
	fi
	if ! command -v redis-server >/dev/null 2>&1; then
		say "Redis is not installed"
		apt_install redis-server
		# The package may have started it already.
		if wait_for 3 redis_up; then
			say "Redis answers on $REDIS_HOST:$REDIS_PORT"
			return
		fi
	fi
	redis_start
	say "Redis answers on $REDIS_HOST:$REDIS_PORT"
}

# --- the database -------------------------------------------------------------

ensure_database() {
	local base rest db admin exists
	case $PG_DSN in
	postgres://* | postgresql://*) ;;
	*) die "PG_DSN must be a postgres:// URL naming a database: $PG_DSN" ;;
	esac
	base=${PG_DSN%%\?*}
	rest=${base#*://}
	db=${rest#*/}
	[ "$db" != "$rest" ] && [ -n "$db" ] || die "PG_DSN names no database: $PG_DSN"
	[[ "$db" =~ ^[A-Za-z0-9_-]+$ ]] || die "database name '$db' from PG_DSN has unexpected characters"
	if ! command -v psql >/dev/null 2>&1; then
		apt_install postgresql-client
	fi
	admin="${base%/*}/postgres"
	[ "$base" = "$PG_DSN" ] || admin="$admin?${PG_DSN#*\?}"
	if ! exists=$(psql "$admin" -XAtqc "SELECT 1 FROM pg_database WHERE datname = '$db'" 2>&1); then
		die "cannot connect to PostgreSQL as in PG_DSN: $exists
(if it asks for a password, allow trust authentication for 127.0.0.1 in pg_hba.conf: 'host all all 127.0.0.1/32 trust')"
	fi
	if [ "$exists" = 1 ]; then
		say "database $db exists"
		return
	fi
	say "creating database $db"
	psql "$admin" -XAtqc "CREATE DATABASE \"$db\"" >/dev/null || die "could not create database $db"
}

# --- tools the tests drive -----------------------------------------------------

ensure_test_tools() {
	local missing=()
	[ -x /usr/bin/chromium ] || missing+=(chromium)
	command -v docker-compose >/dev/null 2>&1 ||
		{ command -v docker >/dev/null 2>&1 && docker compose version >/dev/null 2>&1; } ||
		missing+=(docker-compose)
	# promtool comes with Debian's prometheus package (which also installs
	# a Prometheus server service; the tests use only promtool).
	command -v promtool >/dev/null 2>&1 || missing+=(prometheus)
	if [ ${#missing[@]} -eq 0 ]; then
		say "chromium, docker-compose and promtool are installed"
		return
	fi
	if ! is_root || ! command -v apt-get >/dev/null 2>&1; then
		say "WARNING: ${missing[*]} missing, and the tests that drive them will fail; install: sudo apt-get install -y ${missing[*]}"
		return
	fi
	apt_install "${missing[@]}"
}

TEST_TOOLS=0
for arg in "$@"; do
	case $arg in
	--test-tools) TEST_TOOLS=1 ;;
	-h | --help)
		sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
		exit 0
		;;
	*) die "unknown argument $arg (see --help)" ;;
	esac
done

ensure_pg
ensure_redis
ensure_database
if [ "$TEST_TOOLS" = 1 ]; then ensure_test_tools; fi
