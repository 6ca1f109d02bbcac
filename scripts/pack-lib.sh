#!/usr/bin/env bash
# `npm run pack:lib`: builds the library (libs/tus-s3) and writes its npm tarball into .pack/ at the repository
# root. The LAST line of the output is the tarball's absolute path (test/consumer and other tools rely on it).
set -euo pipefail
cd "$(dirname "$0")/.."
npm run build:lib >&2
mkdir -p .pack
# --json: npm's own report of the tarball (its name and file list) on stdout, build output and notices on stderr.
report="$(npm pack --workspace libs/tus-s3 --pack-destination .pack --json --ignore-scripts)"
filename="$(node -e 'const r = JSON.parse(process.argv[1]); if (r.length !== 1) throw new Error("expected one tarball"); console.log(r[0].filename)' "$report")"
tarball="$PWD/.pack/$filename"
[ -f "$tarball" ] || { echo "pack-lib: npm pack reported $filename but $tarball does not exist" >&2; exit 1; }
node -e 'const [r] = JSON.parse(process.argv[1]); console.error(`${r.name}@${r.version}: ${r.entryCount} files, ${r.size} bytes packed`)' "$report"
echo "$tarball"
