package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"testing"
)

func openTestSQLite(t *testing.T) *DB {
	t.Helper()
	d, err := OpenSQLite(context.Background(), filepath.Join(t.TempDir(), "enlace.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

func TestStatementCacheReuse(t *testing.T) {
	ctx := context.Background()
	d := openTestSQLite(t)

	for i := 0; i < 3; i++ {
		var n int
		if err := d.queryRow(ctx, d.db, `SELECT ? + 1`, i).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != i+1 {
			t.Errorf("SELECT %d + 1 = %d", i, n)
		}
	}
	if got := d.stmtCount.Load(); got != 1 {
		t.Errorf("cached statements after one query run 3 times = %d, want 1", got)
	}

	// The cached statement also runs inside a transaction, on the
	// transaction's connection.
	err := d.inTx(ctx, func(tx *sql.Tx) error {
		var n int
		if err := d.queryRow(ctx, tx, `SELECT ? + 1`, 41).Scan(&n); err != nil {
			return err
		}
		if n != 42 {
			t.Errorf("SELECT 41 + 1 in a transaction = %d", n)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := d.stmtCount.Load(); got != 1 {
		t.Errorf("cached statements after the transaction = %d, want 1", got)
	}
}

func TestStatementCacheBounded(t *testing.T) {
	ctx := context.Background()
	d := openTestSQLite(t)

	for i := 0; i < maxCachedStatements+10; i++ {
		var n int
		if err := d.queryRow(ctx, d.db, fmt.Sprintf(`SELECT %d`, i)).Scan(&n); err != nil {
			t.Fatalf("query %d: %v", i, err)
		}
		if n != i {
			t.Errorf("SELECT %d = %d", i, n)
		}
	}
	if got := d.stmtCount.Load(); got != maxCachedStatements {
		t.Errorf("cached statements = %d, want the cap %d", got, maxCachedStatements)
	}
}

func TestStatementCacheBadQuery(t *testing.T) {
	d := openTestSQLite(t)

	_, err := d.exec(context.Background(), d.db, `INSERT INTO no_such_table VALUES (1)`)
	if err == nil {
		t.Fatal("exec of a query on a missing table succeeded")
	}
	if got := d.stmtCount.Load(); got != 0 {
		t.Errorf("cached statements after a failed prepare = %d, want 0", got)
	}
}
