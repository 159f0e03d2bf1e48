// Package kv is the store for short-lived state and shared cache entries:
// values with a time to live, take-once reads, fixed-window counters and
// a broadcast channel for cache invalidation. Redis backs it in production;
// Memory serves a single replica.
package kv

import (
	"context"
	"errors"
	"time"
)

// ErrNotFound means the key does not exist or has expired.
var ErrNotFound = errors.New("kv: key not found")

// Store is implemented by Redis and Memory. Consumers declare the smaller
// interfaces they need; Store exists for wiring and the conformance suite.
type Store interface {
	// Set stores value under key for ttl.
	Set(ctx context.Context, key string, value []byte, ttl time.Duration) error
	// Get returns the value under key, or ErrNotFound.
	Get(ctx context.Context, key string) ([]byte, error)
	// Take returns the value under key and deletes it in one atomic step,
	// so that of several concurrent callers only one gets the value.
	Take(ctx context.Context, key string) ([]byte, error)
	// Delete removes key; a missing key is not an error.
	Delete(ctx context.Context, key string) error
	// Incr adds one to the counter under key and returns the new count and
	// the time left in its window. The window starts with the first Incr.
	Incr(ctx context.Context, key string, window time.Duration) (int64, time.Duration, error)
	// Publish sends message to every subscriber of channel, on every replica.
	Publish(ctx context.Context, channel, message string) error
	// Subscribe calls onMessage for each message on channel until ctx ends.
	// It calls onReset whenever messages may have been missed, such as after
	// a reconnect, so that caches can drop everything they hold.
	Subscribe(ctx context.Context, channel string, onMessage func(string), onReset func()) error
	// Ping checks that the store is reachable.
	Ping(ctx context.Context) error
	// Close releases the store's connections.
	Close() error
}
