#!/usr/bin/env bash
# Local services for development, tests and benchmarks:
#   - a one-node Ceph cluster (in-memory object store) with the RADOS Gateway as the S3 endpoint
#   - one Redis master on 6379 (plus optional extra masters for Redlock quorum tests)
#
# Usage: scripts/services.sh up|down|env|status
#
#   up      install what is missing (Debian/Ubuntu apt), start what is not running, wait until healthy
#   down    stop everything this script started and delete its state directory
#   env     print `export` lines for the test suite / benchmarks (stdout only carries these lines)
#   status  report each service; exit 0 when all answer, 1 otherwise
#
# Environment (all optional):
#   SERVICES_DIR          state, config, logs and pid files (default /tmp/tus-s3-services)
#   S3_ACCESS_KEY_ID      access key of the S3 user (default tusdev)
#   S3_SECRET_ACCESS_KEY  secret of the S3 user (default tusdevsecret)
#   S3_BUCKET             bucket created by `up` (default tus-uploads)
#   REDIS_EXTRA_PORTS     extra Redis masters, e.g. "6380 6381" (default none)
#   MEMSTORE_BYTES        size of the in-memory OSD (default 8 GiB)
#   SERVICES_TIMEOUT      seconds to wait for a service to become healthy (default 90)
#
# Notes on the Ceph setup (the traps are real):
#   - Auth is off (`auth * required = none`), but then every daemon and client must also accept the
#     `crc` connection mode, otherwise radosgw hangs at "failed to fetch mon config".
#   - The OSD uses memstore: data lives in the OSD's memory and disappears when it stops. If the OSD
#     or the monitor is gone, `up` rebuilds the cluster from scratch instead of trying to recover it.
#   - RGW creates ~7 pools on first start; small pg counts and a high mon_max_pg_per_osd keep one OSD
#     from refusing them. Pool size 1 needs `mon allow pool size one`; placement on a single host
#     needs `osd crush chooseleaf type = 0`.

set -euo pipefail

SERVICES_DIR="${SERVICES_DIR:-/tmp/tus-s3-services}"
S3_ACCESS_KEY_ID="${S3_ACCESS_KEY_ID:-tusdev}"
S3_SECRET_ACCESS_KEY="${S3_SECRET_ACCESS_KEY:-tusdevsecret}"
S3_BUCKET="${S3_BUCKET:-tus-uploads}"
S3_REGION="${S3_REGION:-us-east-1}"
REDIS_PORT=6379
REDIS_EXTRA_PORTS="${REDIS_EXTRA_PORTS:-}"
MEMSTORE_BYTES="${MEMSTORE_BYTES:-8589934592}"
TIMEOUT="${SERVICES_TIMEOUT:-90}"

RGW_HOST=127.0.0.1
RGW_PORT=7480
RGW_URL="http://${RGW_HOST}:${RGW_PORT}"
MON_ADDR="v2:127.0.0.1:3300"
S3_UID=tusdev

CONF="$SERVICES_DIR/ceph.conf"
RUN="$SERVICES_DIR/run"
LOG="$SERVICES_DIR/log"

log() { printf '[services] %s\n' "$*" >&2; }
die() { printf '[services] ERROR: %s\n' "$*" >&2; exit 1; }

# ---------------------------------------------------------------------------------------------------
# helpers

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi
}

# ceph CLI with our config; every call is time-bounded
ceph_cli() { timeout 30 ceph -c "$CONF" --connect-timeout 20 "$@"; }
rgw_admin() { timeout 60 radosgw-admin -c "$CONF" -n client.admin "$@"; }

pid_of() { # pid_of <pidfile> <comm-prefix>: prints the pid when the file names a live process of that kind
  local file="$1" comm="$2" pid
  [ -s "$file" ] || return 1
  pid="$(tr -dc '0-9' <"$file")"
  [ -n "$pid" ] && [ -r "/proc/$pid/comm" ] || return 1
  # a zombie (exited, not yet reaped by its parent) is not running
  [ "$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)" != Z ] || return 1
  case "$(cat "/proc/$pid/comm" 2>/dev/null)" in "$comm"*) printf '%s' "$pid" ;; *) return 1 ;; esac
}

