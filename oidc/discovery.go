package oidc

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	gooidc "github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/sync/singleflight"
)

// Cache is the shared store that keeps discovery documents for every
// replica (Redis in production).
type Cache interface {
	Get(ctx context.Context, key string) ([]byte, error)
	Set(ctx context.Context, key string, value []byte, ttl time.Duration) error
}

const (
	// refreshAfter is the age at which a discovery document is refreshed
	// in the background while the cached one keeps serving.
	refreshAfter = time.Hour
	// sharedTTL is how long the shared cache keeps a document.
	sharedTTL = 24 * time.Hour
	// failureBackoff is how long a failed discovery is not retried, so an
	// outage does not turn every sign-in into a request to the provider.
	failureBackoff = 5 * time.Second
	// fetchTimeout bounds one discovery or key request.
	fetchTimeout = 5 * time.Second
)

// Provider is one identity provider's discovered configuration and keys.
type Provider struct {
	Config    gooidc.ProviderConfig
	FetchedAt time.Time
	keys      *keySet
	oidc      *gooidc.Provider
}

// Providers caches discovery per issuer, in process and in the shared
// cache; tenants with the same issuer share one entry.
type Providers struct {
	cache  Cache
	client *http.Client
	now    func() time.Time
	log    *slog.Logger

	group singleflight.Group

	mu       sync.Mutex
	entries  map[string]*Provider
	failures map[string]time.Time
}

// NewProviders returns an empty cache that fetches with client.
func NewProviders(cache Cache, client *http.Client, now func() time.Time, log *slog.Logger) *Providers {
	return &Providers{cache: cache, client: client, now: now, log: log,
		entries: make(map[string]*Provider), failures: make(map[string]time.Time)}
}

// sharedDocument is the form a discovery document takes in the shared cache.
type sharedDocument struct {
	Config    gooidc.ProviderConfig `json:"config"`
	FetchedAt time.Time             `json:"fetched_at"`
}

func cacheKey(issuer string) string {
	sum := sha256.Sum256([]byte(issuer))
	return "oidc:discovery:" + hex.EncodeToString(sum[:16])
}

// Get returns the provider of issuer from cache, discovering it when no
// replica has yet. It returns ErrUnavailable when discovery fails.
func (p *Providers) Get(ctx context.Context, issuer string) (*Provider, error) {
	p.mu.Lock()
	entry, ok := p.entries[issuer]
	failedAt, failed := p.failures[issuer]
	p.mu.Unlock()

	if ok {
		if p.now().Sub(entry.FetchedAt) > refreshAfter {
			go p.refresh(issuer)
		}
		return entry, nil
	}
	if failed && p.now().Sub(failedAt) < failureBackoff {
		return nil, fmt.Errorf("%w: discovery of %s failed moments ago", ErrUnavailable, issuer)
	}

	v, err, _ := p.group.Do(issuer, func() (any, error) {
		if doc, err := p.fromShared(ctx, issuer); err == nil {
			return p.store(issuer, doc), nil
		}
		doc, err := p.discover(ctx, issuer)
		if err != nil {
			p.mu.Lock()
			p.failures[issuer] = p.now()
			p.mu.Unlock()
			return nil, err
		}
		return p.store(issuer, doc), nil
	})
	if err != nil {
		return nil, err
	}
	return v.(*Provider), nil
}

// Discover fetches issuer's discovery document now, bypassing every cache,
// and checks it. Saving settings and "test connection" use it.
func (p *Providers) Discover(ctx context.Context, issuer string) (gooidc.ProviderConfig, error) {
	doc, err := p.discover(ctx, issuer)
	if err != nil {
		return gooidc.ProviderConfig{}, err
	}
	p.store(issuer, doc)
	return doc.Config, nil
}

