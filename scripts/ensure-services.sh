# Sourced by scripts/test.sh, scripts/start.sh and bench/bench.sh: without S3_ENDPOINT, bring up the local RGW and
# Redis (scripts/services.sh) and export their settings; with it, the environment already says where S3 is.
if [ -z "${S3_ENDPOINT:-}" ]; then
  scripts/services.sh up
  eval "$(scripts/services.sh env)"
fi
