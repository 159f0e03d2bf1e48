package oidc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"
	"golang.org/x/sync/singleflight"
)

// signingAlgorithms are the JWS algorithms accepted on ID tokens. "none"
// and the HMAC family are left out: a relying party that accepted HS256
// could be fooled by a token signed with the provider's public key.
var signingAlgorithms = []jose.SignatureAlgorithm{
	jose.RS256, jose.RS384, jose.RS512, jose.PS256, jose.PS384, jose.PS512,
	jose.ES256, jose.ES384, jose.ES512, jose.EdDSA,
}

// keySet holds a provider's signing keys in process. It fetches them on
// first use and again when a token names an unknown key id, at most once
// per refetchInterval, so a flood of forged kids cannot hammer the provider.
type keySet struct {
	jwksURL         string
	client          *http.Client
	now             func() time.Time
	refetchInterval time.Duration

	group singleflight.Group

	mu          sync.RWMutex
	keys        []jose.JSONWebKey
	loaded      bool
	lastRefetch time.Time
}

func newKeySet(jwksURL string, client *http.Client, now func() time.Time) *keySet {
	return &keySet{jwksURL: jwksURL, client: client, now: now, refetchInterval: 30 * time.Second}
}

var errNoMatchingKey = errors.New("no signing key of the provider verifies the token")

// verify checks the signature of a compact JWS and returns its payload.
func (k *keySet) verify(ctx context.Context, token string) ([]byte, error) {
	jws, err := jose.ParseSigned(token, signingAlgorithms)
	if err != nil {
		return nil, fmt.Errorf("malformed or unsupported signature: %w", err)
	}
	if len(jws.Signatures) != 1 {
		return nil, fmt.Errorf("token has %d signatures, want 1", len(jws.Signatures))
	}
	kid := jws.Signatures[0].Header.KeyID

	if err := k.ensureLoaded(ctx); err != nil {
		return nil, err
	}
	if payload, ok := k.tryKeys(jws, kid); ok {
		return payload, nil
	}

	// An unknown kid may mean the provider rotated its keys.
	if !k.knows(kid) && k.mayRefetch() {
		if err := k.fetch(ctx); err != nil {
			return nil, err
		}
		if payload, ok := k.tryKeys(jws, kid); ok {
			return payload, nil
		}
	}
	return nil, errNoMatchingKey
}

func (k *keySet) ensureLoaded(ctx context.Context) error {
	k.mu.RLock()
	loaded := k.loaded
	k.mu.RUnlock()
	if loaded {
		return nil
	}
	return k.fetch(ctx)
}

func (k *keySet) knows(kid string) bool {
	k.mu.RLock()
	defer k.mu.RUnlock()
	for _, key := range k.keys {
		if key.KeyID == kid {
			return true
		}
	}
	return false
}

// mayRefetch reserves the next refetch slot if the interval has passed.
func (k *keySet) mayRefetch() bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	now := k.now()
	if now.Sub(k.lastRefetch) < k.refetchInterval {
		return false
	}
	k.lastRefetch = now
	return true
}

// tryKeys verifies jws with every signing key whose id matches kid (every
// key when the token names none).
func (k *keySet) tryKeys(jws *jose.JSONWebSignature, kid string) ([]byte, bool) {
	k.mu.RLock()
	defer k.mu.RUnlock()
	for _, key := range k.keys {
		if kid != "" && key.KeyID != kid {
			continue
		}
		if key.Use != "" && key.Use != "sig" {
			continue
		}
		if payload, err := jws.Verify(key.Key); err == nil {
			return payload, true
		}
	}
	return nil, false
}

func (k *keySet) fetch(ctx context.Context) error {
	_, err, _ := k.group.Do("fetch", func() (any, error) {
		keys, err := fetchJWKS(ctx, k.client, k.jwksURL)
		if err != nil {
			return nil, err
		}
		k.mu.Lock()
		k.keys, k.loaded = keys, true
		k.mu.Unlock()
		return nil, nil
	})
	return err
}

func fetchJWKS(ctx context.Context, client *http.Client, jwksURL string) ([]jose.JSONWebKey, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, jwksURL, nil)
	if err != nil {
		return nil, fmt.Errorf("%w: jwks_uri %q: %v", ErrUnavailable, jwksURL, err)
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%w: fetch signing keys: %v", ErrUnavailable, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%w: fetch signing keys: %s returned HTTP %d", ErrUnavailable, jwksURL, resp.StatusCode)
	}

	var set jose.JSONWebKeySet
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&set); err != nil {
		return nil, fmt.Errorf("%w: decode signing keys from %s: %v", ErrUnavailable, jwksURL, err)
	}

	keys := set.Keys[:0]
	for _, key := range set.Keys {
		if key.IsPublic() {
			keys = append(keys, key)
		}
	}
	return keys, nil
}
