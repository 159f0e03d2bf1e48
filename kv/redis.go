package kv

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/redis/go-redis/v9"
)

var _ Store = (*Redis)(nil)

// Redis is the Store shared by every replica. All keys and channels carry
// the prefix given to NewRedis.
type Redis struct {
	client *redis.Client
	prefix string
	log    *slog.Logger
}

// incrScript increments a counter and starts its window on the first hit.
// It also repairs a counter left without a TTL, so no key lives forever.
var incrScript = redis.NewScript(`
local n = redis.call('INCR', KEYS[1])
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
  ttl = tonumber(ARGV[1])
end
return {n, ttl}
`)

// NewRedis connects to the Redis server at rawURL (redis:// or rediss://).
// It does not wait for the server; call Ping to check it.
func NewRedis(rawURL, prefix string, log *slog.Logger) (*Redis, error) {
	opts, err := redis.ParseURL(rawURL)
	if err != nil {
		return nil, fmt.Errorf("kv: parse redis url: %w", err)
	}
	return &Redis{client: redis.NewClient(opts), prefix: prefix, log: log}, nil
}

func (r *Redis) key(k string) string { return r.prefix + k }

func (r *Redis) Set(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	if err := r.client.Set(ctx, r.key(key), value, ttl).Err(); err != nil {
		return fmt.Errorf("kv: redis set: %w", err)
	}
	return nil
}

func (r *Redis) Get(ctx context.Context, key string) ([]byte, error) {
	v, err := r.client.Get(ctx, r.key(key)).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("kv: redis get: %w", err)
	}
	return v, nil
}

func (r *Redis) Take(ctx context.Context, key string) ([]byte, error) {
	v, err := r.client.GetDel(ctx, r.key(key)).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("kv: redis getdel: %w", err)
	}
	return v, nil
}

func (r *Redis) Delete(ctx context.Context, key string) error {
	if err := r.client.Del(ctx, r.key(key)).Err(); err != nil {
		return fmt.Errorf("kv: redis del: %w", err)
	}
	return nil
}

func (r *Redis) Incr(ctx context.Context, key string, window time.Duration) (int64, time.Duration, error) {
	res, err := incrScript.Run(ctx, r.client, []string{r.key(key)}, window.Milliseconds()).Int64Slice()
	if err != nil {
		return 0, 0, fmt.Errorf("kv: redis incr: %w", err)
	}
	if len(res) != 2 {
		return 0, 0, fmt.Errorf("kv: redis incr: script returned %d values, want 2", len(res))
	}
	return res[0], time.Duration(res[1]) * time.Millisecond, nil
}

func (r *Redis) Publish(ctx context.Context, channel, message string) error {
	if err := r.client.Publish(ctx, r.key(channel), message).Err(); err != nil {
		return fmt.Errorf("kv: redis publish: %w", err)
	}
	return nil
}

// Subscribe listens on channel until ctx ends. go-redis reconnects on its
// own after a dropped connection and confirms the subscription again; each
// confirmation calls onReset, because messages sent in between are lost.
func (r *Redis) Subscribe(ctx context.Context, channel string, onMessage func(string), onReset func()) error {
	sub := r.client.Subscribe(ctx, r.key(channel))
	defer sub.Close()

	// go-redis (v9.23) blocks in Receive until a message arrives, whatever
	// the state of the context, so closing the subscription ends the wait.
	stop := context.AfterFunc(ctx, func() { _ = sub.Close() })
	defer stop()

	for {
		msg, err := sub.Receive(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			r.log.Warn("redis subscription interrupted; retrying", "channel", channel, "error", err)
			if onReset != nil {
				onReset()
			}
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(250 * time.Millisecond):
			}
			continue
		}

		switch m := msg.(type) {
		case *redis.Subscription:
			if onReset != nil {
				onReset()
			}
		case *redis.Message:
			onMessage(m.Payload)
		}
	}
}

func (r *Redis) Ping(ctx context.Context) error {
	if err := r.client.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("kv: redis ping: %w", err)
	}
	return nil
}

func (r *Redis) Close() error { return r.client.Close() }

// DeletePrefix removes every key under this store's prefix. Tests use it to
// clean up; it scans, so it is not meant for request paths.
func (r *Redis) DeletePrefix(ctx context.Context) error {
	iter := r.client.Scan(ctx, 0, r.prefix+"*", 500).Iterator()
	for iter.Next(ctx) {
		if err := r.client.Del(ctx, iter.Val()).Err(); err != nil {
			return fmt.Errorf("kv: redis del: %w", err)
		}
	}
	return iter.Err()
}
