package tenant

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/enlace-auth/enlace/config"
	"github.com/enlace-auth/enlace/store"
)

func TestValidateSlug(t *testing.T) {
	tests := []struct {
		slug string
		ok   bool
	}{
		{"acme", true},
		{"a", true},
		{"0", true},
		{"acme-corp", true},
		{"a1-b2", true},
		{strings.Repeat("a", 63), true},
		{"", false},
		{strings.Repeat("a", 64), false},
		{"-acme", false},
		{"acme-", false},
		{"Acme", false},
		{"acme_corp", false},
		{"acme.corp", false},
		{"acme corp", false},
		{"acme\n", false},
		{"bücher", false},
		{"admin", false},
		{"www", false},
		{"api", false},
	}

	for _, tt := range tests {
		err := ValidateSlug(tt.slug)
		if tt.ok && err != nil {
			t.Errorf("ValidateSlug(%q): got error %v, want nil", tt.slug, err)
		}
		if !tt.ok && !errors.Is(err, ErrInvalid) {
			t.Errorf("ValidateSlug(%q): got error %v, want ErrInvalid", tt.slug, err)
		}
	}
}

func TestNormalizeHost(t *testing.T) {
	tests := []struct {
		host string
		want string
	}{
		{"A.Example.COM:8080", "a.example.com"},
		{"example.com.", "example.com"},
		{"example.com.:443", "example.com"},
		{"[::1]:80", "::1"},
		{"  Example.com  ", "example.com"},
		{"example.com", "example.com"},
		{"", ""},
	}

	for _, tt := range tests {
		if got := NormalizeHost(tt.host); got != tt.want {
			t.Errorf("NormalizeHost(%q): got %q, want %q", tt.host, got, tt.want)
		}
	}
}

func TestNormalizeDomain(t *testing.T) {
	tests := []struct {
		domain string
		want   string
	}{
		{"login.example.com", "login.example.com"},
		{"Login.Example.COM", "login.example.com"},
		{"example.com.", "example.com"},
		{"example.com:443", "example.com"},
		{"bücher.example", "xn--bcher-kva.example"},
		{"BÜCHER.example", "xn--bcher-kva.example"},
		{"xn--bcher-kva.example", "xn--bcher-kva.example"},
		{"localhost", "localhost"},
	}

	for _, tt := range tests {
		got, err := NormalizeDomain(tt.domain)
		if err != nil {
			t.Errorf("NormalizeDomain(%q): got error %v, want %q", tt.domain, err, tt.want)
			continue
		}
		if got != tt.want {
			t.Errorf("NormalizeDomain(%q): got %q, want %q", tt.domain, got, tt.want)
		}
	}
}

func TestNormalizeDomainInvalid(t *testing.T) {
	tests := []string{
		"",
		".",
		"-bad.example",
		"bad-.example",
		"a..example",
		"exa mple.com",
		"under_score.example",
		"10.0.0.1",
		"[::1]",
		strings.Repeat("a", 64) + ".example",
		"example.com/path",
		"http://example.com",
		"https://login.example.com",
		"user@example.com",
		"xn--zz.example",
	}

	for _, domain := range tests {
		got, err := NormalizeDomain(domain)
		if !errors.Is(err, ErrInvalid) {
			t.Errorf("NormalizeDomain(%q): got %q, error %v; want ErrInvalid", domain, got, err)
		}
	}
}

func FuzzNormalizeDomain(f *testing.F) {
	seeds := []string{
		"login.example.com", "A.Example.COM:8080", "example.com.", "[::1]:80", "bücher.example",
		"xn--bcher-kva.example", "http://example.com", "ß.example", "a..b", "",
	}
	for _, s := range seeds {
		f.Add(s)
	}

	f.Fuzz(func(t *testing.T, domain string) {
		out, err := NormalizeDomain(domain)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("NormalizeDomain(%q): got error %v, want one wrapping ErrInvalid", domain, err)
			}
			return
		}

		if !config.IsHostname(out) {
			t.Errorf("NormalizeDomain(%q): got %q, which is not a host name", domain, out)
		}
		again, err := NormalizeDomain(out)
		if err != nil {
			t.Fatalf("NormalizeDomain(%q) = %q, but NormalizeDomain(%q) failed: %v", domain, out, out, err)
		}
		if again != out {
			t.Errorf("NormalizeDomain(%q) = %q, but NormalizeDomain(%q) = %q; want idempotent", domain, out, out, again)
		}
	})
}

