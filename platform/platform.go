// Package platform authenticates platform operators, who manage tenants
// through the platform API with bearer tokens. Only token hashes are stored.
package platform

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/enlace-auth/enlace/store"
)

// tokenPrefix marks platform tokens so that they are easy to recognise in
// secret scanners and impossible to confuse with session tokens.
const tokenPrefix = "enp_"

var (
	// ErrUnauthorized means the bearer token is missing, unknown or revoked.
	ErrUnauthorized = errors.New("missing or invalid platform token; send Authorization: Bearer <token>")
)

// Token is a stored platform token.
type Token struct {
	ID        string
	Name      string
	Hash      string
	CreatedAt time.Time
	Revoked   bool
}

// TokenStore persists platform tokens.
type TokenStore interface {
	CreatePlatformToken(ctx context.Context, t Token) error
	PlatformTokenByHash(ctx context.Context, hash string) (Token, error)
	ListPlatformTokens(ctx context.Context) ([]Token, error)
	RevokePlatformToken(ctx context.Context, id string, now time.Time) error
}

// Tokens checks and issues platform tokens.
type Tokens struct {
	store   TokenStore
	envHash string // hash of ENLACE_PLATFORM_TOKEN, or ""
	now     func() time.Time
}

// NewTokens returns Tokens; envToken is ENLACE_PLATFORM_TOKEN (may be "").
func NewTokens(store TokenStore, envToken string, now func() time.Time) *Tokens {
	t := &Tokens{store: store, now: now}
	if envToken != "" {
		t.envHash = hashToken(envToken)
	}
	return t
}

func hashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// Authenticate checks the value of an Authorization header and returns the
// name of the token, "env" for ENLACE_PLATFORM_TOKEN.
func (t *Tokens) Authenticate(ctx context.Context, header string) (string, error) {
	// The scheme name is case-insensitive (RFC 9110, section 11.1).
	scheme, token, _ := strings.Cut(strings.TrimSpace(header), " ")
	token = strings.TrimSpace(token)
	if !strings.EqualFold(scheme, "Bearer") || token == "" {
		return "", ErrUnauthorized
	}
	hash := hashToken(token)

	// Compare with the environment's token in constant time.
	if t.envHash != "" && subtle.ConstantTimeCompare([]byte(hash), []byte(t.envHash)) == 1 {
		return "env", nil
	}

	stored, err := t.store.PlatformTokenByHash(ctx, hash)
	if errors.Is(err, store.ErrNotFound) || err == nil && stored.Revoked {
		return "", ErrUnauthorized
	}
	if err != nil {
		return "", fmt.Errorf("platform: find token: %w", err)
	}
	return stored.Name, nil
}

// Create issues a new token and returns it; only its hash is kept.
func (t *Tokens) Create(ctx context.Context, name string) (string, Token, error) {
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return "", Token{}, fmt.Errorf("platform: read token: %w", err)
	}
	token := tokenPrefix + base64.RawURLEncoding.EncodeToString(raw)

	stored := Token{ID: uuid.NewString(), Name: name, Hash: hashToken(token), CreatedAt: t.now().UTC()}
	if err := t.store.CreatePlatformToken(ctx, stored); err != nil {
		return "", Token{}, err
	}
	return token, stored, nil
}

// List returns every stored token (hashes only).
func (t *Tokens) List(ctx context.Context) ([]Token, error) { return t.store.ListPlatformTokens(ctx) }

// Revoke stops a token from working.
func (t *Tokens) Revoke(ctx context.Context, id string) error {
	parsed, err := uuid.Parse(id)
	if err != nil {
		return fmt.Errorf("%w: %q is not a token id", store.ErrNotFound, id)
	}
	return t.store.RevokePlatformToken(ctx, parsed.String(), t.now().UTC())
}
