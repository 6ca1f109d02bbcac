#!/usr/bin/env bash
# `npm test`: unit and end-to-end tests. The end-to-end tests need S3 and Redis: when S3_ENDPOINT is not set,
# the local RGW and Redis are installed/started by scripts/services.sh and used.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/ensure-services.sh
source scripts/ensure-chromium.sh
# The SDK's notice that its 2027 releases need Node 22 would repeat in every test file (README, Requirements).
export AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED=true
exec npx jest --runInBand "$@"