// fakeResolverStore serves tenants from maps and counts lookups.
type fakeResolverStore struct {
	mu          sync.Mutex
	bySlug      map[string]Tenant
	byDomain    map[string]Tenant
	err         error // returned by every lookup when set
	slugCalls   int
	domainCalls int
	// block, when set, makes lookups wait for it to close after sending on
	// entered, so a test can act while a load is in flight.
	entered chan struct{}
	block   chan struct{}
}

func newFakeResolverStore() *fakeResolverStore {
	return &fakeResolverStore{bySlug: map[string]Tenant{}, byDomain: map[string]Tenant{}}
}

func (s *fakeResolverStore) add(t Tenant, domains ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.bySlug[t.Slug] = t
	for _, d := range domains {
		s.byDomain[d] = t
	}
}

func (s *fakeResolverStore) wait() {
	if s.block != nil {
		s.entered <- struct{}{}
		<-s.block
	}
}

func (s *fakeResolverStore) TenantBySlug(_ context.Context, slug string) (Tenant, error) {
	s.wait()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.slugCalls++
	if s.err != nil {
		return Tenant{}, s.err
	}
	t, ok := s.bySlug[slug]
	if !ok {
		return Tenant{}, store.ErrNotFound
	}
	return t, nil
}

func (s *fakeResolverStore) TenantByDomain(_ context.Context, domain string) (Tenant, error) {
	s.wait()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.domainCalls++
	if s.err != nil {
		return Tenant{}, s.err
	}
	t, ok := s.byDomain[domain]
	if !ok {
		return Tenant{}, store.ErrNotFound
	}
	return t, nil
}

// calls returns the number of lookups so far, of either kind.
func (s *fakeResolverStore) calls() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.slugCalls + s.domainCalls
}

// fakeClock is a clock that moves only when Advance is called.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)}
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

var (
	defaultTenant = Tenant{ID: "t-default", Slug: DefaultSlug}
	acmeTenant    = Tenant{ID: "t-acme", Slug: "acme"}
	betaTenant    = Tenant{ID: "t-beta", Slug: "beta"}
)

func TestResolverSingleTenant(t *testing.T) {
	fake := newFakeResolverStore()
	fake.add(defaultTenant)
	fake.add(acmeTenant, "login.acme.com")
	r := NewResolver(fake, false, "", newFakeClock().Now)

	for _, host := range []string{"login.acme.com", "acme.example.com", "", "[::1]:80", "anything"} {
		got, err := r.Resolve(context.Background(), host)
		if err != nil {
			t.Errorf("Resolve(%q): got error %v, want the default tenant", host, err)
			continue
		}
		if got.ID != defaultTenant.ID {
			t.Errorf("Resolve(%q): got tenant %q, want %q", host, got.ID, defaultTenant.ID)
		}
	}

	if fake.slugCalls != 1 {
		t.Errorf("slug lookups: got %d, want 1 because every host shares one cache entry", fake.slugCalls)
	}
	if fake.domainCalls != 0 {
		t.Errorf("domain lookups: got %d, want 0 in single-tenant mode", fake.domainCalls)
	}
}

