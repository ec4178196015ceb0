#!/usr/bin/env bash
# Checks the deployment (Dockerfile, deploy/) as far as this machine allows, and exits non-zero on any failure:
#   1. HAProxy's own checker validates deploy/haproxy.cfg, as compose runs it and as it runs here;
#   2. three `streamlit run app.py` replicas and HAProxy with that same file run on 127.0.0.1, the replicas
#      sharing one drawings database as the compose replicas share their volume;
#   3. HAProxy's health checks pass on every replica; through the proxy, the health endpoint answers; two
#      clients with their own cookie jars each get the affinity cookie, stay on their replica, and are
#      spread over two replicas; Chromium opens the app (its Draw canvas appears only once the Streamlit
#      websocket works) and HAProxy logs that websocket on the browser's replica, routed by its cookie; a
#      stopped replica is marked down by the health checks and its client is sent to another one;
#   4. with a Docker engine only: builds the image, runs it and waits for its HEALTHCHECK to say healthy.
# Everything it starts is stopped on exit.
#
# Needs: haproxy (apt-get install -y haproxy), curl, Chromium at /usr/bin/chromium (apt-get install -y
# chromium), .venv with requirements-dev.txt (`make test` makes it; Playwright) and DIGITLIB_MNIST.
# Usage: DIGITLIB_MNIST=/path/to/mnist.npz scripts/check_deployment.sh
set -euo pipefail
shopt -s inherit_errexit  # a failing command inside $(...) fails the script too
cd "$(dirname "$0")/.."

: "${DIGITLIB_MNIST:?set DIGITLIB_MNIST to a local mnist.npz}"
python=.venv/bin/python
config=deploy/haproxy.cfg
cookie=digit_studio_replica  # the affinity cookie that haproxy.cfg inserts
start_timeout_s=180          # streamlit's first start imports a lot, and this machine may be busy

work=$(mktemp -d)
pids=()       # every process this script starts, stopped by cleanup
container=""  # the container of step 4, when there is one

cleanup() {
  local status=$?
  for pid in "${pids[@]}"; do
    kill "$pid" 2>/dev/null || true  # a replica that step 3 stopped is gone already
  done
  wait 2>/dev/null || true
  if [[ -n $container ]]; then
    docker rm --force "$container" >/dev/null || true
  fi
  if ((status != 0)); then
    for log in "$work"/*.log; do
      echo "--- last lines of $(basename "$log")" >&2
      tail -n 20 "$log" >&2
    done
  fi
  rm -rf "$work"
  exit "$status"
}
trap cleanup EXIT

pass() { echo "PASS: $*"; }
fail() {
  echo "FAIL: $*" >&2
  exit 1
}

# wait_for SECONDS WHAT COMMAND...: retries COMMAND every second until it succeeds, or fails the check.
wait_for() {
  local limit=$1 what=$2
  local deadline=$((SECONDS + limit))
  shift 2
  until "$@"; do
    ((SECONDS < deadline)) || fail "$what (waited $limit s)"
    sleep 1
  done
}

healthy() { curl -fsS --max-time 5 "$1/_stcore/health" >/dev/null 2>&1; }

# ---- 1. The proxy's own validation of the one configuration file.
# As compose runs it: the replicas' names resolve only on compose's network, so HAProxy warns here
# that it cannot resolve them, and starts them as down until Docker's DNS answers.
env -u LISTEN -u APP1 -u APP2 -u APP3 haproxy -c -q -f "$config"
pass "haproxy -c accepts $config with compose's addresses"

# Four free ports on the loopback: three replicas and the proxy.
read -r port1 port2 port3 proxy_port < <("$python" -c '
import socket
sockets = [socket.socket() for _ in range(4)]
for s in sockets:
    s.bind(("127.0.0.1", 0))
print(*(s.getsockname()[1] for s in sockets))')
export LISTEN=127.0.0.1:$proxy_port APP1=127.0.0.1:$port1 APP2=127.0.0.1:$port2 APP3=127.0.0.1:$port3
proxy=http://$LISTEN

# As it runs here, where every address is known: -dW turns any warning into a failure.
haproxy -c -q -dW -f "$config"
pass "haproxy -c -dW accepts $config with local addresses"

# ---- 2. Three replicas and the proxy in front of them.
export DIGITLIB_DRAWINGS_DB=$work/drawings.sqlite3  # one database for all, like compose's shared volume
replica_pids=()
for port in "$port1" "$port2" "$port3"; do
  .venv/bin/streamlit run app.py --server.address 127.0.0.1 --server.port "$port" \
    >"$work/app-$port.log" 2>&1 &
  pids+=($!)
  replica_pids+=($!)
done
for port in "$port1" "$port2" "$port3"; do
  wait_for "$start_timeout_s" "replica on port $port answers its health check" healthy "http://127.0.0.1:$port"
done
pass "three replicas serve on ports $port1 $port2 $port3"

haproxy -db -f "$config" >"$work/haproxy.log" 2>&1 &
pids+=($!)

# ---- 3. Through the proxy.
# HAProxy counts a replica as up until its checks fail, so wait for each one's first check to pass.
checks_passed() {
  local server
  for server in app1 app2 app3; do
    grep -qs "Health check for server streamlit/$server succeeded, reason: Layer7 check passed" \
      "$work/haproxy.log" || return 1
  done
}
wait_for 30 "HAProxy's health checks pass on all three replicas" checks_passed
pass "HAProxy's health checks (GET /_stcore/health, body ok) pass on app1, app2 and app3"

wait_for 30 "the proxy answers /_stcore/health" healthy "$proxy"
pass "GET $proxy/_stcore/health answers 200 through the proxy"

# request JAR: one page load through the proxy as the browser whose cookies are in JAR; prints the
# replica that answered (the X-Replica header that haproxy.cfg adds). curl -f fails on an error status.
request() {
  local headers
  headers=$(curl -fsS --max-time 10 -o /dev/null -D - -b "$1" -c "$1" "$proxy/") ||
    fail "GET $proxy/ through the proxy, with the cookies of $(basename "$1")"
  sed -n 's/^x-replica: *\([a-z0-9]*\).*/\1/Ip' <<<"$headers"
}
# cookie_in JAR: the affinity cookie's value in a curl cookie jar.
cookie_in() { awk -v name="$cookie" '$6 == name { print $7 }' "$1"; }

