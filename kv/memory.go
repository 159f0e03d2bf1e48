package kv

import (
	"context"
	"sync"
	"time"
)

var _ Store = (*Memory)(nil)

// Memory is the in-process Store of the embedded default. It is correct for
// one replica only, because nothing it holds is visible to other processes.
type Memory struct {
	now func() time.Time

	mu          sync.Mutex
	items       map[string]memoryItem
	subscribers map[string]map[int]func(string)
	nextSubID   int
	sets        int
}

type memoryItem struct {
	value     []byte
	hasValue  bool // false for a counter
	count     int64
	expiresAt time.Time
}

// NewMemory returns an empty Memory store that reads time from now.
func NewMemory(now func() time.Time) *Memory {
	if now == nil {
		now = time.Now
	}
	return &Memory{
		now:         now,
		items:       make(map[string]memoryItem),
		subscribers: make(map[string]map[int]func(string)),
	}
}

// live returns the item under key if it has not expired. The caller holds mu.
func (m *Memory) live(key string) (memoryItem, bool) {
	it, ok := m.items[key]
	if !ok {
		return memoryItem{}, false
	}
	if !m.now().Before(it.expiresAt) {
		delete(m.items, key)
		return memoryItem{}, false
	}
	return it, true
}

// sweep drops expired items every 1024 writes, so memory stays bounded
// without a background goroutine. The caller holds mu.
func (m *Memory) sweep() {
	m.sets++
	if m.sets%1024 != 0 {
		return
	}
	now := m.now()
	for k, it := range m.items {
		if !now.Before(it.expiresAt) {
			delete(m.items, k)
		}
	}
}

func (m *Memory) Set(_ context.Context, key string, value []byte, ttl time.Duration) error {
	m.mu.Lock()
	defer m.mu.Unlock()

	m.sweep()
	m.items[key] = memoryItem{value: append([]byte{}, value...), hasValue: true, expiresAt: m.now().Add(ttl)}
	return nil
}

func (m *Memory) Get(_ context.Context, key string) ([]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()

	it, ok := m.live(key)
	if !ok || !it.hasValue {
		return nil, ErrNotFound
	}
	return append([]byte{}, it.value...), nil
}

func (m *Memory) Take(_ context.Context, key string) ([]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()

	it, ok := m.live(key)
	if !ok || !it.hasValue {
		return nil, ErrNotFound
	}
	delete(m.items, key)
	return it.value, nil
}

func (m *Memory) Delete(_ context.Context, key string) error {
	m.mu.Lock()
	defer m.mu.Unlock()

	delete(m.items, key)
	return nil
}

func (m *Memory) Incr(_ context.Context, key string, window time.Duration) (int64, time.Duration, error) {
	m.mu.Lock()
	defer m.mu.Unlock()

	it, ok := m.live(key)
	if !ok {
		m.sweep()
		it = memoryItem{expiresAt: m.now().Add(window)}
	}
	it.count++
	m.items[key] = it
	return it.count, it.expiresAt.Sub(m.now()), nil
}

func (m *Memory) Publish(_ context.Context, channel, message string) error {
	m.mu.Lock()
	handlers := make([]func(string), 0, len(m.subscribers[channel]))
	for _, h := range m.subscribers[channel] {
		handlers = append(handlers, h)
	}
	m.mu.Unlock()

	// Handlers run before Publish returns, so an invalidation is in force
	// in this process by the time the caller responds to its request.
	for _, h := range handlers {
		h(message)
	}
	return nil
}

func (m *Memory) Subscribe(ctx context.Context, channel string, onMessage func(string), _ func()) error {
	m.mu.Lock()
	id := m.nextSubID
	m.nextSubID++
	if m.subscribers[channel] == nil {
		m.subscribers[channel] = make(map[int]func(string))
	}
	m.subscribers[channel][id] = onMessage
	m.mu.Unlock()

	<-ctx.Done()

	m.mu.Lock()
	delete(m.subscribers[channel], id)
	m.mu.Unlock()
	return nil
}

func (m *Memory) Ping(context.Context) error { return nil }

func (m *Memory) Close() error { return nil }
