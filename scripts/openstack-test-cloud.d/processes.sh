# The services as plain background processes (sourced): started, recognised, checked and stopped
# by the PID recorded at start. No systemd: each service leads a session and process group of its
# own, so it outlives the shell that started it and one signal to the group reaches its workers.

# In start order. nova-compute comes last: it needs the conductor (RPC) and Placement up.
SERVICES=(memcached keystone placement glance-api neutron-server nova-api nova-conductor nova-scheduler
  heat-engine heat-api nova-compute)

# The project whose config file a service reads: a changed file restarts the project's services.
project_of() {
  case $1 in
    glance-api) echo glance ;;
    neutron-server) echo neutron ;;
    nova-*) echo nova ;;
    heat-*) echo heat ;;
    *) echo "$1" ;;
  esac
}

# Keystone and Placement are WSGI apps only. "Connection: close" matters: without it
# keystonemiddleware in the other services now and then reuses a connection uwsgi has just closed
# (RemoteDisconnected, a 503 to the client). --die-on-term makes SIGTERM a stop, not a reload. A
# worker that finalizes Python on its way out crashes in greenlet's teardown and can leave the
# other worker stuck on the accept lock until SIGKILL; --skip-atexit-teardown skips that step
# (the process ends anyway), and the master kills a worker still there after 5 s.
uwsgi_command() {
  local name=$1 port=$2 app=$3 processes=$4 uwsgi
  uwsgi=$(command -v uwsgi || command -v uwsgi-core)
  COMMAND=("$uwsgi" --plugin python3 --http-socket "$HOST:$port" --wsgi-file "$app"
    --master --processes "$processes" --threads 2 --enable-threads --lazy-apps --need-app
    --die-on-term --skip-atexit-teardown --worker-reload-mercy 5
    --buffer-size 65535 --add-header "Connection: close" --procname-prefix-spaced "$name")
}

# Sets COMMAND to the service's command line.
service_command() {
  case $1 in
    memcached) COMMAND=(/usr/bin/memcached -u memcache -l "$HOST" -p "$MEMCACHED_PORT" -m 128 -c 1024) ;;
    keystone) uwsgi_command keystone "$KEYSTONE_PORT" /usr/bin/keystone-wsgi-public 2 ;;
    placement) uwsgi_command placement "$PLACEMENT_PORT" /usr/bin/placement-api 1 ;;
    glance-api) COMMAND=(/usr/bin/glance-api --config-file /etc/glance/glance-api.conf) ;;
    neutron-server) COMMAND=(/usr/bin/neutron-server --config-file /etc/neutron/neutron.conf
      --config-file /etc/neutron/plugins/ml2/ml2_conf.ini) ;;
    # Debian has no nova-api-os-compute; nova-api with enabled_apis = osapi_compute is the same.
    nova-api | nova-conductor | nova-scheduler) COMMAND=("/usr/bin/$1" --config-file /etc/nova/nova.conf) ;;
    nova-compute) COMMAND=(/usr/bin/nova-compute --config-file /etc/nova/nova-compute.conf) ;;
    heat-api | heat-engine) COMMAND=("/usr/bin/$1" --config-file /etc/heat/heat.conf) ;;
    *) fail "no such service: $1" ;;
  esac
}

# What answers over HTTP, and where (any answer but a 5xx counts: the version documents answer 200
# or 300 without a token).
health_url() {
  case $1 in
    keystone) echo "$AUTH_URL" ;;
    placement) echo "http://$HOST:$PLACEMENT_PORT/" ;;
    glance-api) echo "http://$HOST:$GLANCE_PORT/" ;;
    neutron-server) echo "http://$HOST:$NEUTRON_PORT/" ;;
    nova-api) echo "http://$HOST:$NOVA_PORT/" ;;
    heat-api) echo "http://$HOST:$HEAT_PORT/" ;;
  esac
}

# Field 22 of /proc/PID/stat, the start time in clock ticks since boot: with the PID it names one
# process for good, where a PID alone may since have been handed to another. Fails for a process
# that is gone or a zombie (nothing on this machine kind reaps orphans promptly).
process_start_time() {
  local stat fields
  { read -r stat <"/proc/$1/stat"; } 2>/dev/null || return 1
  read -ra fields <<<"${stat##*) }"
  [[ ${fields[0]} != Z ]] || return 1
  echo "${fields[19]}"
}

