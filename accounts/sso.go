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

// Linking rules, stored with each identity to record what allowed the link.
const (
	LinkedByNewUser       = "new_user"
	LinkedByVerifiedEmail = "verified_email"
	LinkedByTrustedEmail  = "trusted_provider_email"
	LinkedBySettings      = "settings"
)

// Audit event types of SSO.
const (
	auditSSOLogin    = "session.login_sso"
	auditLinked      = "identity.linked"
	auditUnlinked    = "identity.unlinked"
	audit2FARemoved  = "2fa.removed_by_link"
	auditSSORejected = "session.login_sso_rejected"
)

var (
	// ErrNoEmail means the provider sent no email in the ID token or userinfo.
	ErrNoEmail = errors.New("OIDC provider did not return email")
	// ErrEmailNotVerified means an account with the email exists but the
	// provider did not vouch for the address.
	ErrEmailNotVerified = errors.New("sign-in rejected: your identity provider has not verified your email address")
	// ErrIdentityTaken means the identity is linked to another user.
	ErrIdentityTaken = errors.New("this identity provider account is already linked to another user")
	// ErrAlreadyLinked means the user already has an identity at this provider.
	ErrAlreadyLinked = errors.New("your account is already linked to an account at this identity provider; unlink it first")
	// ErrUnlinkWithoutPassword keeps an account from losing its last way in.
	ErrUnlinkWithoutPassword = errors.New("cannot unlink OIDC from account without password")
	// ErrEmailDomainNotAllowed means the tenant limits new accounts to
	// other email domains.
	ErrEmailDomainNotAllowed = errors.New("sign-in rejected: new accounts must use an email address at one of this organisation's domains")
	// ErrNotLinked means there is no identity to unlink.
	ErrNotLinked = errors.New("your account is not linked to an identity provider")
)

// Identity is an account at an identity provider linked to a local user.
type Identity struct {
	ID        string
	TenantID  string
	UserID    string
	Issuer    string
	Subject   string
	Email     string
	LinkedBy  string
	CreatedAt time.Time
}

// ExternalIdentity is the user as a verified sign-in at a provider established it.
type ExternalIdentity struct {
	Issuer        string
	Subject       string
	Email         string
	EmailVerified bool
	Name          string
}

// SSOStore is the persistence that SSO sign-in needs.
type SSOStore interface {
	IdentityBySubject(ctx context.Context, tenantID, issuer, subject string) (Identity, error)
	UserIdentities(ctx context.Context, tenantID, userID string) ([]Identity, error)
	CreateUserWithIdentity(ctx context.Context, u User, id Identity) (User, error)
	// LinkIdentity inserts id and removes the user's TOTP secret and
	// recovery codes in one transaction; it reports whether a TOTP secret
	// was removed.
	LinkIdentity(ctx context.Context, id Identity) (bool, error)
	UnlinkIdentities(ctx context.Context, tenantID, userID string) (int64, error)
	UpdateEmail(ctx context.Context, tenantID, userID, email string, now time.Time) error
}

// SSO applies the rules that decide which user an external identity
// signs in as.
type SSO struct {
	store    Store
	identity SSOStore
	sessions *Sessions
	audit    *audit.Recorder
	now      func() time.Time
}

// NewSSO returns an SSO service.
func NewSSO(store Store, identity SSOStore, sessions *Sessions, recorder *audit.Recorder, now func() time.Time) *SSO {
	return &SSO{store: store, identity: identity, sessions: sessions, audit: recorder, now: now}
}

