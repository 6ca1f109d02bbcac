#!/usr/bin/env bash
# `npm start`: builds and serves the demo. Without S3_ENDPOINT it brings up the local RGW and Redis first and
# uses them; with it, the environment alone configures the demo (see README).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/ensure-services.sh
npm run build
exec node dist/src/main.js
