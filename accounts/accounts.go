// Package accounts owns users, password hashing, sessions and the rules of
// who may sign in. It does not depend on HTTP.
package accounts

import (
	"context"
	"errors"
	"time"

	"github.com/enlace-auth/enlace/audit"
)

var (
	// ErrInvalidCredentials is returned for an unknown email and a wrong
	// password alike.
	ErrInvalidCredentials = errors.New("invalid credentials")
	// ErrEmailTaken means the tenant already has a user with that email,
	// compared case-insensitively.
	ErrEmailTaken = errors.New("email already exists")
	// ErrRegistrationDisabled means the tenant does not accept sign-ups.
	ErrRegistrationDisabled = errors.New("registration is disabled for this organisation")
	// ErrAccountDisabled means an admin disabled the account.
	ErrAccountDisabled = errors.New("account is disabled; contact your administrator")

	// ErrSessionInvalid means the token is unknown, revoked or malformed.
	ErrSessionInvalid = errors.New("session is invalid or has been revoked; sign in again")
	// ErrSessionExpired means the session passed its idle or absolute limit.
	ErrSessionExpired = errors.New("session has expired; sign in again")
	// ErrSessionWrongTenant means the session was issued for another tenant.
	ErrSessionWrongTenant = errors.New("session was issued for another organisation; sign in on this host")
	// ErrSessionNotFound means the user has no session with that id.
	ErrSessionNotFound = errors.New("session not found")
)

// User is a local account of one tenant.
type User struct {
	ID           string
	TenantID     string
	Email        string
	DisplayName  string
	PasswordHash string // empty for an account without a local password
	IsAdmin      bool
	Disabled     bool
	OIDCLinked   bool
	TOTPEnabled  bool
	CreatedAt    time.Time
	UpdatedAt    time.Time
}

// HasPassword reports whether the user can sign in with a password.
func (u *User) HasPassword() bool { return u.PasswordHash != "" }

// Session is one signed-in browser or client. Only the token's hash is stored.
type Session struct {
	ID         string
	TenantID   string
	UserID     string
	TokenHash  string
	IP         string
	UserAgent  string
	CreatedAt  time.Time
	LastSeenAt time.Time
	ExpiresAt  time.Time
}

// ClientInfo describes the client of a request, for sessions and audit events.
type ClientInfo struct {
	IP        string
	UserAgent string
	RequestID string
}

// event returns the audit event of an action by this client.
func (c ClientInfo) event(tenantID, userID, eventType string, details map[string]string) audit.Event {
	return audit.Event{TenantID: tenantID, UserID: userID, Type: eventType, IP: c.IP, RequestID: c.RequestID, Details: details}
}

// Page is one page of a keyset-paginated list.
type Page[T any] struct {
	Items      []T
	NextCursor string
}

// Store is the persistence that accounts needs.
type Store interface {
	audit.Store

	// CreateUser inserts u; the first user of a tenant is made its admin.
	CreateUser(ctx context.Context, u User) (User, error)
	UserByID(ctx context.Context, tenantID, id string) (User, error)
	UserByEmail(ctx context.Context, tenantID, email string) (User, error)
	UpdateDisplayName(ctx context.Context, tenantID, id, displayName string, now time.Time) error
	UpdatePasswordHash(ctx context.Context, tenantID, id, hash string, now time.Time) error

	CreateSession(ctx context.Context, s Session) error
	// SessionByTokenHash returns the session and its user.
	SessionByTokenHash(ctx context.Context, tokenHash string) (Session, User, error)
	TouchSession(ctx context.Context, id string, lastSeen time.Time) error
	// DeleteSession deletes a session of the user and returns it.
	DeleteSession(ctx context.Context, tenantID, userID, id string) (Session, error)
	DeleteSessionByTokenHash(ctx context.Context, tokenHash string) error
	// DeleteUserSessions deletes every session of the user but keepID and
	// returns the token hashes it deleted.
	DeleteUserSessions(ctx context.Context, tenantID, userID, keepID string) ([]string, error)
	// ListSessions returns up to limit sessions of the user, newest first,
	// starting after cursor.
	ListSessions(ctx context.Context, tenantID, userID, cursor string, limit int) (Page[Session], error)
	DeleteExpiredSessions(ctx context.Context, now, idleBefore time.Time) (int64, error)
}
