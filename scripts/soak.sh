#!/usr/bin/env bash
# `npm run soak`: a bounded soak with random kills across several instances and clients (test/soak/soak.ts).
# Uses the running S3 and Redis when S3_ENDPOINT is set; otherwise starts them (scripts/services.sh up).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/ensure-services.sh
export AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED=true
export TS_NODE_PROJECT=tsconfig.jest.json TS_NODE_TRANSPILE_ONLY=1
exec node -r ts-node/register test/soak/soak.ts "$@"
