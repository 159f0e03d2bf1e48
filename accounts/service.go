package accounts

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/enlace-auth/enlace/audit"
	"github.com/enlace-auth/enlace/store"
	"github.com/enlace-auth/enlace/tenant"
)

// Service runs registration, password sign-in and profile changes.
type Service struct {
	store    Store
	hasher   *Hasher
	sessions *Sessions
	audit    *audit.Recorder
	now      func() time.Time
}

// NewService returns a Service over its dependencies.
func NewService(store Store, hasher *Hasher, sessions *Sessions, recorder *audit.Recorder, now func() time.Time) *Service {
	return &Service{store: store, hasher: hasher, sessions: sessions, audit: recorder, now: now}
}

// RegisterInput is a sign-up request.
type RegisterInput struct {
	Email       string
	Password    string
	DisplayName string
}

// Register creates a password account on t. The first user of a tenant
// becomes its admin.
func (s *Service) Register(ctx context.Context, t *tenant.Tenant, in RegisterInput, client ClientInfo) (User, error) {
	if !t.RegistrationEnabled {
		return User{}, ErrRegistrationDisabled
	}

	email := strings.TrimSpace(in.Email)
	name := strings.TrimSpace(in.DisplayName)
	f := fieldErrors{}
	checkEmail(f, email)
	checkPassword(f, "password", in.Password)
	checkDisplayName(f, name)
	if _, bad := f["email"]; !bad && !emailDomainAllowed(email, t.AllowedEmailDomains) {
		f.add("email", "must be an address at one of this organisation's domains: "+strings.Join(t.AllowedEmailDomains, ", "))
	}
	if err := f.err(); err != nil {
		return User{}, err
	}

	if name == "" {
		name = email[:strings.LastIndexByte(email, '@')]
	}
	hash, err := s.hasher.Hash(in.Password)
	if err != nil {
		return User{}, err
	}

	now := s.now().UTC()
	u, err := s.store.CreateUser(ctx, User{
		ID:           uuid.NewString(),
		TenantID:     t.ID,
		Email:        email,
		DisplayName:  name,
		PasswordHash: hash,
		CreatedAt:    now,
		UpdatedAt:    now,
	})
	if errors.Is(err, store.ErrConflict) {
		return User{}, ErrEmailTaken
	}
	if err != nil {
		return User{}, fmt.Errorf("accounts: create user: %w", err)
	}

	s.record(ctx, t.ID, u.ID, audit.TypeRegister, client, map[string]string{"is_admin": fmt.Sprint(u.IsAdmin)})
	return u, nil
}

// Login checks an email and password on t. An unknown email costs the same
// hashing work as a wrong password and returns the same error.
func (s *Service) Login(ctx context.Context, t *tenant.Tenant, email, password string, client ClientInfo) (User, error) {
	u, err := s.store.UserByEmail(ctx, t.ID, NormalizeEmail(email))
	if errors.Is(err, store.ErrNotFound) || err == nil && !u.HasPassword() {
		s.hasher.VerifyDummy(password)
		s.record(ctx, t.ID, u.ID, audit.TypeLoginFailed, client, map[string]string{"reason": "unknown_user_or_no_password"})
		return User{}, ErrInvalidCredentials
	}
	if err != nil {
		return User{}, fmt.Errorf("accounts: find user: %w", err)
	}

	match, needsRehash, err := s.hasher.Verify(u.PasswordHash, password)
	if err != nil {
		return User{}, fmt.Errorf("accounts: verify password of user %s: %w", u.ID, err)
	}
	if !match {
		s.record(ctx, t.ID, u.ID, audit.TypeLoginFailed, client, map[string]string{"reason": "wrong_password"})
		return User{}, ErrInvalidCredentials
	}
	if u.Disabled {
		return User{}, ErrAccountDisabled
	}

	if needsRehash {
		s.rehash(ctx, u, password)
	}
	s.record(ctx, t.ID, u.ID, audit.TypeLogin, client, map[string]string{"method": "password"})
	return u, nil
}

