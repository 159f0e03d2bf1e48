package kv_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/enlace-auth/enlace/internal/testenv"
	"github.com/enlace-auth/enlace/kv"
)

// pollTimeout bounds every wait for a real-time effect such as a Redis TTL
// or a subscription becoming live.
const pollTimeout = 2 * time.Second

// fakeClock is a clock for Memory that moves only when Advance is called.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// backend is one Store under test. clock is nil for a store on real time.
type backend struct {
	store kv.Store
	clock *fakeClock
}

// elapse moves a fake clock forward by d. On real time it does nothing,
// and the caller polls instead.
func (b backend) elapse(d time.Duration) {
	if b.clock != nil {
		b.clock.Advance(d)
	}
}

// eventually polls cond every 5ms until it returns true or pollTimeout passes.
func eventually(cond func() bool) bool {
	deadline := time.Now().Add(pollTimeout)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestStore(t *testing.T) {
	t.Run("memory", func(t *testing.T) {
		testConformance(t, func(t *testing.T) backend {
			clock := &fakeClock{now: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)}
			return backend{store: kv.NewMemory(clock.Now), clock: clock}
		})
	})

	t.Run("redis", func(t *testing.T) {
		redisURL := os.Getenv(testenv.RedisURLEnv)
		if redisURL == "" {
			testenv.Skip(t, "Redis not configured: set %s", testenv.RedisURLEnv)
		}
		testConformance(t, func(t *testing.T) backend {
			return backend{store: newTestRedis(t, redisURL)}
		})
	})
}

// newTestRedis connects to redisURL under a random key prefix and deletes
// every key under it when t ends.
func newTestRedis(t *testing.T, redisURL string) *kv.Redis {
	t.Helper()

	random := make([]byte, 6)
	_, _ = rand.Read(random)
	prefix := "enlace-test:kv:" + hex.EncodeToString(random) + ":"

	r, err := kv.NewRedis(redisURL, prefix, testenv.Logger())
	if err != nil {
		t.Fatalf("NewRedis(%s): %v", testenv.RedisURLEnv, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), pollTimeout)
	defer cancel()
	if err := r.Ping(ctx); err != nil {
		r.Close()
		t.Fatalf("Ping Redis at %s: %v", testenv.RedisURLEnv, err)
	}

	t.Cleanup(func() {
		if err := r.DeletePrefix(context.Background()); err != nil {
			t.Errorf("DeletePrefix %q: %v", prefix, err)
		}
		r.Close()
	})
	return r
}

