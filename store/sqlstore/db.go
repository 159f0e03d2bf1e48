// Package sqlstore implements the storage interfaces of tenant and accounts
// on PostgreSQL (pgx v5) and SQLite (modernc.org/sqlite). Both share one
// set of queries; a dialect holds only what differs: placeholders, locking
// and error codes.
package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/golang-migrate/migrate/v4"
	"github.com/golang-migrate/migrate/v4/database"
	migratepgx "github.com/golang-migrate/migrate/v4/database/pgx/v5"
	migratesqlite "github.com/golang-migrate/migrate/v4/database/sqlite"
	"github.com/golang-migrate/migrate/v4/source/iofs"
	"github.com/jackc/pgx/v5/pgconn"
	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" database/sql driver
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/enlace-auth/enlace/migrations"
	"github.com/enlace-auth/enlace/store"
)

// DB is a PostgreSQL or SQLite database holding Enlace's tables.
type DB struct {
	db      *sql.DB
	dialect dialect
	// stmts caches prepared statements by query text when the dialect
	// enables it. database/sql prepares each one again on every pooled
	// connection that runs it.
	stmts     sync.Map
	stmtCount atomic.Int32
}

// maxCachedStatements bounds the statement cache. The queries are fixed
// strings except for a few built from a count (audit event batches,
// pagination), so a normal process stays well below it.
const maxCachedStatements = 256

type dialect struct {
	name string
	// placeholders rewrites "?" placeholders into the driver's form.
	placeholders func(query string) string
	// forUpdate locks the selected rows until the transaction ends; SQLite
	// needs nothing because a write transaction already locks the database.
	forUpdate string
	// cacheStatements keeps prepared statements across calls. SQLite
	// compiles a statement on every call without it, while pgx already
	// caches statements per connection.
	cacheStatements bool
	// translate maps driver errors onto the store sentinels.
	translate  func(err error) error
	migrations fs.FS
	newDriver  func(*sql.DB) (database.Driver, error)
}

var postgresDialect = dialect{
	name:         "postgres",
	placeholders: dollarPlaceholders,
	forUpdate:    " FOR UPDATE",
	translate: func(err error) error {
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) && pgErr.Code == "23505" {
			return fmt.Errorf("%w: %s", store.ErrConflict, pgErr.ConstraintName)
		}
		return err
	},
	migrations: mustSub(migrations.Postgres, "postgres"),
	newDriver: func(db *sql.DB) (database.Driver, error) {
		return migratepgx.WithInstance(db, &migratepgx.Config{})
	},
}

var sqliteDialect = dialect{
	name:            "sqlite",
	placeholders:    func(q string) string { return q },
	cacheStatements: true,
	translate: func(err error) error {
		var sqliteErr *sqlite.Error
		if errors.As(err, &sqliteErr) {
			switch sqliteErr.Code() {
			case sqlite3.SQLITE_CONSTRAINT_UNIQUE, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
				return fmt.Errorf("%w: %s", store.ErrConflict, sqliteErr.Error())
			}
		}
		return err
	},
	migrations: mustSub(migrations.SQLite, "sqlite"),
	newDriver: func(db *sql.DB) (database.Driver, error) {
		return migratesqlite.WithInstance(db, &migratesqlite.Config{})
	},
}

func mustSub(fsys fs.FS, dir string) fs.FS {
	sub, err := fs.Sub(fsys, dir)
	if err != nil {
		panic(err) // the embedded folder names are fixed at build time
	}
	return sub
}

// dollarPlaceholders turns each "?" into "$1", "$2" and so on. The queries
// in this package hold no "?" inside string literals.
func dollarPlaceholders(q string) string {
	var b strings.Builder
	n := 0
	for _, r := range q {
		if r == '?' {
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// OpenPostgres connects to the PostgreSQL database at url through pgx's
// database/sql driver, which pools connections.
func OpenPostgres(ctx context.Context, url string) (*DB, error) {
	db, err := sql.Open("pgx", url)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: open postgres: %w", err)
	}
	db.SetMaxOpenConns(25)
	db.SetMaxIdleConns(25)
	db.SetConnMaxIdleTime(5 * time.Minute)

	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("sqlstore: connect to postgres: %w", err)
	}
	return &DB{db: db, dialect: postgresDialect}, nil
}

// OpenSQLite opens (and creates) the SQLite file at path with WAL journaling,
// a busy timeout and foreign keys on.
func OpenSQLite(ctx context.Context, path string) (*DB, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("sqlstore: create data folder: %w", err)
	}

	db, err := sql.Open("sqlite", sqliteDSN(path))
	if err != nil {
		return nil, fmt.Errorf("sqlstore: open sqlite: %w", err)
	}
	// Idle connections stay open, and with them their prepared statements.
	db.SetMaxOpenConns(8)
	db.SetMaxIdleConns(8)

	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("sqlstore: open sqlite file %q: %w", path, err)
	}
	return &DB{db: db, dialect: sqliteDialect}, nil
}

// sqliteDSN sets the pragmas on every pooled connection. _txlock=immediate
// takes the write lock at BEGIN, so two writers wait on the busy timeout
// instead of failing when one upgrades a read lock.
func sqliteDSN(path string) string {
	return "file:" + path +
		"?_pragma=journal_mode(WAL)&_pragma=busy_timeout(10000)&_pragma=foreign_keys(1)" +
		"&_pragma=synchronous(NORMAL)&_time_format=sqlite&_txlock=immediate"
}

// Dialect returns "postgres" or "sqlite".
func (d *DB) Dialect() string { return d.dialect.name }