stop_pidfile() { # stop_pidfile <pidfile> <comm-prefix> <label>
  local pid _
  pid="$(pid_of "$1" "$2")" || { rm -f "$1"; return 0; }
  log "stopping $3 (pid $pid)"
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 50); do
    pid_of "$1" "$2" >/dev/null || break
    sleep 0.2
  done
  if pid_of "$1" "$2" >/dev/null; then kill -KILL "$pid" 2>/dev/null || true; sleep 0.2; fi
  rm -f "$1"
}

rgw_answers() { # anonymous ListBuckets: RGW answers with XML once it is serving
  curl -s -m 5 -o /dev/null -w '%{http_code}' "$RGW_URL/" 2>/dev/null | grep -q '^200$'
}

s3_curl() { # signed S3 request: s3_curl <METHOD> <path> [curl args...]; prints the HTTP status
  local method="$1" path="$2" out="$SERVICES_DIR/last-s3-response"; shift 2
  [ -d "$SERVICES_DIR" ] || out=/dev/null
  curl -s -m 15 -o "$out" -w '%{http_code}' -X "$method" \
    --aws-sigv4 "aws:amz:${S3_REGION}:s3" --user "${S3_ACCESS_KEY_ID}:${S3_SECRET_ACCESS_KEY}" \
    -H 'x-amz-content-sha256: e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855' \
    "$@" "$RGW_URL$path" 2>/dev/null || true
}

redis_answers() { # redis_answers <port>
  [ "$(timeout 5 redis-cli -h 127.0.0.1 -p "$1" ping 2>/dev/null)" = PONG ]
}

show_logs() {
  local f
  for f in "$@"; do
    [ -f "$f" ] || continue
    printf '[services] ---- tail of %s ----\n' "$f" >&2
    tail -n 40 "$f" >&2 || true
  done
}

wait_for() { # wait_for <description> <seconds> <command...>
  local what="$1" secs="$2"; shift 2
  local deadline=$((SECONDS + secs))
  until "$@"; do
    if [ "$SECONDS" -ge "$deadline" ]; then
      log "timed out after ${secs}s waiting for $what"
      return 1
    fi
    sleep 0.5
  done
}

# ---------------------------------------------------------------------------------------------------
# install

ensure_installed() {
  local pkgs=() bin
  for bin in ceph-mon:ceph-mon ceph-osd:ceph-osd radosgw:radosgw radosgw-admin:ceph-common \
    ceph:ceph-common ceph-authtool:ceph-common monmaptool:ceph-base redis-server:redis-server redis-cli:redis-tools curl:curl; do
    command -v "${bin%%:*}" >/dev/null 2>&1 || pkgs+=("${bin#*:}")
  done
  [ "${#pkgs[@]}" -eq 0 ] && return 0
  # Always ask for the full set, so that dependencies come along in one go.
  pkgs=(radosgw ceph-mon ceph-osd ceph-common ceph-base redis-server redis-tools curl)
  command -v apt-get >/dev/null 2>&1 || die "missing binaries and no apt-get: install ${pkgs[*]} yourself"
  log "installing ${pkgs[*]} (about a minute)"

  # Packages must not start their own services (Debian's redis-server would take port 6379 with a
  # persistent config). policy-rc.d is honoured by invoke-rc.d and deb-systemd-invoke.
  local policy=/usr/sbin/policy-rc.d added_policy=0
  if [ ! -e "$policy" ]; then
    as_root sh -c "printf '#!/bin/sh\nexit 101\n' > $policy && chmod 755 $policy"
    added_policy=1
  fi
  local rc=0
  as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2 || rc=$?
  if [ "$rc" -eq 0 ]; then
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold "${pkgs[@]}" >&2 || rc=$?
  fi
  [ "$added_policy" = 1 ] && as_root rm -f "$policy"
  [ "$rc" -eq 0 ] || die "apt-get failed (exit $rc)"
  for bin in ceph-mon ceph-osd radosgw radosgw-admin ceph ceph-authtool monmaptool redis-server redis-cli curl; do
    command -v "$bin" >/dev/null 2>&1 || die "$bin still missing after install"
  done
}

# ---------------------------------------------------------------------------------------------------
# ceph

