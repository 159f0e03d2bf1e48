package tenant

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/enlace-auth/enlace/store"
)

// Resolver maps a request host to its tenant, as follows: in single-tenant
// mode every host is the default tenant; in multi-tenant mode a custom
// domain wins, then "<slug>.<base domain>". Results are cached in process
// so the steady state needs no database query.
type Resolver struct {
	store       resolverStore
	multiTenant bool
	baseDomain  string
	now         func() time.Time

	group singleflight.Group
	loads atomic.Int64

	mu      sync.RWMutex
	entries map[string]cacheEntry
	// generation counts invalidations, so that a load which raced with
	// one does not cache what it read before it.
	generation uint64
}

// resolverStore is the part of Store that host resolution reads.
type resolverStore interface {
	TenantBySlug(ctx context.Context, slug string) (Tenant, error)
	TenantByDomain(ctx context.Context, domain string) (Tenant, error)
}

type cacheEntry struct {
	tenant    *Tenant // nil for a host that matched no tenant
	expiresAt time.Time
}

const (
	// positiveTTL bounds how long a tenant stays cached when no
	// invalidation reaches this replica (for example after `enlace tenant`
	// changed it while the in-process store is in use).
	positiveTTL = time.Minute
	// negativeTTL bounds how long an unknown host stays unknown.
	negativeTTL = 2 * time.Second
	// maxEntries caps the cache so a flood of made-up hosts cannot grow it.
	maxEntries = 100_000
)

// NewResolver returns a Resolver reading from store.
func NewResolver(store resolverStore, multiTenant bool, baseDomain string, now func() time.Time) *Resolver {
	return &Resolver{
		store:       store,
		multiTenant: multiTenant,
		baseDomain:  baseDomain,
		now:         now,
		entries:     make(map[string]cacheEntry),
	}
}

// Resolve returns the tenant for a raw Host value, or ErrUnknownTenant.
func (r *Resolver) Resolve(ctx context.Context, host string) (*Tenant, error) {
	key := NormalizeHost(host)
	if !r.multiTenant {
		key = ""
	}

	r.mu.RLock()
	e, ok := r.entries[key]
	r.mu.RUnlock()
	if ok && r.now().Before(e.expiresAt) {
		return e.found()
	}

	v, err, _ := r.group.Do(key, func() (any, error) {
		return r.load(ctx, key)
	})
	if err != nil {
		return nil, err
	}
	return v.(cacheEntry).found()
}

func (e cacheEntry) found() (*Tenant, error) {
	if e.tenant == nil {
		return nil, ErrUnknownTenant
	}
	return e.tenant, nil
}

// load reads the tenant of host from the store and caches the outcome.
func (r *Resolver) load(ctx context.Context, host string) (cacheEntry, error) {
	r.mu.RLock()
	generation := r.generation
	r.mu.RUnlock()

	r.loads.Add(1)
	t, err := r.lookup(ctx, host)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return cacheEntry{}, fmt.Errorf("resolve tenant of host %q: %w", host, err)
	}

	e := cacheEntry{expiresAt: r.now().Add(negativeTTL)}
	if err == nil {
		e = cacheEntry{tenant: &t, expiresAt: r.now().Add(positiveTTL)}
	}

	r.mu.Lock()
	defer r.mu.Unlock()
	if r.generation != generation {
		return e, nil
	}
	if len(r.entries) >= maxEntries {
		clear(r.entries)
	}
	r.entries[host] = e
	return e, nil
}

func (r *Resolver) lookup(ctx context.Context, host string) (Tenant, error) {
	if !r.multiTenant {
		return r.store.TenantBySlug(ctx, DefaultSlug)
	}

	t, err := r.store.TenantByDomain(ctx, host)
	if !errors.Is(err, store.ErrNotFound) {
		return t, err
	}

	if r.baseDomain == "" {
		return Tenant{}, store.ErrNotFound
	}
	slug, ok := strings.CutSuffix(host, "."+r.baseDomain)
	if !ok || ValidateSlug(slug) != nil {
		return Tenant{}, store.ErrNotFound
	}
	return r.store.TenantBySlug(ctx, slug)
}

// Invalidate drops every cached entry. Replicas call it when another
// replica announces a tenant change.
func (r *Resolver) Invalidate() {
	r.mu.Lock()
	clear(r.entries)
	r.generation++
	r.mu.Unlock()
}

// Loads returns how many times a host was looked up in the store, for
// metrics and tests.
func (r *Resolver) Loads() int64 { return r.loads.Load() }

// CachedHosts returns the number of cached hosts, for metrics and tests.
func (r *Resolver) CachedHosts() int {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return len(r.entries)
}
