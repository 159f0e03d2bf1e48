package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/enlace-auth/enlace/config"
	"github.com/enlace-auth/enlace/kv"
	"github.com/enlace-auth/enlace/secretbox"
	"github.com/enlace-auth/enlace/store/sqlstore"
)

// redisKeyPrefix starts every Redis key and channel Enlace uses.
const redisKeyPrefix = "enlace:"

// connectDatabase connects to PostgreSQL when DATABASE_URL is set, else to
// the SQLite file.
func connectDatabase(ctx context.Context, cfg *config.Config) (*sqlstore.DB, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()

	if cfg.DatabaseURL != "" {
		return sqlstore.OpenPostgres(ctx, cfg.DatabaseURL)
	}
	return sqlstore.OpenSQLite(ctx, cfg.DatabasePath)
}

// openDatabase connects and applies pending migrations.
func openDatabase(ctx context.Context, cfg *config.Config, log *slog.Logger) (*sqlstore.DB, error) {
	db, err := connectDatabase(ctx, cfg)
	if err != nil {
		return nil, err
	}
	if _, err := db.Migrate(log); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

// openKV connects to Redis when REDIS_URL is set, else uses the
// in-process store, which is only correct for a single replica.
func openKV(ctx context.Context, cfg *config.Config, log *slog.Logger) (kv.Store, error) {
	if cfg.RedisURL == "" {
		log.Warn("REDIS_URL is not set: short-lived state is kept in this process, so run only one replica")
		return kv.NewMemory(time.Now), nil
	}

	r, err := kv.NewRedis(cfg.RedisURL, redisKeyPrefix, log)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := r.Ping(ctx); err != nil {
		r.Close()
		return nil, err
	}
	return r, nil
}

// loadSecretKey returns ENLACE_SECRET_KEY, or on the embedded default the
// key stored in the data folder, generated on first start. On the embedded
// default it warns when both exist and differ, because the file, usually
// the key from before a rotation, would be used again if the variable were
// unset.
func loadSecretKey(cfg *config.Config, log *slog.Logger) ([]byte, error) {
	path := filepath.Join(cfg.DataDir(), "secret.key")
	if cfg.SecretKey != nil {
		if cfg.DatabaseURL == "" {
			warnUnusedKeyFile(path, cfg.SecretKey, log)
		}
		return cfg.SecretKey, nil
	}

	stored, err := readSecretKeyFile(path)
	if err != nil {
		return nil, err
	}
	if stored != nil {
		return stored, nil
	}

	key := make([]byte, config.SecretKeySize)
	if _, err := rand.Read(key); err != nil {
		return nil, fmt.Errorf("generate secret key: %w", err)
	}
	if err := os.MkdirAll(cfg.DataDir(), 0o700); err != nil {
		return nil, fmt.Errorf("create data folder: %w", err)
	}
	if err := os.WriteFile(path, []byte(base64.StdEncoding.EncodeToString(key)+"\n"), 0o600); err != nil {
		return nil, fmt.Errorf("write secret key file: %w", err)
	}
	log.Warn("ENLACE_SECRET_KEY is not set: generated a key in the data folder; back it up with the database",
		"path", path)
	return key, nil
}

// warnUnusedKeyFile logs a warning when the key file in path contains a key
// other than the one in use.
func warnUnusedKeyFile(path string, inUse []byte, log *slog.Logger) {
	stored, err := readSecretKeyFile(path)
	if err != nil || stored == nil || bytes.Equal(stored, inUse) {
		return
	}
	log.Warn("ENLACE_SECRET_KEY is set, so the key file in the data folder is not used; "+
		"after a key rotation, delete the file or write the new key into it", "path", path)
}

// readSecretKeyFile returns the key in path, or nil when there is no file.
func readSecretKeyFile(path string) ([]byte, error) {
	raw, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read secret key file %s: %w", path, err)
	}

	key, err := config.DecodeSecretKey(strings.TrimSpace(string(raw)))
	if err != nil {
		return nil, fmt.Errorf("read secret key file %s: %w", path, err)
	}
	return key, nil
}

// openSecretBox returns a Box that seals under the secret key and also
// opens values sealed under ENLACE_SECRET_KEY_PREVIOUS, and the secret key.
func openSecretBox(cfg *config.Config, log *slog.Logger) (*secretbox.Box, []byte, error) {
	key, err := loadSecretKey(cfg, log)
	if err != nil {
		return nil, nil, err
	}
	box, err := secretbox.New(key, cfg.PreviousSecretKeys...)
	if err != nil {
		return nil, nil, err
	}
	return box, key, nil
}

// migrateOnly applies pending migrations and prints the schema version.
func migrateOnly(ctx context.Context, cfg *config.Config, log *slog.Logger, stdout io.Writer) error {
	db, err := connectDatabase(ctx, cfg)
	if err != nil {
		return err
	}
	defer db.Close()

	version, err := db.Migrate(log)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s schema is at version %d\n", db.Dialect(), version)
	return nil
}