func TestResolverMultiTenant(t *testing.T) {
	tests := []struct {
		name       string
		baseDomain string
		host       string
		wantID     string // "" means ErrUnknownTenant
	}{
		{"custom domain", "example.com", "login.acme.com", acmeTenant.ID},
		{"custom domain with port", "example.com", "LOGIN.ACME.COM:443", acmeTenant.ID},
		{"slug subdomain", "example.com", "beta.example.com", betaTenant.ID},
		{"slug subdomain trailing dot", "example.com", "beta.example.com.", betaTenant.ID},
		{"custom domain wins", "example.com", "acme.example.com", betaTenant.ID},
		{"unknown slug", "example.com", "gamma.example.com", ""},
		{"base domain itself", "example.com", "example.com", ""},
		{"reserved slug", "example.com", "admin.example.com", ""},
		{"nested subdomain", "example.com", "x.beta.example.com", ""},
		{"other base domain", "example.com", "beta.example.org", ""},
		{"suffix without dot", "example.com", "betaexample.com", ""},
		{"no base domain", "", "beta.example.com", ""},
		{"unknown host", "example.com", "evil.com", ""},
		{"empty host", "example.com", "", ""},
	}

	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := newFakeResolverStore()
			fake.add(defaultTenant)
			fake.add(acmeTenant, "login.acme.com")
			fake.add(betaTenant, "acme.example.com")
			fake.add(Tenant{ID: "t-admin", Slug: "admin"})
			r := NewResolver(fake, true, tt.baseDomain, newFakeClock().Now)

			got, err := r.Resolve(context.Background(), tt.host)
			if tt.wantID == "" {
				if !errors.Is(err, ErrUnknownTenant) {
					t.Errorf("Resolve(%q): got %v, %v; want ErrUnknownTenant", tt.host, got, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Resolve(%q): got error %v, want tenant %q", tt.host, err, tt.wantID)
			}
			if got.ID != tt.wantID {
				t.Errorf("Resolve(%q): got tenant %q, want %q", tt.host, got.ID, tt.wantID)
			}
		})
	}
}

func TestResolverCachesTenant(t *testing.T) {
	fake := newFakeResolverStore()
	fake.add(betaTenant)
	r := NewResolver(fake, true, "example.com", newFakeClock().Now)
	ctx := context.Background()

	if _, err := r.Resolve(ctx, "beta.example.com"); err != nil {
		t.Fatalf("first Resolve: got error %v, want nil", err)
	}
	before := fake.calls()

	got, err := r.Resolve(ctx, "BETA.example.com:8443")
	if err != nil {
		t.Fatalf("second Resolve: got error %v, want nil", err)
	}
	if got.ID != betaTenant.ID {
		t.Errorf("second Resolve: got tenant %q, want %q", got.ID, betaTenant.ID)
	}
	if after := fake.calls(); after != before {
		t.Errorf("store lookups: got %d after the second Resolve, want %d (served from cache)", after, before)
	}
	if n := r.CachedHosts(); n != 1 {
		t.Errorf("CachedHosts: got %d, want 1", n)
	}
}

func TestResolverPositiveEntryExpires(t *testing.T) {
	fake := newFakeResolverStore()
	fake.add(betaTenant)
	clock := newFakeClock()
	r := NewResolver(fake, true, "example.com", clock.Now)
	ctx := context.Background()

	if _, err := r.Resolve(ctx, "beta.example.com"); err != nil {
		t.Fatalf("Resolve: got error %v, want nil", err)
	}
	before := fake.calls()

	clock.Advance(time.Minute - time.Nanosecond)
	if _, err := r.Resolve(ctx, "beta.example.com"); err != nil {
		t.Fatalf("Resolve before expiry: got error %v, want nil", err)
	}
	if got := fake.calls(); got != before {
		t.Errorf("store lookups just before 1m: got %d, want %d", got, before)
	}

	clock.Advance(time.Nanosecond)
	if _, err := r.Resolve(ctx, "beta.example.com"); err != nil {
		t.Fatalf("Resolve after expiry: got error %v, want nil", err)
	}
	if got := fake.calls(); got <= before {
		t.Errorf("store lookups at 1m: got %d, want more than %d", got, before)
	}
}

