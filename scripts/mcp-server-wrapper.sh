#!/usr/bin/env sh
# Launch an MCP server the way a stdio client (Claude Desktop) expects, in production or in dev mode.
#
#   mcp-server-wrapper.sh [server command...]
#
# The server command defaults to the project's `npm start` script. The project is MCP_PROJECT_DIR,
# else the current directory if it has a package.json, else the parent of this script's directory.
#
# Without MCP_DEV_MODE: exec the server in stdio mode (no extra process).
# With MCP_DEV_MODE=1: run `mcp-http-transport dev`, which restarts the server on every save while
#   this process stays a stdio MCP endpoint (through the reconnecting bridge) on one session.
#   With MCP_HOT=1 as well, dev runs with --hot: edited modules reload inside the running process.
#   dev reads MCP_WATCH (comma list, default: the project dir), MCP_HTTP_PORT,
#   MCP_HTTP_HOST and the other MCP_* settings from the environment (and the project's .env) itself.
#
# Only MCP frames ever reach stdout; this script's own messages go to stderr.
set -eu

is_on() {
  case "$1" in
    1 | true | yes | on | TRUE | YES | ON) return 0 ;;
    *) return 1 ;;
  esac
}

fail() {
  echo "mcp-server-wrapper: $*" >&2
  exit 2
}

script_dir=$(CDPATH= cd -- "$(dirname -- "$0")" && pwd)
if [ -n "${MCP_PROJECT_DIR:-}" ]; then
  project=$MCP_PROJECT_DIR
elif [ -f package.json ]; then
  project=$(pwd)
else
  project=$(dirname -- "$script_dir")
fi
cd "$project" 2>/dev/null || fail "MCP_PROJECT_DIR=$project is not a directory"
PATH="$project/node_modules/.bin:$PATH"
export PATH

if [ "$#" -eq 0 ]; then
  [ -f package.json ] || fail "no server command given and no package.json in $project: pass the command, e.g. mcp-server-wrapper.sh node dist/server.js"
  start=$(node -e 'process.stdout.write(require(process.argv[1]).scripts?.start ?? "")' "$project/package.json") ||
    fail "cannot read $project/package.json"
  [ -n "$start" ] || fail "package.json in $project has no start script: add one or pass the command"
  # dev --hot runs the entry itself, so it needs the script's own words (e.g. tsx src/server.ts).
  if is_on "${MCP_DEV_MODE:-}" && is_on "${MCP_HOT:-}"; then
    # shellcheck disable=SC2086
    set -- $start
  else
    set -- sh -c "exec $start"
  fi
fi

if ! is_on "${MCP_DEV_MODE:-}"; then
  MCP_TRANSPORT=stdio
  export MCP_TRANSPORT
  exec "$@"
fi

# dev --bridge [--hot] -- <server command...>. MCP_HTTP_PORT, MCP_HTTP_HOST and MCP_WATCH stay in the
# environment, where dev reads them (an error then names the variable the user set, not a flag they
# never typed); dev watches the project directory when MCP_WATCH is unset.
if is_on "${MCP_HOT:-}"; then
  set -- dev --bridge --hot -- "$@"
else
  set -- dev --bridge -- "$@"
fi

# Prefer the project's own mcp-http-transport, then the package this script ships in.
if command -v mcp-http-transport >/dev/null 2>&1; then
  exec mcp-http-transport "$@"
elif [ -f "$script_dir/../bin/mcp-http-transport.js" ]; then
  exec node "$script_dir/../bin/mcp-http-transport.js" "$@"
fi
fail "mcp-http-transport is not installed in $project: npm install --save-dev mcp-http-transport"
