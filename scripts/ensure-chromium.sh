# Sourced by scripts/test.sh: the demo page's browser test (test/demo-page.e2e-spec.ts) drives Debian's Chromium
# through playwright-core (no browser download: these machines reach only the npm and Debian registries). Installs
# it when missing, as root; otherwise says how.
if [ ! -x /usr/bin/chromium ]; then
  if [ "$(id -u)" = 0 ]; then
    echo "[test] installing Debian's chromium for the browser test (once)"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  else
    echo "[test] /usr/bin/chromium is missing: run 'sudo apt-get install chromium' for the browser test" >&2
  fi
fi