write_conf() {
  local fsid="$1"
  cat >"$CONF" <<EOF
# generated by scripts/services.sh; everything lives under $SERVICES_DIR
[global]
fsid = $fsid
mon host = $MON_ADDR
mon initial members = a
public addr = 127.0.0.1
cluster addr = 127.0.0.1

auth cluster required = none
auth service required = none
auth client required = none
# without crc modes next to "auth none", radosgw waits forever at "failed to fetch mon config"
ms mon client mode = crc secure
ms mon service mode = crc secure
ms mon cluster mode = crc secure
ms client mode = crc secure
ms service mode = crc secure
ms cluster mode = crc secure

keyring = $SERVICES_DIR/keyring
run dir = $RUN
admin socket = $RUN/\$name.asok
pid file = $RUN/\$name.pid
crash dir = $SERVICES_DIR/crash
log to stderr = false
err to stderr = true
log to syslog = false
mon cluster log file = $LOG/cluster.log
debug ms = 0

osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
mon allow pool size one = true
mon allow pool delete = true
mon max pg per osd = 1000
mon warn on pool no redundancy = false
osd crush chooseleaf type = 0

[mon]
mon data = $SERVICES_DIR/mon.\$id
log file = $LOG/\$name.log
mon data avail warn = 1
mon data avail crit = 0

[osd]
osd data = $SERVICES_DIR/osd.\$id
log file = $LOG/\$name.log
osd objectstore = memstore
memstore device bytes = $MEMSTORE_BYTES
osd crush update on start = true
osd crush initial weight = 1
osd max object name len = 460
osd max object namespace len = 64

[client.rgw]
# tcp_nodelay: without it, small responses (a GET of a tiny object) wait ~40 ms on Nagle + delayed ACK
log file = $LOG/\$name.log
rgw data = $SERVICES_DIR/rgw
rgw frontends = beast endpoint=$RGW_HOST:$RGW_PORT tcp_nodelay=1
rgw dns name =
rgw thread pool size = 256
# free the tails of deleted objects and aborted multipart uploads quickly (memory is the disk here)
rgw gc obj min wait = 30
rgw gc processor period = 30
rgw gc processor max time = 30
rgw enable usage log = false
rgw enable ops log = false
EOF
}

mon_alive() { pid_of "$RUN/mon.a.pid" ceph-mon >/dev/null; }
osd_alive() { pid_of "$RUN/osd.0.pid" ceph-osd >/dev/null; }
rgw_alive() { pid_of "$RUN/client.rgw.pid" radosgw >/dev/null; }

mon_answers() { ceph_cli mon stat >/dev/null 2>&1; }

osd_up() {
  ceph_cli osd stat -f json 2>/dev/null | grep -Eq '"num_up_osds": ?[1-9]'
}

stop_ceph() {
  stop_pidfile "$RUN/client.rgw.pid" radosgw "radosgw"
  stop_pidfile "$RUN/osd.0.pid" ceph-osd "ceph-osd"
  stop_pidfile "$RUN/mon.a.pid" ceph-mon "ceph-mon"
}