func (p *Providers) refresh(issuer string) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*fetchTimeout)
	defer cancel()

	_, _, _ = p.group.Do("refresh:"+issuer, func() (any, error) {
		doc, err := p.discover(ctx, issuer)
		if err != nil {
			// Keep serving the cached document; try again at the next sign-in.
			p.log.Warn("identity provider discovery refresh failed", "issuer", issuer, "error", err)
			// Entries are read without the lock, so replace rather than change one.
			p.mu.Lock()
			if e, ok := p.entries[issuer]; ok {
				retry := *e
				retry.FetchedAt = p.now().Add(failureBackoff - refreshAfter)
				p.entries[issuer] = &retry
			}
			p.mu.Unlock()
			return nil, err
		}
		p.store(issuer, doc)
		return nil, nil
	})
}

func (p *Providers) fromShared(ctx context.Context, issuer string) (sharedDocument, error) {
	raw, err := p.cache.Get(ctx, cacheKey(issuer))
	if err != nil {
		return sharedDocument{}, err
	}
	var doc sharedDocument
	if err := json.Unmarshal(raw, &doc); err != nil || doc.Config.IssuerURL != issuer {
		return sharedDocument{}, fmt.Errorf("oidc: cached discovery of %s is unreadable", issuer)
	}
	return doc, nil
}

// store keeps doc in process and in the shared cache. Signing keys are kept
// when the key URL did not change.
func (p *Providers) store(issuer string, doc sharedDocument) *Provider {
	ctx := gooidc.ClientContext(context.Background(), p.client)
	entry := &Provider{Config: doc.Config, FetchedAt: doc.FetchedAt, oidc: doc.Config.NewProvider(ctx)}

	p.mu.Lock()
	if old, ok := p.entries[issuer]; ok && old.Config.JWKSURL == doc.Config.JWKSURL {
		entry.keys = old.keys
	} else {
		entry.keys = newKeySet(doc.Config.JWKSURL, p.client, p.now)
	}
	p.entries[issuer] = entry
	delete(p.failures, issuer)
	p.mu.Unlock()

	if raw, err := json.Marshal(doc); err == nil {
		if err := p.cache.Set(context.Background(), cacheKey(issuer), raw, sharedTTL); err != nil {
			p.log.Warn("discovery document not shared", "issuer", issuer, "error", err)
		}
	}
	return entry
}

// discover fetches and checks the discovery document of issuer.
func (p *Providers) discover(ctx context.Context, issuer string) (sharedDocument, error) {
	ctx, cancel := context.WithTimeout(ctx, fetchTimeout)
	defer cancel()

	wellKnown := strings.TrimSuffix(issuer, "/") + "/.well-known/openid-configuration"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, wellKnown, nil)
	if err != nil {
		return sharedDocument{}, fmt.Errorf("%w: issuer %q: %v", ErrUnavailable, issuer, err)
	}
	resp, err := p.client.Do(req)
	if err != nil {
		return sharedDocument{}, fmt.Errorf("%w: discovery at %s: %v", ErrUnavailable, wellKnown, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return sharedDocument{}, fmt.Errorf("%w: discovery at %s returned HTTP %d", ErrUnavailable, wellKnown, resp.StatusCode)
	}

	var config gooidc.ProviderConfig
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&config); err != nil {
		return sharedDocument{}, fmt.Errorf("%w: discovery at %s is not JSON: %v", ErrUnavailable, wellKnown, err)
	}
	if err := checkDiscovery(issuer, config); err != nil {
		return sharedDocument{}, err
	}
	return sharedDocument{Config: config, FetchedAt: p.now()}, nil
}

// ErrIssuerMismatch means the discovery document names another issuer.
var ErrIssuerMismatch = fmt.Errorf("%w: discovery issuer mismatch", ErrUnavailable)

func checkDiscovery(issuer string, c gooidc.ProviderConfig) error {
	// The document must name the configured issuer exactly.
	if c.IssuerURL != issuer {
		return fmt.Errorf("%w: configured issuer is %q but discovery says %q", ErrIssuerMismatch, issuer, c.IssuerURL)
	}
	// Every endpoint the flow uses must be present.
	for name, v := range map[string]string{"authorization_endpoint": c.AuthURL, "token_endpoint": c.TokenURL, "jwks_uri": c.JWKSURL} {
		if v == "" {
			return fmt.Errorf("%w: discovery of %s has no %s", ErrUnavailable, issuer, name)
		}
	}
	return nil
}
