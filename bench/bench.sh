#!/usr/bin/env bash
# `npm run bench` / `npm run bench:profile` / `npm run bench:remote` (argument `remote`): compile the bench (and the
# module it imports) to plain JavaScript, so that no TypeScript compiler sits in the measured server processes, then
# run it. Starts the local RGW and Redis (scripts/services.sh) when S3_ENDPOINT is not set, like `npm test`.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/ensure-services.sh
# The SDK's notice that its 2027 releases need Node 22 would repeat for every child process.
export AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED=true
npx tsc -p bench/tsconfig.json
node ".bench-tmp/build/bench/${1:-run}.js"
if [ "${BENCH_CPU_PROF:-}" = 1 ]; then
  for profile in bench/profiles/*.cpuprofile; do
    [ -e "$profile" ] && node .bench-tmp/build/bench/profile-summary.js "$profile"
  done
fi