port_in_use() { # port_in_use <port>
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

bootstrap_ceph() {
  log "creating a one-node Ceph cluster in $SERVICES_DIR"
  stop_ceph
  rm -rf "$SERVICES_DIR/mon.a" "$SERVICES_DIR/osd.0" "$SERVICES_DIR/rgw" "$SERVICES_DIR/crash" \
    "$SERVICES_DIR/keyring" "$SERVICES_DIR/monmap" "$CONF" "$LOG"/*.log
  port_in_use 3300 && die "port 3300 is taken by something this script did not start"
  port_in_use "$RGW_PORT" && die "port $RGW_PORT is taken by something this script did not start"
  mkdir -p "$RUN" "$LOG" "$SERVICES_DIR/rgw" "$SERVICES_DIR/crash"

  local fsid osd_uuid osd_id
  fsid="$(cat /proc/sys/kernel/random/uuid)"
  write_conf "$fsid"

  # monitor
  ceph-authtool --create-keyring "$SERVICES_DIR/keyring" --gen-key -n mon. --cap mon 'allow *' >/dev/null
  monmaptool --create --fsid "$fsid" --addv a "[$MON_ADDR]" "$SERVICES_DIR/monmap" >/dev/null
  timeout 60 ceph-mon -c "$CONF" --mkfs -i a --monmap "$SERVICES_DIR/monmap" \
    --keyring "$SERVICES_DIR/keyring" >>"$LOG/setup.log" 2>&1 ||
    { show_logs "$LOG/setup.log" "$LOG/mon.a.log"; die "ceph-mon --mkfs failed"; }
  ceph-mon -c "$CONF" -i a </dev/null >>"$LOG/setup.log" 2>&1 ||
    { show_logs "$LOG/setup.log" "$LOG/mon.a.log"; die "ceph-mon did not start"; }
  wait_for "the Ceph monitor" 30 mon_answers ||
    { show_logs "$LOG/mon.a.log"; die "ceph-mon does not answer"; }

  # one OSD on memstore
  osd_uuid="$(cat /proc/sys/kernel/random/uuid)"
  osd_id="$(ceph_cli osd create "$osd_uuid")" ||
    { show_logs "$LOG/mon.a.log"; die "ceph osd create failed"; }
  [ "$osd_id" = 0 ] || die "expected osd id 0, got '$osd_id'"
  mkdir -p "$SERVICES_DIR/osd.0"
  timeout 60 ceph-osd -c "$CONF" -i 0 --mkfs --osd-uuid "$osd_uuid" </dev/null >>"$LOG/setup.log" 2>&1 ||
    { show_logs "$LOG/setup.log" "$LOG/osd.0.log"; die "ceph-osd --mkfs failed"; }
  ceph-osd -c "$CONF" -i 0 </dev/null >>"$LOG/setup.log" 2>&1 ||
    { show_logs "$LOG/setup.log" "$LOG/osd.0.log"; die "ceph-osd did not start"; }
  wait_for "the OSD to come up" 60 osd_up ||
    { show_logs "$LOG/osd.0.log" "$LOG/mon.a.log"; die "the OSD did not come up"; }
}

start_rgw() {
  log "starting radosgw on $RGW_URL"
  stop_pidfile "$RUN/client.rgw.pid" radosgw "radosgw"
  port_in_use "$RGW_PORT" && die "port $RGW_PORT is taken by something this script did not start"
  RGW_STARTED_AT=$SECONDS
  radosgw -c "$CONF" -n client.rgw </dev/null >>"$LOG/setup.log" 2>&1 ||
    { show_logs "$LOG/setup.log" "$LOG/client.rgw.log"; die "radosgw did not start"; }
}

rgw_ready() { rgw_alive && rgw_answers; }
RGW_STARTED_AT=0
rgw_ready_or_dead() { # ends the wait early when radosgw has exited (e.g. "Couldn't init storage provider")
  # radosgw writes its pid file only after some of its start-up, so allow it a grace period
  if ! rgw_alive && [ $((SECONDS - RGW_STARTED_AT)) -gt 30 ]; then
    log "radosgw is not running"
    return 0
  fi
  rgw_answers
}

ensure_s3_user_and_bucket() {
  local code
  code="$(s3_curl HEAD "/$S3_BUCKET" -I)"
  [ "$code" = 200 ] && return 0

  log "creating S3 user '$S3_UID' and bucket '$S3_BUCKET'"
  if rgw_admin user info --uid="$S3_UID" >/dev/null 2>&1; then
    rgw_admin key create --uid="$S3_UID" --key-type=s3 \
      --access-key="$S3_ACCESS_KEY_ID" --secret-key="$S3_SECRET_ACCESS_KEY" >/dev/null 2>>"$LOG/setup.log" ||
      { show_logs "$LOG/setup.log"; die "radosgw-admin key create failed"; }
  else
    rgw_admin user create --uid="$S3_UID" --display-name="tus dev" \
      --access-key="$S3_ACCESS_KEY_ID" --secret-key="$S3_SECRET_ACCESS_KEY" >/dev/null 2>>"$LOG/setup.log" ||
      { show_logs "$LOG/setup.log"; die "radosgw-admin user create failed"; }
  fi

  # RGW learns about the new user through a watch/notify; retry briefly.
  local deadline=$((SECONDS + 30))
  while :; do
    code="$(s3_curl PUT "/$S3_BUCKET")"
    case "$code" in 200 | 409) break ;; esac
    if [ "$SECONDS" -ge "$deadline" ]; then
      cat "$SERVICES_DIR/last-s3-response" >&2 2>/dev/null || true
      show_logs "$LOG/client.rgw.log"
      die "could not create bucket '$S3_BUCKET' (HTTP $code)"
    fi
    sleep 0.5
  done
  code="$(s3_curl HEAD "/$S3_BUCKET" -I)"
  [ "$code" = 200 ] || { show_logs "$LOG/client.rgw.log"; die "bucket '$S3_BUCKET' not reachable (HTTP $code)"; }
}

up_ceph() {
  if mon_alive && osd_alive && rgw_ready; then
    log "ceph + radosgw already running"
  else
    if mon_alive && osd_alive && osd_up; then
      log "ceph cluster already running"
    else
      bootstrap_ceph
    fi
    rgw_alive || start_rgw
    if ! wait_for "radosgw to answer S3 requests on $RGW_URL" "$TIMEOUT" rgw_ready_or_dead || ! rgw_ready; then
      show_logs "$LOG/client.rgw.log" "$LOG/osd.0.log" "$LOG/mon.a.log"
      die "radosgw is not answering"
    fi
  fi
  ensure_s3_user_and_bucket
}

# ---------------------------------------------------------------------------------------------------
# redis

redis_ports() { echo "$REDIS_PORT $REDIS_EXTRA_PORTS"; }

up_redis() {
  local port
  mkdir -p "$SERVICES_DIR/redis" "$LOG" "$RUN"
  for port in $(redis_ports); do
    if redis_answers "$port"; then
      if pid_of "$RUN/redis-$port.pid" redis-server >/dev/null; then
        log "redis on $port already running"
      else
        log "redis on $port is answering but was not started by this script; using it as is"
      fi
      continue
    fi
    log "starting redis on 127.0.0.1:$port"
    redis-server --daemonize yes --bind 127.0.0.1 --port "$port" --save '' --appendonly no \
      --dir "$SERVICES_DIR/redis" --pidfile "$RUN/redis-$port.pid" \
      --logfile "$LOG/redis-$port.log" </dev/null >/dev/null 2>>"$LOG/setup.log" ||
      { show_logs "$LOG/setup.log" "$LOG/redis-$port.log"; die "redis-server on $port did not start"; }
    wait_for "redis on port $port" 20 redis_answers "$port" ||
      { show_logs "$LOG/redis-$port.log"; die "redis on $port does not answer PING"; }
  done
}

down_redis() {
  local f port
  for f in "$RUN"/redis-*.pid; do
    [ -e "$f" ] || continue
    port="${f##*/redis-}"; port="${port%.pid}"
    stop_pidfile "$f" redis-server "redis on $port"
  done
}