# Prints the first line of a file; fails when there is none. (No cat: up checks many of these.)
first_line() {
  local line
  { read -r line <"$1"; } 2>/dev/null || return 1
  echo "$line"
}

service_pid() { first_line "$RUN_DIR/$1.pid"; }

service_alive() {
  local pid started
  pid=$(service_pid "$1") || return 1
  started=$(process_start_time "$pid") || return 1
  [[ $started == "$(first_line "$RUN_DIR/$1.start")" ]]
}

# True while any live (not zombie) process is left in the process group.
group_alive() {
  ps -eo pgid=,stat= | awk -v g="$1" '$1 == g && $2 !~ /^Z/ { found = 1 } END { exit !found }'
}

forget_service() { rm -f "$RUN_DIR/$1".{pid,start,cmd,started-at}; }

start_service() {
  local name=$1 pid
  service_command "$name"
  printf '==== %s starting: %s\n' "$(date -Is)" "${COMMAND[*]}" >>"$LOG_DIR/$name.log"
  # A script has no job control, so the background child is not a group leader and setsid turns
  # it into one in place (no fork): $! is the service's PID and its process group's id. The lock's
  # descriptor 9 is closed, or the service would hold the lock for good.
  setsid "${COMMAND[@]}" >>"$LOG_DIR/$name.log" 2>&1 </dev/null 9>&- &
  pid=$!
  echo "$pid" >"$RUN_DIR/$name.pid"
  process_start_time "$pid" >"$RUN_DIR/$name.start" || service_failed "$name" "exited at once"
  printf '%s\n' "${COMMAND[*]}" >"$RUN_DIR/$name.cmd"
  date -u +%Y-%m-%dT%H:%M:%S >"$RUN_DIR/$name.started-at"
  say "$name started (pid $pid)"
}

# Stops the given services together: SIGTERM to each process group, SIGKILL to what is left after
# 10 s (a graceful stop of heat-engine can take longer than that).
stop_services() {
  local name pid entry deadline groups=()
  for name in "$@"; do
    if service_alive "$name"; then
      pid=$(service_pid "$name")
      kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
      groups+=("$name:$pid")
    elif [[ -e $RUN_DIR/$name.pid ]]; then
      say "$name was not running (stale pid file)"
    fi
    forget_service "$name"
  done
  deadline=$((SECONDS + 10))
  for entry in "${groups[@]}"; do
    name=${entry%%:*} pid=${entry#*:}
    while group_alive "$pid" && ((SECONDS < deadline)); do sleep 0.2; done
    if group_alive "$pid"; then
      kill -KILL -- "-$pid" 2>/dev/null || true
      # Its ports are free only once the processes are gone.
      while group_alive "$pid" && ((SECONDS < deadline + 5)); do sleep 0.1; done
      say "$name (pid $pid) killed after 10 s"
    else
      say "$name (pid $pid) stopped"
    fi
  done
}

service_failed() {
  local name=$1
  shift
  {
    echo "---- last lines of $LOG_DIR/$name.log"
    tail -n 40 "$LOG_DIR/$name.log" 2>/dev/null
    echo "----"
  } >&2
  fail "$name $*"
}

http_answers() {
  local code
  code=$(curl -s -o /dev/null -m 5 -w '%{http_code}' "$1") || true
  [[ $code =~ ^[1-4][0-9][0-9]$ ]]
}

wait_http() {
  local name=$1 url timeout=${2:-120} deadline
  url=$(health_url "$name")
  deadline=$((SECONDS + timeout))
  until http_answers "$url"; do
    service_alive "$name" || service_failed "$name" "exited before answering on $url"
    ((SECONDS < deadline)) || service_failed "$name" "did not answer on $url within $timeout s"
    sleep 0.5
  done
}

memcached_answers() {
  local reply
  # shellcheck disable=SC2016
  reply=$(timeout 3 bash -c 'exec 3<>"/dev/tcp/$0/$1" && printf "version\r\n" >&3 && head -n 1 <&3' \
    "$HOST" "$MEMCACHED_PORT" 2>/dev/null) || return 1
  [[ $reply == VERSION* ]]
}
