#!/usr/bin/env bash
# Exports N partners (default 1,000,000) to CSV with partnerbook and with the
# sqlite3 shell from the same database file, and to XLSX; prints wall time and
# peak memory (RSS) of each. Needs: sqlite3, GNU time (apt-get install sqlite3 time).
#   scripts/bench-export.sh [N]
set -euo pipefail
cd "$(dirname "$0")/.."
rows=${1:-1000000}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cargo build --release --locked --bin partnerbook >&2
bin=$PWD/target/release/partnerbook
"$bin" --db "$work/bench.db" info >/dev/null  # creates the schema
# Deterministic rows, inserted in one statement (the FTS triggers index them too).
sqlite3 "$work/bench.db" "
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $rows)
INSERT INTO partners (key, company_name, sales_amount, partner_type, email, frequency, payment_terms,
                      sync_state, created_at, updated_at)
SELECT printf('%08x-0000-7000-8000-%012x', i, i), 'Company ' || i || ' Ltd', (i * 7919) % 2147483647,
       CASE i % 2 WHEN 0 THEN 'customer' ELSE 'supplier' END, 'buyer' || i || '@example.com', 'monthly',
       'net 30', 'pending', '2026-11-25T05:00:00.000Z', '2026-11-25T05:00:00.000Z' FROM n;
PRAGMA wal_checkpoint(TRUNCATE);" >/dev/null
query="SELECT company_name, sales_amount, partner_type, email, frequency, payment_terms FROM partners
       WHERE deleted_at IS NULL ORDER BY company_name COLLATE NOCASE, rowid"
for run in 1 2 3; do
    /usr/bin/time -f "run $run  partnerbook csv   %e s  peak RSS %M KB" \
        "$bin" --db "$work/bench.db" partner export --format csv --out "$work/p.csv" >/dev/null
    /usr/bin/time -f "run $run  sqlite3 -csv      %e s  peak RSS %M KB" \
        sqlite3 -csv -header "$work/bench.db" "$query" >"$work/s.csv"
done
/usr/bin/time -f "partnerbook xlsx        %e s  peak RSS %M KB" \
    "$bin" --db "$work/bench.db" partner export --format xlsx --out "$work/p.xlsx" >/dev/null
echo "rows: $(($(wc -l <"$work/p.csv") - 1)) csv, $(($(wc -l <"$work/s.csv") - 1)) sqlite3"
