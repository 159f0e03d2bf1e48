// Package testenv gives tests the storage backends and a running Enlace.
// SQLite with the in-process store is always available; PostgreSQL with
// Redis runs when ENLACE_TEST_DATABASE_URL and ENLACE_TEST_REDIS_URL are
// set. With ENLACE_TEST_STRICT=1 (as in CI) a missing outside part fails
// the test instead of skipping it.
package testenv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/enlace-auth/enlace/kv"
	"github.com/enlace-auth/enlace/store/sqlstore"
)

// Environment variables read by tests.
const (
	DatabaseURLEnv = "ENLACE_TEST_DATABASE_URL"
	RedisURLEnv    = "ENLACE_TEST_REDIS_URL"
	StrictEnv      = "ENLACE_TEST_STRICT"
)

// Skip skips t because an outside part is missing, or fails it in strict mode.
func Skip(t testing.TB, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if os.Getenv(StrictEnv) == "1" {
		t.Fatalf("%s (%s=1 turns this skip into a failure)", msg, StrictEnv)
	}
	t.Skip(msg)
}

// Backend is one storage pair: a migrated database and a kv store, both
// empty and private to the test.
type Backend struct {
	Name string
	DB   *sqlstore.DB
	KV   kv.Store
	// DatabaseURL and RedisURL address the same private database and
	// key prefix, for tests that start the enlace binary (empty for SQLite).
	DatabaseURL string
	RedisURL    string
	RedisPrefix string
	// SQLitePath is the database file of the SQLite backend.
	SQLitePath string
}

// BackendNames lists the pairs that ForEachBackend runs, in order.
var BackendNames = []string{"sqlite+memory", "postgres+redis"}

// ForEachBackend runs fn as a subtest named after each backend pair.
func ForEachBackend(t *testing.T, fn func(t *testing.T, b Backend)) {
	t.Run("sqlite+memory", func(t *testing.T) { fn(t, SQLite(t)) })
	t.Run("postgres+redis", func(t *testing.T) { fn(t, Postgres(t)) })
}

// Logger returns a logger that discards output unless ENLACE_TEST_LOG=1.
func Logger() *slog.Logger {
	if os.Getenv("ENLACE_TEST_LOG") == "1" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// SQLite returns a fresh SQLite database in t's temporary folder with the
// in-process store.
func SQLite(t testing.TB) Backend {
	t.Helper()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "enlace.db")

	db, err := sqlstore.OpenSQLite(ctx, path)
	if err != nil {
		t.Fatalf("open sqlite: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := db.Migrate(Logger()); err != nil {
		t.Fatalf("migrate sqlite: %v", err)
	}
	return Backend{Name: "sqlite+memory", DB: db, KV: kv.NewMemory(time.Now), SQLitePath: path}
}

// Postgres returns a fresh PostgreSQL schema and a private Redis key
// prefix, or skips when the URLs are not set.
func Postgres(t testing.TB) Backend {
	t.Helper()
	dbURL, redisURL := os.Getenv(DatabaseURLEnv), os.Getenv(RedisURLEnv)
	if dbURL == "" || redisURL == "" {
		Skip(t, "PostgreSQL+Redis backend not configured: set %s and %s", DatabaseURLEnv, RedisURLEnv)
	}

	b := Backend{Name: "postgres+redis", RedisURL: redisURL, RedisPrefix: "enlace-test:" + randomName() + ":"}
	b.DatabaseURL = NewPostgresSchema(t, dbURL)

	ctx := context.Background()
	db, err := sqlstore.OpenPostgres(ctx, b.DatabaseURL)
	if err != nil {
		t.Fatalf("open postgres: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := db.Migrate(Logger()); err != nil {
		t.Fatalf("migrate postgres: %v", err)
	}
	b.DB = db

	r, err := kv.NewRedis(redisURL, b.RedisPrefix, Logger())
	if err != nil {
		t.Fatalf("redis: %v", err)
	}
	if err := r.Ping(ctx); err != nil {
		t.Fatalf("redis at %s: %v", RedisURLEnv, err)
	}
	t.Cleanup(func() {
		_ = r.DeletePrefix(context.Background())
		r.Close()
	})
	b.KV = r
	return b
}

// NewPostgresSchema creates an empty schema, dropped when t ends, and
// returns baseURL set to use it.
func NewPostgresSchema(t testing.TB, baseURL string) string {
	t.Helper()
	ctx := context.Background()
	schema := "t_" + randomName()

	conn, err := pgx.Connect(ctx, baseURL)
	if err != nil {
		t.Fatalf("connect to %s: %v", DatabaseURLEnv, err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatalf("create schema: %v", err)
	}
	t.Cleanup(func() {
		conn, err := pgx.Connect(context.Background(), baseURL)
		if err != nil {
			return
		}
		defer conn.Close(context.Background())
		_, _ = conn.Exec(context.Background(), "DROP SCHEMA "+schema+" CASCADE")
	})

	u, err := url.Parse(baseURL)
	if err != nil {
		t.Fatalf("parse %s: %v", DatabaseURLEnv, err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

func randomName() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