# ---------------------------------------------------------------------------------------------------
# commands

cmd_up() {
  local start=$SECONDS
  ensure_installed
  mkdir -p "$SERVICES_DIR" "$RUN" "$LOG"
  up_redis
  up_ceph
  log "all services up (${S3_BUCKET} on $RGW_URL, redis on $(redis_ports | xargs | tr ' ' ',')) in $((SECONDS - start))s"
}

cmd_down() {
  if [ -d "$RUN" ]; then
    stop_ceph
    down_redis
  fi
  rm -rf "$SERVICES_DIR"
  log "services stopped, $SERVICES_DIR removed"
}

cmd_env() {
  cat <<EOF
export S3_ENDPOINT=$RGW_URL
export S3_REGION=$S3_REGION
export S3_ACCESS_KEY_ID=$S3_ACCESS_KEY_ID
export S3_SECRET_ACCESS_KEY=$S3_SECRET_ACCESS_KEY
export S3_BUCKET=$S3_BUCKET
export REDIS_URLS=redis://127.0.0.1:$REDIS_PORT
EOF
}

cmd_status() {
  local ok=0 port code
  if command -v curl >/dev/null 2>&1 && rgw_answers; then
    code="$(s3_curl HEAD "/$S3_BUCKET" -I)"
    if [ "$code" = 200 ]; then
      log "s3     up    $RGW_URL (bucket $S3_BUCKET reachable)"
    else
      log "s3     PARTIAL $RGW_URL answers, but bucket $S3_BUCKET gives HTTP $code"; ok=1
    fi
  else
    log "s3     DOWN  $RGW_URL"; ok=1
  fi
  for port in $(redis_ports); do
    if command -v redis-cli >/dev/null 2>&1 && redis_answers "$port"; then
      log "redis  up    127.0.0.1:$port"
    else
      log "redis  DOWN  127.0.0.1:$port"; ok=1
    fi
  done
  return "$ok"
}

case "${1:-}" in
  up) cmd_up ;;
  down) cmd_down ;;
  env) cmd_env ;;
  status) cmd_status ;;
  *) echo "usage: $0 up|down|env|status" >&2; exit 2 ;;
esac