// Ping checks that the database is reachable.
func (d *DB) Ping(ctx context.Context) error { return d.db.PingContext(ctx) }

// Close closes the cached statements and the connection pool.
func (d *DB) Close() error {
	d.stmts.Range(func(_, stmt any) bool {
		_ = stmt.(*sql.Stmt).Close()
		return true
	})
	return d.db.Close()
}

// Migrate applies every pending migration and returns the schema version.
// Concurrent callers on PostgreSQL wait on golang-migrate's advisory lock.
func (d *DB) Migrate(log *slog.Logger) (uint, error) {
	src, err := iofs.New(d.dialect.migrations, ".")
	if err != nil {
		return 0, fmt.Errorf("sqlstore: read migrations: %w", err)
	}
	driver, err := d.dialect.newDriver(d.db)
	if err != nil {
		return 0, fmt.Errorf("sqlstore: prepare migrations: %w", err)
	}
	m, err := migrate.NewWithInstance("iofs", src, d.dialect.name, driver)
	if err != nil {
		return 0, fmt.Errorf("sqlstore: prepare migrations: %w", err)
	}
	// m.Close is not called: it would close d.db, which the caller still uses.

	before, _, _ := m.Version()
	err = m.Up()
	switch {
	case errors.Is(err, migrate.ErrNoChange):
		log.Info("database schema is up to date", "dialect", d.dialect.name, "version", before)
	case err != nil:
		return 0, fmt.Errorf("sqlstore: apply migrations: %w", err)
	}

	version, dirty, err := m.Version()
	if err != nil {
		return 0, fmt.Errorf("sqlstore: read schema version: %w", err)
	}
	if dirty {
		return 0, fmt.Errorf("sqlstore: schema version %d is dirty; fix the database by hand, then run `enlace migrate`", version)
	}
	if version != before {
		log.Info("database migrated", "dialect", d.dialect.name, "from_version", before, "to_version", version)
	}
	return version, nil
}

// exec, query and queryRow rewrite placeholders, use a cached prepared
// statement when the dialect caches them, and translate errors.
func (d *DB) exec(ctx context.Context, q querier, query string, args ...any) (sql.Result, error) {
	res, err := d.prepared(ctx, q, query).ExecContext(ctx, d.dialect.placeholders(query), args...)
	return res, d.dialect.translate(err)
}

func (d *DB) query(ctx context.Context, q querier, query string, args ...any) (*sql.Rows, error) {
	rows, err := d.prepared(ctx, q, query).QueryContext(ctx, d.dialect.placeholders(query), args...)
	return rows, d.dialect.translate(err)
}

func (d *DB) queryRow(ctx context.Context, q querier, query string, args ...any) *sql.Row {
	return d.prepared(ctx, q, query).QueryRowContext(ctx, d.dialect.placeholders(query), args...)
}

// prepared returns a querier that runs query as a cached prepared
// statement, bound to q's transaction when q is one. It returns q itself
// when the dialect does not cache statements or preparing fails, so the
// driver reports a bad query as usual.
func (d *DB) prepared(ctx context.Context, q querier, query string) querier {
	if !d.dialect.cacheStatements {
		return q
	}

	cached, ok := d.stmts.Load(query)
	if !ok {
		if d.stmtCount.Load() >= maxCachedStatements {
			return q
		}
		stmt, err := d.db.PrepareContext(ctx, d.dialect.placeholders(query))
		if err != nil {
			return q
		}
		if cached, ok = d.stmts.LoadOrStore(query, stmt); ok {
			_ = stmt.Close()
		} else {
			d.stmtCount.Add(1)
		}
	}

	stmt := cached.(*sql.Stmt)
	if tx, ok := q.(*sql.Tx); ok {
		stmt = tx.StmtContext(ctx, stmt)
	}
	return stmtQuerier{stmt}
}

// stmtQuerier runs a prepared statement through the querier interface and
// ignores the query text, which the statement already contains.
type stmtQuerier struct{ stmt *sql.Stmt }

func (s stmtQuerier) ExecContext(ctx context.Context, _ string, args ...any) (sql.Result, error) {
	return s.stmt.ExecContext(ctx, args...)
}

func (s stmtQuerier) QueryContext(ctx context.Context, _ string, args ...any) (*sql.Rows, error) {
	return s.stmt.QueryContext(ctx, args...)
}

func (s stmtQuerier) QueryRowContext(ctx context.Context, _ string, args ...any) *sql.Row {
	return s.stmt.QueryRowContext(ctx, args...)
}

// querier is *sql.DB or *sql.Tx.
type querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// inTx runs fn in a transaction and commits it when fn returns nil.
func (d *DB) inTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := d.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqlstore: begin: %w", err)
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sqlstore: commit: %w", d.dialect.translate(err))
	}
	return nil
}

// scanErr maps sql.ErrNoRows to store.ErrNotFound.
func (d *DB) scanErr(err error) error {
	if errors.Is(err, sql.ErrNoRows) {
		return store.ErrNotFound
	}
	return d.dialect.translate(err)
}

// ts is the form every time takes in the database: UTC with microsecond
// precision, the finest PostgreSQL keeps, so both backends read back alike.
func ts(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

// nullString stores "" as NULL.
func nullString(s string) sql.NullString { return sql.NullString{String: s, Valid: s != ""} }

// rowsAffected returns store.ErrNotFound when res changed no row.
func rowsAffected(res sql.Result) error {
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	if n == 0 {
		return store.ErrNotFound
	}
	return nil
}

// Exec runs a statement written with "?" placeholders. Tests use it to
// set up states that no API reaches yet.
func (d *DB) Exec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	return d.exec(ctx, d.db, query, args...)
}