# Two new browsers one after the other: leastconn's tie-break sends them to two different replicas.
first_a=$(request "$work/a.jar")
first_b=$(request "$work/b.jar")
for client in a b; do
  jar=$work/$client.jar
  first=$(cookie_in "$jar")
  [[ -n $first ]] || fail "client $client got no $cookie cookie"
  for _ in 1 2 3 4 5; do
    replica=$(request "$jar")
    [[ $replica == "$first" ]] || fail "client $client (cookie $first) was answered by '$replica'"
  done
  pass "client $client got cookie $cookie=$first and 5 more requests with it reached $first"
done
[[ $first_a != "$first_b" ]] || fail "both new clients went to $first_a"
pass "the two clients were spread over two replicas ($first_a, $first_b)"

# A real browser through the proxy. Streamlit sends the page's elements over its websocket
# (/_stcore/stream), so the Draw page's canvas appears only if the websocket works through the proxy.
browser_replica=$("$python" - "$proxy" "$start_timeout_s" "$cookie" <<'PYTHON'
import sys

from playwright.sync_api import sync_playwright

url, timeout_ms, cookie = sys.argv[1], int(sys.argv[2]) * 1000, sys.argv[3]
args = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run", "--disable-quic"]
with sync_playwright() as playwright:
    browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", headless=True, args=args)
    page = browser.new_page()
    sockets = []
    page.on("websocket", lambda socket: sockets.append(socket))
    document = page.goto(url, wait_until="commit")
    page.locator("canvas.ink").wait_for(state="visible", timeout=timeout_ms)
    streams = [s for s in sockets if s.url == url.replace("http://", "ws://") + "/_stcore/stream"]
    if len(streams) != 1 or streams[0].is_closed():
        sys.exit(f"expected one open websocket to the proxy's /_stcore/stream, got {[s.url for s in sockets]}")
    replica = {c["name"]: c["value"] for c in page.context.cookies()}.get(cookie)
    if replica is None or replica != document.headers.get("x-replica"):
        sys.exit(f"cookie {cookie}={replica} but the page came from {document.headers.get('x-replica')}")
    browser.close()
print(replica)
PYTHON
)
pass "Chromium showed the Draw page's canvas through the proxy over one websocket (cookie $cookie=$browser_replica)"

# HAProxy logs a connection when it closes: `... streamlit/SERVER timers STATUS BYTES - - TTVN ... "GET PATH ..."`,
# where VN says that the request brought a valid affinity cookie (V) and none was set again (N).
websocket_logged() {
  grep -qE " streamlit/$browser_replica [0-9/+-]+ 101 [0-9]+ - - ..VN .*\"GET /_stcore/stream " "$work/haproxy.log"
}
wait_for 10 "HAProxy logs the browser's websocket (101) on $browser_replica" websocket_logged
pass "HAProxy sent the browser's websocket (101) by its cookie to its replica $browser_replica"

# Failover: stop client a's replica; the health checks mark it down and the next request goes elsewhere.
index=${first_a#app}
kill "${replica_pids[index - 1]}"
server_down() { grep -q "Server streamlit/$first_a is DOWN" "$work/haproxy.log"; }
wait_for 20 "the health checks mark the stopped $first_a down" server_down
moved=$(request "$work/a.jar")
[[ -n $moved && $moved != "$first_a" && $(cookie_in "$work/a.jar") == "$moved" ]] ||
  fail "client a was answered by '$moved' with cookie '$(cookie_in "$work/a.jar")' after $first_a stopped"
pass "after $first_a stopped, the health checks marked it down and client a moved to $moved"

# ---- 4. The image, where a Docker engine is reachable (`docker` alone is only a client).
if docker info >/dev/null 2>&1; then
  docker build --tag digit-studio:check .
  container=$(docker run --detach digit-studio:check)
  image_health() { [[ $(docker inspect --format '{{.State.Health.Status}}' "$container") == healthy ]]; }
  # The first health check runs after the Dockerfile's 30 s interval.
  wait_for 120 "the image's HEALTHCHECK says healthy" image_health
  [[ $(docker exec "$container" id -u) == 10001 ]] || fail "the container does not run as user 10001"
  pass "the image builds, runs as user 10001 and its HEALTHCHECK says healthy"
else
  echo "SKIPPED: building and running the image: no Docker engine answers here (docker info failed)"
fi

echo "All deployment checks passed."