func TestResolverNegativeEntryExpires(t *testing.T) {
	fake := newFakeResolverStore()
	clock := newFakeClock()
	r := NewResolver(fake, true, "example.com", clock.Now)
	ctx := context.Background()

	if _, err := r.Resolve(ctx, "beta.example.com"); !errors.Is(err, ErrUnknownTenant) {
		t.Fatalf("Resolve of an unknown host: got %v, want ErrUnknownTenant", err)
	}
	before := fake.calls()

	// The tenant appears, but the cached miss hides it for 2s.
	fake.add(betaTenant)
	clock.Advance(2*time.Second - time.Nanosecond)
	if _, err := r.Resolve(ctx, "beta.example.com"); !errors.Is(err, ErrUnknownTenant) {
		t.Errorf("Resolve just before 2s: got %v, want the cached ErrUnknownTenant", err)
	}
	if got := fake.calls(); got != before {
		t.Errorf("store lookups just before 2s: got %d, want %d", got, before)
	}

	clock.Advance(time.Nanosecond)
	got, err := r.Resolve(ctx, "beta.example.com")
	if err != nil {
		t.Fatalf("Resolve at 2s: got error %v, want tenant %q", err, betaTenant.ID)
	}
	if got.ID != betaTenant.ID {
		t.Errorf("Resolve at 2s: got tenant %q, want %q", got.ID, betaTenant.ID)
	}
	if n := fake.calls(); n <= before {
		t.Errorf("store lookups at 2s: got %d, want more than %d", n, before)
	}
}

func TestResolverInvalidate(t *testing.T) {
	fake := newFakeResolverStore()
	fake.add(acmeTenant, "login.acme.com")
	r := NewResolver(fake, true, "example.com", newFakeClock().Now)
	ctx := context.Background()

	if _, err := r.Resolve(ctx, "login.acme.com"); err != nil {
		t.Fatalf("Resolve: got error %v, want nil", err)
	}

	// Move the domain to another tenant. Until the cache entry expires, only
	// Invalidate makes the move visible.
	fake.add(betaTenant, "login.acme.com")
	r.Invalidate()
	if n := r.CachedHosts(); n != 0 {
		t.Errorf("CachedHosts after Invalidate: got %d, want 0", n)
	}
	before := fake.calls()

	got, err := r.Resolve(ctx, "login.acme.com")
	if err != nil {
		t.Fatalf("Resolve after Invalidate: got error %v, want nil", err)
	}
	if got.ID != betaTenant.ID {
		t.Errorf("Resolve after Invalidate: got tenant %q, want %q", got.ID, betaTenant.ID)
	}
	if n := fake.calls(); n <= before {
		t.Errorf("store lookups after Invalidate: got %d, want more than %d", n, before)
	}
}

func TestResolverInvalidateDuringLoad(t *testing.T) {
	fake := newFakeResolverStore()
	fake.add(acmeTenant, "login.acme.com")
	fake.entered = make(chan struct{})
	fake.block = make(chan struct{})
	r := NewResolver(fake, true, "example.com", newFakeClock().Now)

	done := make(chan error, 1)
	go func() {
		_, err := r.Resolve(context.Background(), "login.acme.com")
		done <- err
	}()

	<-fake.entered
	r.Invalidate()
	close(fake.block)
	if err := <-done; err != nil {
		t.Fatalf("Resolve: got error %v, want nil", err)
	}

	if n := r.CachedHosts(); n != 0 {
		t.Errorf("CachedHosts after a load that raced with Invalidate: got %d, want 0", n)
	}
}

func TestResolverStoreError(t *testing.T) {
	fake := newFakeResolverStore()
	fake.err = errors.New("database is down")
	r := NewResolver(fake, true, "example.com", newFakeClock().Now)
	ctx := context.Background()

	_, err := r.Resolve(ctx, "beta.example.com")
	if !errors.Is(err, fake.err) {
		t.Errorf("Resolve: got error %v, want it to wrap %v", err, fake.err)
	}
	if errors.Is(err, ErrUnknownTenant) {
		t.Errorf("Resolve: got ErrUnknownTenant for a store failure, want the store error")
	}
	if n := r.CachedHosts(); n != 0 {
		t.Errorf("CachedHosts after a store failure: got %d, want 0", n)
	}

	before := fake.calls()
	if _, err := r.Resolve(ctx, "beta.example.com"); err == nil {
		t.Errorf("second Resolve: got nil error, want the store error")
	}
	if n := fake.calls(); n <= before {
		t.Errorf("store lookups on retry: got %d, want more than %d", n, before)
	}
}