// rehash replaces a hash made with old parameters. Failure only delays the
// upgrade to the next sign-in, so it is not returned.
func (s *Service) rehash(ctx context.Context, u User, password string) {
	hash, err := s.hasher.Hash(password)
	if err != nil {
		return
	}
	_ = s.store.UpdatePasswordHash(ctx, u.TenantID, u.ID, hash, s.now().UTC())
}

// UpdateProfile changes the display name of the signed-in user.
func (s *Service) UpdateProfile(ctx context.Context, p Principal, displayName string, client ClientInfo) (User, error) {
	name := strings.TrimSpace(displayName)
	f := fieldErrors{}
	if name == "" {
		f.add("display_name", "is required")
	}
	checkDisplayName(f, name)
	if err := f.err(); err != nil {
		return User{}, err
	}

	if err := s.store.UpdateDisplayName(ctx, p.User.TenantID, p.User.ID, name, s.now().UTC()); err != nil {
		return User{}, fmt.Errorf("accounts: update display name: %w", err)
	}
	s.sessions.InvalidateUser(ctx, p.User.ID)
	s.record(ctx, p.User.TenantID, p.User.ID, audit.TypeProfileUpdated, client, nil)
	return s.store.UserByID(ctx, p.User.TenantID, p.User.ID)
}

// ChangePassword sets a new password. The current one is required when the
// account has one. Every other session of the user is revoked, because a
// password change is how people lock out someone who learnt the old one.
func (s *Service) ChangePassword(ctx context.Context, p Principal, current, next string, client ClientInfo) error {
	u, err := s.store.UserByID(ctx, p.User.TenantID, p.User.ID)
	if err != nil {
		return fmt.Errorf("accounts: find user: %w", err)
	}

	f := fieldErrors{}
	if u.HasPassword() && current == "" {
		f.add("current_password", "is required to change an existing password")
	}
	checkPassword(f, "new_password", next)
	if err := f.err(); err != nil {
		return err
	}

	if u.HasPassword() {
		match, _, err := s.hasher.Verify(u.PasswordHash, current)
		if err != nil {
			return fmt.Errorf("accounts: verify password of user %s: %w", u.ID, err)
		}
		if !match {
			return &ValidationError{Fields: map[string]string{"current_password": "is incorrect"}}
		}
	}

	hash, err := s.hasher.Hash(next)
	if err != nil {
		return err
	}
	if err := s.store.UpdatePasswordHash(ctx, u.TenantID, u.ID, hash, s.now().UTC()); err != nil {
		return fmt.Errorf("accounts: update password: %w", err)
	}
	if err := s.sessions.RevokeOthers(ctx, u.TenantID, u.ID, p.Session.ID); err != nil {
		return err
	}
	s.sessions.InvalidateUser(ctx, u.ID)

	eventType := audit.TypePasswordChanged
	if !u.HasPassword() {
		eventType = audit.TypePasswordSet
	}
	s.record(ctx, u.TenantID, u.ID, eventType, client, nil)
	return nil
}

// User returns a fresh copy of the signed-in user.
func (s *Service) User(ctx context.Context, tenantID, userID string) (User, error) {
	u, err := s.store.UserByID(ctx, tenantID, userID)
	if err != nil {
		return User{}, fmt.Errorf("accounts: find user: %w", err)
	}
	return u, nil
}

// RecordSession stores an audit event about a session of the user.
func (s *Service) RecordSession(ctx context.Context, tenantID, userID, eventType string, client ClientInfo) {
	s.record(ctx, tenantID, userID, eventType, client, nil)
}

func (s *Service) record(ctx context.Context, tenantID, userID, eventType string, client ClientInfo, details map[string]string) {
	s.audit.Record(ctx, client.event(tenantID, userID, eventType, details))
}
