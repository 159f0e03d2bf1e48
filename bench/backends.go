package bench

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/enlace-auth/enlace/kv"
	"github.com/enlace-auth/enlace/store/sqlstore"
)

// Backend is a migrated database and a kv store that belong to one run.
// Close removes what the run created.
type Backend struct {
	Name string
	DB   *sqlstore.DB
	KV   kv.Store

	cleanup []func() error
}

// Close closes the connections and deletes the run's SQLite folder, or
// its PostgreSQL schema and Redis keys.
func (b *Backend) Close() error {
	var errs []error
	for i := len(b.cleanup) - 1; i >= 0; i-- {
		errs = append(errs, b.cleanup[i]())
	}
	b.cleanup = nil
	return errors.Join(errs...)
}

// OpenSQLite creates a SQLite database in a new temporary folder, with
// the in-process kv store.
func OpenSQLite(ctx context.Context, log *slog.Logger) (*Backend, error) {
	dir, err := os.MkdirTemp("", "enlace-bench-")
	if err != nil {
		return nil, fmt.Errorf("create temporary folder: %w", err)
	}
	b := &Backend{Name: "sqlite+memory", KV: kv.NewMemory(time.Now)}
	b.cleanup = append(b.cleanup, func() error { return os.RemoveAll(dir) })

	db, err := sqlstore.OpenSQLite(ctx, filepath.Join(dir, "enlace.db"))
	if err != nil {
		return nil, errors.Join(err, b.Close())
	}
	b.cleanup = append(b.cleanup, db.Close)
	if _, err := db.Migrate(log); err != nil {
		return nil, errors.Join(fmt.Errorf("migrate sqlite: %w", err), b.Close())
	}
	b.DB = db
	return b, nil
}

// OpenPostgres creates a schema named bench_<random> in the database at
// databaseURL and uses Redis at redisURL under the key prefix
// enlace-bench:<random>:. Close drops the schema and deletes the keys.
func OpenPostgres(ctx context.Context, databaseURL, redisURL string, log *slog.Logger) (*Backend, error) {
	suffix, err := randomHex(6)
	if err != nil {
		return nil, err
	}
	b := &Backend{Name: "postgres+redis"}

	schemaURL, dropSchema, err := createSchema(ctx, databaseURL, "bench_"+suffix)
	if err != nil {
		return nil, err
	}
	b.cleanup = append(b.cleanup, dropSchema)

	db, err := sqlstore.OpenPostgres(ctx, schemaURL)
	if err != nil {
		return nil, errors.Join(err, b.Close())
	}
	b.cleanup = append(b.cleanup, db.Close)
	if _, err := db.Migrate(log); err != nil {
		return nil, errors.Join(fmt.Errorf("migrate postgres: %w", err), b.Close())
	}
	b.DB = db

	r, err := kv.NewRedis(redisURL, "enlace-bench:"+suffix+":", log)
	if err != nil {
		return nil, errors.Join(err, b.Close())
	}
	b.cleanup = append(b.cleanup, r.Close)
	if err := r.Ping(ctx); err != nil {
		return nil, errors.Join(err, b.Close())
	}
	b.cleanup = append(b.cleanup, func() error { return r.DeletePrefix(context.Background()) })
	b.KV = r
	return b, nil
}

// createSchema creates schema in the database at baseURL and returns
// baseURL with search_path set to it, and a function that drops it.
func createSchema(ctx context.Context, baseURL, schema string) (string, func() error, error) {
	u, err := url.Parse(baseURL)
	if err != nil {
		return "", nil, fmt.Errorf("parse database URL: %w", err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()

	conn, err := pgx.Connect(ctx, baseURL)
	if err != nil {
		return "", nil, fmt.Errorf("connect to postgres: %w", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		return "", nil, fmt.Errorf("create schema %s: %w", schema, err)
	}

	drop := func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, baseURL)
		if err != nil {
			return fmt.Errorf("connect to postgres to drop schema %s: %w", schema, err)
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			return fmt.Errorf("drop schema %s: %w", schema, err)
		}
		return nil
	}
	return u.String(), drop, nil
}

func randomHex(n int) (string, error) {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("read random bytes: %w", err)
	}
	return hex.EncodeToString(b), nil
}
