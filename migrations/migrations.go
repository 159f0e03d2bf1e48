// Package migrations embeds the SQL migrations for golang-migrate, one
// folder per database. A released migration is never edited; add a new one.
package migrations

import "embed"

// Postgres holds the PostgreSQL migrations under "postgres".
//
//go:embed postgres/*.sql
var Postgres embed.FS

// SQLite holds the SQLite migrations under "sqlite".
//
//go:embed sqlite/*.sql
var SQLite embed.FS