// testConformance checks the Store contract. newBackend returns an empty
// store private to the subtest.
func testConformance(t *testing.T, newBackend func(t *testing.T) backend) {
	ctx := context.Background()

	t.Run("ping", func(t *testing.T) {
		b := newBackend(t)
		if err := b.store.Ping(ctx); err != nil {
			t.Errorf("Ping: got error %v, want nil", err)
		}
	})

	t.Run("set get", func(t *testing.T) {
		b := newBackend(t)
		if err := b.store.Set(ctx, "k", []byte("v1"), time.Minute); err != nil {
			t.Fatalf("Set: got error %v, want nil", err)
		}
		got, err := b.store.Get(ctx, "k")
		if err != nil {
			t.Fatalf("Get: got error %v, want nil", err)
		}
		if string(got) != "v1" {
			t.Errorf("Get: got %q, want %q", got, "v1")
		}

		if err := b.store.Set(ctx, "k", []byte("v2"), time.Minute); err != nil {
			t.Fatalf("second Set: got error %v, want nil", err)
		}
		got, err = b.store.Get(ctx, "k")
		if err != nil {
			t.Fatalf("Get after overwrite: got error %v, want nil", err)
		}
		if string(got) != "v2" {
			t.Errorf("Get after overwrite: got %q, want %q", got, "v2")
		}
	})

	t.Run("get returns copy", func(t *testing.T) {
		b := newBackend(t)
		value := []byte("abc")
		if err := b.store.Set(ctx, "k", value, time.Minute); err != nil {
			t.Fatalf("Set: got error %v, want nil", err)
		}
		value[0] = 'x'

		got, err := b.store.Get(ctx, "k")
		if err != nil {
			t.Fatalf("Get: got error %v, want nil", err)
		}
		if string(got) != "abc" {
			t.Errorf("Get after changing the caller's slice: got %q, want %q", got, "abc")
		}
		got[0] = 'y'
		again, err := b.store.Get(ctx, "k")
		if err != nil {
			t.Fatalf("second Get: got error %v, want nil", err)
		}
		if string(again) != "abc" {
			t.Errorf("Get after changing a returned slice: got %q, want %q", again, "abc")
		}
	})

	t.Run("empty value", func(t *testing.T) {
		b := newBackend(t)
		if err := b.store.Set(ctx, "k", []byte{}, time.Minute); err != nil {
			t.Fatalf("Set: got error %v, want nil", err)
		}
		got, err := b.store.Get(ctx, "k")
		if err != nil {
			t.Fatalf("Get of an empty value: got error %v, want nil", err)
		}
		if len(got) != 0 {
			t.Errorf("Get of an empty value: got %q, want empty", got)
		}
	})

	t.Run("get missing", func(t *testing.T) {
		b := newBackend(t)
		got, err := b.store.Get(ctx, "missing")
		if !errors.Is(err, kv.ErrNotFound) {
			t.Errorf("Get of a missing key: got %q, %v; want ErrNotFound", got, err)
		}
	})

	t.Run("ttl expiry", func(t *testing.T) {
		b := newBackend(t)
		const ttl = 50 * time.Millisecond
		if err := b.store.Set(ctx, "k", []byte("v"), ttl); err != nil {
			t.Fatalf("Set: got error %v, want nil", err)
		}

		// Only a fake clock can stop just short of the TTL without racing it.
		if b.clock != nil {
			b.elapse(ttl - time.Millisecond)
			if _, err := b.store.Get(ctx, "k"); err != nil {
				t.Errorf("Get 1ms before the TTL: got error %v, want the value", err)
			}
			b.elapse(time.Millisecond)
		}

		expired := eventually(func() bool {
			_, err := b.store.Get(ctx, "k")
			return errors.Is(err, kv.ErrNotFound)
		})
		if !expired {
			t.Fatalf("Get after the %v TTL: value still there after %v, want ErrNotFound", ttl, pollTimeout)
		}
		if _, err := b.store.Take(ctx, "k"); !errors.Is(err, kv.ErrNotFound) {
			t.Errorf("Take after the TTL: got %v, want ErrNotFound", err)
		}
	})

	t.Run("take", func(t *testing.T) {
		b := newBackend(t)
		if err := b.store.Set(ctx, "k", []byte("v"), time.Minute); err != nil {
			t.Fatalf("Set: got error %v, want nil", err)
		}

		got, err := b.store.Take(ctx, "k")
		if err != nil {
			t.Fatalf("Take: got error %v, want nil", err)
		}
		if string(got) != "v" {
			t.Errorf("Take: got %q, want %q", got, "v")
		}
		if _, err := b.store.Take(ctx, "k"); !errors.Is(err, kv.ErrNotFound) {
			t.Errorf("second Take: got %v, want ErrNotFound", err)
		}
		if _, err := b.store.Get(ctx, "k"); !errors.Is(err, kv.ErrNotFound) {
			t.Errorf("Get after Take: got %v, want ErrNotFound", err)
		}
	})

	t.Run("take missing", func(t *testing.T) {
		b := newBackend(t)
		if _, err := b.store.Take(ctx, "missing"); !errors.Is(err, kv.ErrNotFound) {
			t.Errorf("Take of a missing key: got %v, want ErrNotFound", err)
		}
	})

	t.Run("take concurrent", func(t *testing.T) {
		b := newBackend(t)
		if err := b.store.Set(ctx, "k", []byte("v"), time.Minute); err != nil {
			t.Fatalf("Set: got error %v, want nil", err)
		}

		const callers = 20
		var winners, misses atomic.Int32
		var wg sync.WaitGroup
		start := make(chan struct{})
		for range callers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				got, err := b.store.Take(ctx, "k")
				switch {
				case err == nil && string(got) == "v":
					winners.Add(1)
				case errors.Is(err, kv.ErrNotFound):
					misses.Add(1)
				default:
					t.Errorf("Take: got %q, %v; want the value or ErrNotFound", got, err)
				}
			}()
		}
		close(start)
		wg.Wait()

		if n := winners.Load(); n != 1 {
			t.Errorf("callers that got the value: got %d, want exactly 1", n)
		}
		if n := misses.Load(); n != callers-1 {
			t.Errorf("callers that got ErrNotFound: got %d, want %d", n, callers-1)
		}
	})

	t.Run("delete", func(t *testing.T) {
		b := newBackend(t)
		if err := b.store.Set(ctx, "k", []byte("v"), time.Minute); err != nil {
			t.Fatalf("Set: got error %v, want nil", err)
		}
		if err := b.store.Delete(ctx, "k"); err != nil {
			t.Fatalf("Delete: got error %v, want nil", err)
		}
		if _, err := b.store.Get(ctx, "k"); !errors.Is(err, kv.ErrNotFound) {
			t.Errorf("Get after Delete: got %v, want ErrNotFound", err)
		}
		if err := b.store.Delete(ctx, "missing"); err != nil {
			t.Errorf("Delete of a missing key: got error %v, want nil", err)
		}
	})

	t.Run("incr window", func(t *testing.T) {
		b := newBackend(t)
		const window = 250 * time.Millisecond

		for want := int64(1); want <= 3; want++ {
			n, ttl, err := b.store.Incr(ctx, "counter", window)
			if err != nil {
				t.Fatalf("Incr %d: got error %v, want nil", want, err)
			}
			if n != want {
				t.Errorf("Incr %d: got count %d, want %d", want, n, want)
			}
			if ttl <= 0 || ttl > window {
				t.Errorf("Incr %d: got time left %v, want in (0, %v]", want, ttl, window)
			}
		}

		n, _, err := b.store.Incr(ctx, "other", window)
		if err != nil {
			t.Fatalf("Incr of another key: got error %v, want nil", err)
		}
		if n != 1 {
			t.Errorf("Incr of another key: got count %d, want 1", n)
		}

		// Only a fake clock can stop just short of the window without racing it.
		if b.clock != nil {
			b.elapse(window - time.Millisecond)
			n, ttl, err := b.store.Incr(ctx, "counter", window)
			if err != nil {
				t.Fatalf("Incr 1ms before the window ends: got error %v, want nil", err)
			}
			if n != 4 {
				t.Errorf("Incr 1ms before the window ends: got count %d, want 4", n)
			}
			if ttl != time.Millisecond {
				t.Errorf("Incr 1ms before the window ends: got time left %v, want 1ms", ttl)
			}
			b.elapse(time.Millisecond)
		}

		// Each Incr before the reset only raises the count, so the first
		// count of 1 marks the start of a new window.
		var lastTTL time.Duration
		reset := eventually(func() bool {
			n, ttl, err := b.store.Incr(ctx, "counter", window)
			lastTTL = ttl
			return err == nil && n == 1
		})
		if !reset {
			t.Fatalf("Incr after the %v window: count did not return to 1 within %v", window, pollTimeout)
		}
		if lastTTL <= 0 || lastTTL > window {
			t.Errorf("Incr in the new window: got time left %v, want in (0, %v]", lastTTL, window)
		}
	})

	t.Run("publish subscribe", func(t *testing.T) {
		b := newBackend(t)
		subCtx, cancel := context.WithCancel(ctx)
		defer cancel()

		var delivered atomic.Int32
		received := make(chan string, 1)
		onMessage := func(message string) {
			delivered.Add(1)
			select {
			case received <- message:
			default:
			}
		}
		done := make(chan error, 1)
		go func() { done <- b.store.Subscribe(subCtx, "events", onMessage, func() {}) }()

		// Subscribe gives no signal when it is live, so publish until a
		// message arrives.
		var got string
		ok := eventually(func() bool {
			if err := b.store.Publish(ctx, "events", "hello"); err != nil {
				t.Errorf("Publish: got error %v, want nil", err)
				return true
			}
			select {
			case got = <-received:
				return true
			case <-time.After(20 * time.Millisecond):
				return false
			}
		})
		if !ok {
			t.Fatalf("Subscribe: received nothing within %v of publishing", pollTimeout)
		}
		if got != "hello" {
			t.Errorf("Subscribe: got message %q, want %q", got, "hello")
		}

		if err := b.store.Publish(ctx, "unrelated", "x"); err != nil {
			t.Errorf("Publish without subscribers: got error %v, want nil", err)
		}

		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Subscribe after cancel: got error %v, want nil", err)
			}
		case <-time.After(pollTimeout):
			t.Fatalf("Subscribe: still running %v after its context ended", pollTimeout)
		}

		before := delivered.Load()
		if err := b.store.Publish(ctx, "events", "late"); err != nil {
			t.Errorf("Publish after unsubscribe: got error %v, want nil", err)
		}
		if after := delivered.Load(); after != before {
			t.Errorf("messages delivered after Subscribe returned: got %d, want %d", after, before)
		}
	})
}
