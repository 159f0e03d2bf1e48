package accounts

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/enlace-auth/enlace/store"
)

// SessionInvalidationChannel carries session and user change notices
// between replicas, so that cached sessions are dropped everywhere.
const SessionInvalidationChannel = "sessions"

const (
	tokenBytes = 32
	// tokenLength is the length of a token in unpadded base64url.
	tokenLength = 43

	// touchInterval is how often a session's last-seen time is written.
	touchInterval = time.Minute
	// cacheMaxAge bounds how long a replica trusts a cached session without
	// reading it again, in case an invalidation notice was lost.
	cacheMaxAge = 5 * time.Minute
	// maxCachedSessions caps the cache; a full cache drops an arbitrary entry.
	maxCachedSessions = 200_000
)

// Publisher broadcasts invalidation notices to every replica.
type Publisher interface {
	Publish(ctx context.Context, channel, message string) error
}

// Principal is the signed-in user of a request and the session behind it.
type Principal struct {
	Session Session
	User    User
}

// Sessions issues, checks and revokes sessions. Checks are served from an
// in-process cache. A revocation deletes the row, drops the local entry and
// publishes a notice that drops it on every other replica.
type Sessions struct {
	store       Store
	bus         Publisher
	now         func() time.Time
	idleTimeout time.Duration
	maxAge      time.Duration

	cache sessionCache
}

// NewSessions returns a Sessions with the given idle and absolute lifetimes.
func NewSessions(store Store, bus Publisher, now func() time.Time, idleTimeout, maxAge time.Duration) *Sessions {
	return &Sessions{
		store:       store,
		bus:         bus,
		now:         now,
		idleTimeout: idleTimeout,
		maxAge:      maxAge,
		cache:       sessionCache{entries: make(map[string]*cachedSession)},
	}
}

