#!/usr/bin/env bash
# Checks the admin API against its own OpenAPI document with schemathesis: starts a server
# (target/debug/fleetboot, or $FLEETBOOT_BIN; builds nothing) on a temporary data dir with
# two test ISOs, on loopback ports only, gives schemathesis an admin API token, and lets it
# generate requests for every documented operation. Fails on any 5xx, undocumented status,
# response not matching its schema, wrong content type or headers, unenforced auth, or a
# wrong answer to an undocumented method.
#   tools/schemathesis.sh              the bounded run the test suite does (about a minute)
#   SCHEMATHESIS_EXAMPLES=N            examples per operation and phase [100]
#   SCHEMATHESIS_SEED=N                the random seed [fixed, so CI runs are repeatable]
# Installs schemathesis first if needed (tools/python-env.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${FLEETBOOT_BIN:-$PWD/target/debug/fleetboot}
examples=${SCHEMATHESIS_EXAMPLES:-100}
seed=${SCHEMATHESIS_SEED:-20260312}
if [[ ! -x $bin ]]; then
  echo "schemathesis: no $bin: cargo build first, or set FLEETBOOT_BIN" >&2
  exit 2
fi
venv=$(tools/python-env.sh)

work=$(mktemp -d)
server=""
stop_server() {
  if [[ -n $server ]] && kill -0 "$server" 2>/dev/null; then
    kill -TERM "$server"
    wait "$server" 2>/dev/null || true
  fi
  server=""
}
trap 'stop_server; rm -rf "$work"' EXIT

data=$work/data
mkdir -p "$data/isos" "$data/files"
tools/build-test-isos.sh "$work/isos" >/dev/null
# A netboot-ready image and one that needs a netboot tree (POST /images/{id}/netboot).
cp "$work/isos/casper.iso" "$work/isos/debian-installer.iso" "$data/isos/"

# Nothing leaves this machine: downloads (POST /images/download) and netboot fetches go
# through a proxy on a closed loopback port, so the URLs schemathesis invents are never
# resolved or contacted; Wake-on-LAN packets go to loopback instead of a broadcast address.
env -u NO_PROXY -u no_proxy \
  ALL_PROXY=http://127.0.0.1:9 HTTP_PROXY=http://127.0.0.1:9 HTTPS_PROXY=http://127.0.0.1:9 \
  all_proxy=http://127.0.0.1:9 http_proxy=http://127.0.0.1:9 https_proxy=http://127.0.0.1:9 \
  FLEETBOOT_LOG=info \
  "$bin" serve --data-dir "$data" \
  --tftp-listen 127.0.0.1:0 --http-listen 127.0.0.1:0 --admin-listen 127.0.0.1:0 \
  --dhcp-mode off --cores 2 --scan-interval-ms 500 \
  --wol-broadcast 127.0.0.1 --wol-port 9 \
  </dev/null >"$work/stdout" 2>"$work/server.log" &
server=$!
admin=""
for _ in $(seq 300); do
  admin=$(sed -n 's/^fleetboot ready .*admin=\([^ ]*\).*/\1/p' "$work/stdout" 2>/dev/null || true)
  [[ -n $admin ]] && break
  if ! kill -0 "$server" 2>/dev/null; then break; fi
  sleep 0.1
done
if [[ -z $admin ]]; then
  echo "schemathesis: the server did not start:" >&2
  cat "$work/stdout" "$work/server.log" >&2
  exit 1
fi

# An API token made over the control socket: it is not a user's, so no generated
# PATCH/DELETE of /users/{name} ends it.
token=$("$bin" token create --name schemathesis --role admin --data-dir "$data" | grep -o 'fbt_[0-9a-f]*')

# Every check but two: positive_data_acceptance and negative_data_rejection expect the schema
# to say everything the server validates, and it cannot say all of it (a password hash must be
# an argon2id PHC string, an upload's name must end in .iso, exactly one of password and
# password_hash, texts without control characters, a URL that resolves...), nor does serde
# refuse every shape the schema excludes (a JSON array for a struct). object_level_authorization
# needs a second user's credentials; ignored_auth checks that every guarded operation refuses
# callers without the token.
checks=not_a_server_error,status_code_conformance,content_type_conformance
checks+=,response_schema_conformance,response_headers_conformance,ignored_auth
checks+=,unsupported_method,allow_header_conformance,missing_required_header
checks+=,use_after_free,ensure_resource_availability
st=(
  "$venv/bin/schemathesis" run "http://$admin/api/v1/openapi.json"
  --header "Authorization: Bearer $token" --checks "$checks"
  --max-examples "$examples" --seed "$seed" --generation-database none
  --request-timeout 30 --workers 1 --no-color
)
status=0
# From the temp dir: schemathesis leaves its .hypothesis/ cache in the working directory.
cd "$work"
echo "== schemathesis: every operation but those that end its own credentials"
# GET /api/v1/events is a stream that never ends (a request would only time out): its 401
# and the events themselves are covered by the Rust API tests. POST /api/v1/logout and
# DELETE /api/v1/tokens/{id} may revoke the token the run uses: they run last, one at a time
# (alone, the token revocation has no link to the token list: it only meets unknown ids).
"${st[@]}" --exclude-path /api/v1/events --exclude-path /api/v1/logout \
  --exclude-path '/api/v1/tokens/{id}' || status=1
echo "== schemathesis: token revocation"
"${st[@]}" --include-path '/api/v1/tokens/{id}' || status=1
echo "== schemathesis: logout"
"${st[@]}" --include-path /api/v1/logout || status=1

stop_server
if [[ $status -ne 0 ]]; then
  echo "schemathesis: failures (server log follows)" >&2
  tail -n 50 "$work/server.log" >&2
fi
exit $status