// SignIn finds or creates the user of ext on t, in this order:
//  1. an identity with the same issuer and subject is linked: that user;
//  2. a user with the same email exists: linked only when the provider
//     verified the email (or the tenant trusts its emails);
//  3. otherwise a new user.
//
// A sign-in without any email fails with ErrNoEmail.
func (s *SSO) SignIn(ctx context.Context, t *tenant.Tenant, ext ExternalIdentity, trustEmail bool, client ClientInfo) (User, error) {
	// Rule 1: a known identity signs in as its user.
	id, err := s.identity.IdentityBySubject(ctx, t.ID, ext.Issuer, ext.Subject)
	if err == nil {
		return s.signInLinked(ctx, t, id, ext, client)
	}
	if !errors.Is(err, store.ErrNotFound) {
		return User{}, fmt.Errorf("accounts: find identity: %w", err)
	}

	// Rule 4: without an email there is nothing to match or create.
	email := strings.TrimSpace(ext.Email)
	if email == "" {
		s.record(ctx, t.ID, "", auditSSORejected, client, map[string]string{"reason": "no_email"})
		return User{}, ErrNoEmail
	}

	// Rule 2: an existing account with this email.
	u, err := s.store.UserByEmail(ctx, t.ID, NormalizeEmail(email))
	if err == nil {
		return s.linkByEmail(ctx, t, u, ext, trustEmail, client)
	}
	if !errors.Is(err, store.ErrNotFound) {
		return User{}, fmt.Errorf("accounts: find user by email: %w", err)
	}

	// Rule 3: a new account, whatever the value of email_verified, but only at a
	// domain the tenant accepts for new accounts.
	if !emailDomainAllowed(email, t.AllowedEmailDomains) {
		s.record(ctx, t.ID, "", auditSSORejected, client, map[string]string{"reason": "email_domain_not_allowed"})
		return User{}, ErrEmailDomainNotAllowed
	}
	return s.createUser(ctx, t, ext, email, trustEmail, client)
}

func (s *SSO) signInLinked(ctx context.Context, t *tenant.Tenant, id Identity, ext ExternalIdentity, client ClientInfo) (User, error) {
	u, err := s.store.UserByID(ctx, t.ID, id.UserID)
	if err != nil {
		return User{}, fmt.Errorf("accounts: find linked user: %w", err)
	}
	if u.Disabled {
		return User{}, ErrAccountDisabled
	}

	// The stored email follows the provider's, but only a verified one,
	// and never onto an address another user holds.
	if ext.EmailVerified && ext.Email != "" && NormalizeEmail(ext.Email) != NormalizeEmail(u.Email) {
		switch err := s.identity.UpdateEmail(ctx, t.ID, u.ID, strings.TrimSpace(ext.Email), s.now().UTC()); {
		case err == nil:
			u.Email = strings.TrimSpace(ext.Email)
			s.sessions.InvalidateUser(ctx, u.ID)
		case errors.Is(err, store.ErrConflict):
			// Another user holds the address; keep the old one.
		default:
			return User{}, fmt.Errorf("accounts: update email: %w", err)
		}
	}

	s.record(ctx, t.ID, u.ID, auditSSOLogin, client, map[string]string{"rule": "existing_identity"})
	return u, nil
}

func (s *SSO) linkByEmail(ctx context.Context, t *tenant.Tenant, u User, ext ExternalIdentity, trustEmail bool, client ClientInfo) (User, error) {
	rule := LinkedByVerifiedEmail
	if !ext.EmailVerified {
		if !trustEmail {
			s.record(ctx, t.ID, u.ID, auditSSORejected, client, map[string]string{"reason": "email_not_verified"})
			return User{}, ErrEmailNotVerified
		}
		rule = LinkedByTrustedEmail
	}
	if u.Disabled {
		return User{}, ErrAccountDisabled
	}

	if err := s.link(ctx, t.ID, u.ID, ext, rule, client); err != nil {
		return User{}, err
	}
	s.record(ctx, t.ID, u.ID, auditSSOLogin, client, map[string]string{"rule": rule})
	return s.store.UserByID(ctx, t.ID, u.ID)
}