// HashToken returns the stored form of a session token.
func HashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// validTokenShape reports whether token could have been issued by Create,
// so that junk cookies are rejected before any look-up.
func validTokenShape(token string) bool {
	if len(token) != tokenLength {
		return false
	}
	for i := 0; i < len(token); i++ {
		c := token[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// Create starts a session for u and returns its token, which is shown to
// the client once and never stored.
func (m *Sessions) Create(ctx context.Context, u User, client ClientInfo) (string, Session, error) {
	raw := make([]byte, tokenBytes)
	if _, err := rand.Read(raw); err != nil {
		return "", Session{}, fmt.Errorf("accounts: read session token: %w", err)
	}
	token := base64.RawURLEncoding.EncodeToString(raw)

	now := m.now().UTC()
	s := Session{
		ID:         uuid.NewString(),
		TenantID:   u.TenantID,
		UserID:     u.ID,
		TokenHash:  HashToken(token),
		IP:         client.IP,
		UserAgent:  truncate(client.UserAgent, 255),
		CreatedAt:  now,
		LastSeenAt: now,
		ExpiresAt:  now.Add(m.maxAge),
	}
	if err := m.store.CreateSession(ctx, s); err != nil {
		return "", Session{}, fmt.Errorf("accounts: create session: %w", err)
	}
	return token, s, nil
}

// Authenticate returns the principal of token on tenantID. It is the hot
// path of every protected request: a cached session costs no query.
func (m *Sessions) Authenticate(ctx context.Context, tenantID, token string) (Principal, error) {
	// The token must look like one of ours before it costs a look-up.
	if !validTokenShape(token) {
		return Principal{}, ErrSessionInvalid
	}
	hash := HashToken(token)
	now := m.now()

	entry, err := m.cachedOrLoad(ctx, hash, now)
	if err != nil {
		return Principal{}, err
	}

	// The session is bound to the tenant that issued it.
	if entry.session.TenantID != tenantID {
		return Principal{}, ErrSessionWrongTenant
	}

	// Absolute expiry does not move.
	if !now.Before(entry.session.ExpiresAt) {
		m.cache.drop(hash)
		return Principal{}, ErrSessionExpired
	}

	// Idle expiry: another replica may have seen the session more recently,
	// so read the stored last-seen time before rejecting.
	if now.Sub(entry.lastSeen()) > m.idleTimeout {
		if entry, err = m.load(ctx, hash, now); err != nil {
			return Principal{}, err
		}
		if now.Sub(entry.lastSeen()) > m.idleTimeout {
			m.cache.drop(hash)
			return Principal{}, ErrSessionExpired
		}
	}

	// A disabled user's sessions stop working at once.
	if entry.user.Disabled {
		return Principal{}, ErrAccountDisabled
	}

	if err := m.touch(ctx, entry, now); err != nil {
		return Principal{}, err
	}
	return Principal{Session: entry.session, User: entry.user}, nil
}

func (m *Sessions) cachedOrLoad(ctx context.Context, hash string, now time.Time) (*cachedSession, error) {
	if entry, ok := m.cache.get(hash); ok && now.Sub(entry.loadedAt) < cacheMaxAge {
		return entry, nil
	}
	return m.load(ctx, hash, now)
}

// load reads a session from the store and caches it unless an
// invalidation arrived while it was being read.
func (m *Sessions) load(ctx context.Context, hash string, now time.Time) (*cachedSession, error) {
	generation := m.cache.currentGeneration()

	s, u, err := m.store.SessionByTokenHash(ctx, hash)
	if errors.Is(err, store.ErrNotFound) {
		return nil, ErrSessionInvalid
	}
	if err != nil {
		return nil, fmt.Errorf("accounts: load session: %w", err)
	}

	entry := &cachedSession{session: s, user: u, loadedAt: now}
	entry.lastSeenNanos.Store(s.LastSeenAt.UnixNano())
	m.cache.put(hash, entry, generation)
	return entry, nil
}

// touch records activity at most once per touchInterval per session, and
// only from the request that wins the race to do it.
func (m *Sessions) touch(ctx context.Context, entry *cachedSession, now time.Time) error {
	last := entry.lastSeenNanos.Load()
	if now.UnixNano()-last < int64(touchInterval) {
		return nil
	}
	if !entry.lastSeenNanos.CompareAndSwap(last, now.UnixNano()) {
		return nil
	}
	if err := m.store.TouchSession(ctx, entry.session.ID, now.UTC()); err != nil {
		return fmt.Errorf("accounts: touch session: %w", err)
	}
	return nil
}

// Logout revokes the session of token. An unknown token is not an error.
func (m *Sessions) Logout(ctx context.Context, token string) error {
	if !validTokenShape(token) {
		return nil
	}
	hash := HashToken(token)
	if err := m.store.DeleteSessionByTokenHash(ctx, hash); err != nil && !errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("accounts: delete session: %w", err)
	}
	m.invalidateSession(ctx, hash)
	return nil
}

// Revoke deletes one session of the user.
func (m *Sessions) Revoke(ctx context.Context, tenantID, userID, sessionID string) error {
	parsed, err := uuid.Parse(sessionID)
	if err != nil {
		return ErrSessionNotFound
	}
	sessionID = parsed.String()

	s, err := m.store.DeleteSession(ctx, tenantID, userID, sessionID)
	if errors.Is(err, store.ErrNotFound) {
		return ErrSessionNotFound
	}
	if err != nil {
		return fmt.Errorf("accounts: delete session: %w", err)
	}
	m.invalidateSession(ctx, s.TokenHash)
	return nil
}

// RevokeOthers deletes every session of the user except keepID.
func (m *Sessions) RevokeOthers(ctx context.Context, tenantID, userID, keepID string) error {
	hashes, err := m.store.DeleteUserSessions(ctx, tenantID, userID, keepID)
	if err != nil {
		return fmt.Errorf("accounts: delete sessions: %w", err)
	}
	for _, h := range hashes {
		m.invalidateSession(ctx, h)
	}
	return nil
}

// List returns a page of the user's sessions, newest first.
func (m *Sessions) List(ctx context.Context, tenantID, userID, cursor string, limit int) (Page[Session], error) {
	page, err := m.store.ListSessions(ctx, tenantID, userID, cursor, limit)
	if err != nil {
		return Page[Session]{}, fmt.Errorf("accounts: list sessions: %w", err)
	}
	return page, nil
}

// DeleteExpired removes sessions past their absolute or idle limit.
func (m *Sessions) DeleteExpired(ctx context.Context) (int64, error) {
	now := m.now().UTC()
	return m.store.DeleteExpiredSessions(ctx, now, now.Add(-m.idleTimeout))
}

// InvalidateUser drops the cached sessions of a user whose data changed.
func (m *Sessions) InvalidateUser(ctx context.Context, userID string) {
	m.cache.dropUser(userID)
	m.publish(ctx, "u:"+userID)
}

func (m *Sessions) invalidateSession(ctx context.Context, hash string) {
	m.cache.drop(hash)
	m.publish(ctx, "s:"+hash)
}

// publish sends a notice to other replicas. If it fails they still drop
// the entry within cacheMaxAge; the caller's own replica already has.
func (m *Sessions) publish(ctx context.Context, message string) {
	if m.bus == nil {
		return
	}
	_ = m.bus.Publish(context.WithoutCancel(ctx), SessionInvalidationChannel, message)
}

// HandleInvalidation applies a notice published by any replica.
func (m *Sessions) HandleInvalidation(message string) {
	switch {
	case strings.HasPrefix(message, "s:"):
		m.cache.drop(message[2:])
	case strings.HasPrefix(message, "u:"):
		m.cache.dropUser(message[2:])
	default:
		m.cache.reset()
	}
}

// CachedSessions returns the number of cached sessions, for metrics.
func (m *Sessions) CachedSessions() int {
	m.cache.mu.RLock()
	defer m.cache.mu.RUnlock()
	return len(m.cache.entries)
}

// ResetCache drops every cached session, for when notices may have been lost.
func (m *Sessions) ResetCache() { m.cache.reset() }

type cachedSession struct {
	session       Session
	user          User
	loadedAt      time.Time
	lastSeenNanos atomic.Int64
}

func (c *cachedSession) lastSeen() time.Time { return time.Unix(0, c.lastSeenNanos.Load()) }

// sessionCache maps token hashes to sessions. generation counts
// invalidations so that a load racing with one is not cached.
type sessionCache struct {
	mu         sync.RWMutex
	entries    map[string]*cachedSession
	generation uint64
}

func (c *sessionCache) get(hash string) (*cachedSession, bool) {
	c.mu.RLock()
	e, ok := c.entries[hash]
	c.mu.RUnlock()
	return e, ok
}

func (c *sessionCache) currentGeneration() uint64 {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.generation
}

func (c *sessionCache) put(hash string, e *cachedSession, generation uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()

	if c.generation != generation {
		return
	}
	if len(c.entries) >= maxCachedSessions {
		for k := range c.entries {
			delete(c.entries, k)
			break
		}
	}
	c.entries[hash] = e
}

func (c *sessionCache) drop(hash string) {
	c.mu.Lock()
	delete(c.entries, hash)
	c.generation++
	c.mu.Unlock()
}

func (c *sessionCache) dropUser(userID string) {
	c.mu.Lock()
	for k, e := range c.entries {
		if e.user.ID == userID {
			delete(c.entries, k)
		}
	}
	c.generation++
	c.mu.Unlock()
}

func (c *sessionCache) reset() {
	c.mu.Lock()
	clear(c.entries)
	c.generation++
	c.mu.Unlock()
}

// truncate cuts s to at most n bytes of valid UTF-8, because a header may
// hold any bytes and PostgreSQL rejects invalid UTF-8 text.
func truncate(s string, n int) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
