// Package store holds the sentinel errors that every storage backend
// returns in place of its driver's errors.
package store

import "errors"

var (
	// ErrNotFound means no row matched.
	ErrNotFound = errors.New("not found")
	// ErrConflict means a write would break a uniqueness rule.
	ErrConflict = errors.New("already exists")
)

// ErrInvalidCursor means a pagination cursor was not issued by the store.
var ErrInvalidCursor = errors.New("invalid cursor")