func (s *SSO) createUser(ctx context.Context, t *tenant.Tenant, ext ExternalIdentity, email string, trustEmail bool, client ClientInfo) (User, error) {
	name := strings.TrimSpace(ext.Name)
	f := fieldErrors{}
	checkDisplayName(f, name)
	if name == "" || len(f) > 0 {
		name = email[:max(0, strings.LastIndexByte(email, '@'))]
	}

	now := s.now().UTC()
	u := User{ID: uuid.NewString(), TenantID: t.ID, Email: email, DisplayName: name, CreatedAt: now, UpdatedAt: now}
	id := Identity{ID: uuid.NewString(), TenantID: t.ID, UserID: u.ID, Issuer: ext.Issuer, Subject: ext.Subject,
		Email: email, LinkedBy: LinkedByNewUser, CreatedAt: now}

	created, err := s.identity.CreateUserWithIdentity(ctx, u, id)
	if errors.Is(err, store.ErrConflict) {
		// A concurrent sign-in created the user or identity first; its
		// outcome decides, so run the rules again.
		return s.SignIn(ctx, t, ext, trustEmail, client)
	}
	if err != nil {
		return User{}, fmt.Errorf("accounts: create user: %w", err)
	}

	s.audit.RecordAll(ctx,
		client.event(t.ID, created.ID, audit.TypeRegister, map[string]string{"method": "oidc", "is_admin": fmt.Sprint(created.IsAdmin)}),
		client.event(t.ID, created.ID, auditSSOLogin, map[string]string{"rule": LinkedByNewUser}))
	return created, nil
}

// Link links ext to the signed-in user, from Settings → Security.
func (s *SSO) Link(ctx context.Context, tenantID, userID string, ext ExternalIdentity, client ClientInfo) error {
	existing, err := s.identity.IdentityBySubject(ctx, tenantID, ext.Issuer, ext.Subject)
	switch {
	case err == nil && existing.UserID == userID:
		return nil
	case err == nil:
		return ErrIdentityTaken
	case !errors.Is(err, store.ErrNotFound):
		return fmt.Errorf("accounts: find identity: %w", err)
	}
	return s.link(ctx, tenantID, userID, ext, LinkedBySettings, client)
}

// link stores the identity, which also removes the user's second factor.
func (s *SSO) link(ctx context.Context, tenantID, userID string, ext ExternalIdentity, rule string, client ClientInfo) error {
	id := Identity{ID: uuid.NewString(), TenantID: tenantID, UserID: userID, Issuer: ext.Issuer, Subject: ext.Subject,
		Email: ext.Email, LinkedBy: rule, CreatedAt: s.now().UTC()}

	removed, err := s.identity.LinkIdentity(ctx, id)
	if errors.Is(err, store.ErrConflict) {
		if other, findErr := s.identity.IdentityBySubject(ctx, tenantID, ext.Issuer, ext.Subject); findErr == nil && other.UserID != userID {
			return ErrIdentityTaken
		}
		return ErrAlreadyLinked
	}
	if err != nil {
		return fmt.Errorf("accounts: link identity: %w", err)
	}

	s.sessions.InvalidateUser(ctx, userID)
	s.record(ctx, tenantID, userID, auditLinked, client, map[string]string{"rule": rule, "issuer": ext.Issuer})
	if removed {
		s.record(ctx, tenantID, userID, audit2FARemoved, client, nil)
	}
	return nil
}

// Unlink removes the user's linked identities. An account without a
// password keeps its identity, because it would have no way to sign in.
func (s *SSO) Unlink(ctx context.Context, tenantID, userID string, client ClientInfo) error {
	u, err := s.store.UserByID(ctx, tenantID, userID)
	if err != nil {
		return fmt.Errorf("accounts: find user: %w", err)
	}
	if !u.OIDCLinked {
		return ErrNotLinked
	}
	if !u.HasPassword() {
		return ErrUnlinkWithoutPassword
	}

	if _, err := s.identity.UnlinkIdentities(ctx, tenantID, userID); err != nil {
		return fmt.Errorf("accounts: unlink: %w", err)
	}
	s.sessions.InvalidateUser(ctx, userID)
	s.record(ctx, tenantID, userID, auditUnlinked, client, nil)
	return nil
}

// Identities returns the identities linked to a user.
func (s *SSO) Identities(ctx context.Context, tenantID, userID string) ([]Identity, error) {
	return s.identity.UserIdentities(ctx, tenantID, userID)
}

func (s *SSO) record(ctx context.Context, tenantID, userID, eventType string, client ClientInfo, details map[string]string) {
	s.audit.Record(ctx, client.event(tenantID, userID, eventType, details))
}
