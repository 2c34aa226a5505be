#!/usr/bin/env bash
# Makes this folder's golden databases with the first released version's own
# command line (commit 013d053, database schema 6), syncing with the stand-in:
#   git worktree add /tmp/v1 013d053
#   (cd /tmp/v1 && CARGO_TARGET_DIR=$PWD/target cargo build -p partnerbook --bin partnerbook)
#   cargo build -p partnerbook-standin
#   V1_CLI=/tmp/v1/target/debug/partnerbook tests/golden/v0.1.0/make.sh
# It writes partnerbook.db (the user's) and standin.db (the server's, as it
# stood when the user last synced); tests/it/golden.rs upgrades a copy of the
# first and syncs it against the second.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../../.." && pwd)"
cli="${V1_CLI:?set V1_CLI to the partnerbook binary of the first version}"
standin="${STANDIN:-$root/target/debug/partnerbook-standin}"
work="$(mktemp -d)"
trap '[ -n "${server:-}" ] && kill "$server" 2>/dev/null; rm -rf "$work"' EXIT

"$standin" --addr 127.0.0.1:8797 --db "$work/standin.db" >"$work/standin.log" 2>&1 &
server=$!
for _ in $(seq 50); do curl -s -o /dev/null http://127.0.0.1:8797/ && break; sleep 0.1; done

export PARTNERBOOK_DB="$work/partnerbook.db"
export PARTNERBOOK_PARTNERS_URL=http://127.0.0.1:8797/v1-beta
export PARTNERBOOK_CLIENT_ID=partnerbook-dev PARTNERBOOK_CLIENT_SECRET=dev-secret
export PARTNERBOOK_REQUESTER_ORG=7c4a8d09-ca37-4e5b-9c1d-2f3e4a5b6c7d
export PARTNERBOOK_ORGS_URL=http://127.0.0.1:8797 PARTNERBOOK_ORGS_API_KEY=dev-api-key
export PARTNERBOOK_ASSUMED_OPS=1
pb() { "$cli" --json "$@"; }
key() { python3 -c 'import json,sys; print(json.load(sys.stdin)["key"])'; }

# Synced: three partners and an organization with two contacts.
acme=$(pb partner add --company-name "Acme Corporation" --sales-amount 15000 --partner-type customer \
    --email buyer@acme.example --frequency monthly --payment-terms "net 30" | key)
pb partner add --company-name "Zürich Präzision GmbH" --sales-amount 900 --partner-type supplier \
    --email einkauf@zuerich.example --frequency weekly --payment-terms "net 15" >/dev/null
gone=$(pb partner add --company-name "Closed Shop Ltd" --sales-amount 0 --partner-type customer \
    --email owner@closed.example --frequency yearly --payment-terms "prepaid" | key)
org=$(pb org add --name "Saigon Textiles" --type F --address "12 Le Loi" --country VN \
    --phone "+84 28 1234" --contact "Lan;Nguyen;lan@saigon.example" --contact "Minh;Tran" | key)
pb sync --once >/dev/null

# Waiting when the user upgrades: an edit, a delete, a new partner, an organization edit.
pb partner edit "$acme" --payment-terms "net 45" >/dev/null
pb partner delete "$gone" >/dev/null
pb partner add --company-name "Hanoi Supplies" --sales-amount 300 --partner-type supplier \
    --email sales@hanoi.example --frequency monthly --payment-terms "net 60" >/dev/null
pb org edit "$org" --city "Ho Chi Minh City" >/dev/null
pb info

kill "$server"; wait "$server" 2>/dev/null || true
unset server
for db in partnerbook standin; do
    # One file each: the WAL folded in.
    python3 -c "import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); c.execute('PRAGMA wal_checkpoint(TRUNCATE)'); c.execute('PRAGMA journal_mode=DELETE'); c.close()" "$work/$db.db"
    cp "$work/$db.db" "$here/$db.db"
done
echo "written: $here/partnerbook.db, $here/standin.db" >&2
