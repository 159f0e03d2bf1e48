package api

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/enlace-auth/enlace/accounts"
	"github.com/enlace-auth/enlace/tenant"
)

// PendingCookie carries a sign-in that waits for a second factor.
const PendingCookie = "enlace_2fa_pending"

// pendingTTL is how long a password sign-in may wait for its second factor.
const pendingTTL = 5 * time.Minute

// Purposes of a pending sign-in.
const (
	pendingVerify = "verify" // the user has 2FA and must give a code
	pendingSetup  = "setup"  // 2FA is required and the user must enrol
)

// errSSORequired rejects a password sign-in of an SSO-linked account while
// 2FA is required, because such an account cannot hold a TOTP factor.
var errSSORequired = newError(fiber.StatusForbidden, "sso_required",
	"this organisation requires two-factor sign-in and your account is linked to SSO; use Sign in with SSO")

// errNoPending rejects a 2FA step without a pending sign-in.
var errNoPending = newError(fiber.StatusUnauthorized, "no_pending_sign_in",
	"no sign-in is waiting for a second factor, or it expired after 5 minutes; sign in with your password again")

type pendingSignIn struct {
	TenantID string `json:"tenant_id"`
	UserID   string `json:"user_id"`
	Purpose  string `json:"purpose"`
}

func pendingKey(tenantID, token string) string {
	sum := sha256.Sum256([]byte(token))
	return "2fa:pending:" + tenantID + ":" + hex.EncodeToString(sum[:])
}

// LoginResult is the outcome of a correct password.
type LoginResult struct {
	User           accounts.User
	Requires2FA    bool
	Requires2FASet bool
}

// require2FA reports whether the tenant requires a second factor.
func (s *Server) require2FA(t *tenant.Tenant) bool {
	return s.opts.Require2FA || t.Require2FA
}

// afterPassword decides what a correct password leads to: a session, a
// code prompt, or 2FA enrolment.
func (s *Server) afterPassword(c *fiber.Ctx, u accounts.User) (LoginResult, error) {
	t := currentTenant(c)
	switch {
	case u.TOTPEnabled:
		return LoginResult{User: u, Requires2FA: true}, s.startPending(c, u, pendingVerify)
	case s.require2FA(t) && u.OIDCLinked:
		return LoginResult{}, errSSORequired
	case s.require2FA(t):
		return LoginResult{User: u, Requires2FASet: true}, s.startPending(c, u, pendingSetup)
	}

	token, session, err := s.sessions.Create(c.UserContext(), u, ClientInfo(c))
	if err != nil {
		return LoginResult{}, err
	}
	s.SetSessionCookie(c, token, session)
	return LoginResult{User: u}, nil
}

func (s *Server) startPending(c *fiber.Ctx, u accounts.User, purpose string) error {
	raw := make([]byte, 32)
	_, _ = rand.Read(raw)
	token := base64.RawURLEncoding.EncodeToString(raw)

	value, err := json.Marshal(pendingSignIn{TenantID: u.TenantID, UserID: u.ID, Purpose: purpose})
	if err != nil {
		return err
	}
	if err := s.pending.Set(c.UserContext(), pendingKey(u.TenantID, token), value, pendingTTL); err != nil {
		return fmt.Errorf("store pending sign-in: %w", err)
	}
	c.Cookie(&fiber.Cookie{
		Name:     PendingCookie,
		Value:    token,
		Path:     "/",
		MaxAge:   int(pendingTTL / time.Second),
		HTTPOnly: true,
		Secure:   s.opts.SecureCookies,
		SameSite: fiber.CookieSameSiteLaxMode,
	})
	return nil
}

// loadPending returns the pending sign-in of the request with the given purpose.
func (s *Server) loadPending(c *fiber.Ctx, purpose string) (pendingSignIn, error) {
	token := c.Cookies(PendingCookie)
	if token == "" {
		return pendingSignIn{}, errNoPending
	}
	raw, err := s.pending.Get(c.UserContext(), pendingKey(currentTenant(c).ID, token))
	if err != nil {
		return pendingSignIn{}, errNoPending
	}
	var p pendingSignIn
	if err := json.Unmarshal(raw, &p); err != nil || p.Purpose != purpose || p.TenantID != currentTenant(c).ID {
		return pendingSignIn{}, errNoPending
	}
	return p, nil
}

// finishPending consumes the pending sign-in and starts the session.
//
// Of two concurrent code checks for one pending sign-in only one gets a
// session. After a set-up, the pending state is taken but not required.
// Enabling TOTP already happened exactly once, because it needs a secret
// that is not yet enabled. Failing now, when the state expired during the
// request, would leave 2FA on with the recovery codes never shown.
func (s *Server) finishPending(c *fiber.Ctx, p pendingSignIn) (accounts.User, error) {
	ctx := c.UserContext()
	_, err := s.pending.Take(ctx, pendingKey(p.TenantID, c.Cookies(PendingCookie)))
	if err != nil && p.Purpose != pendingSetup {
		return accounts.User{}, errNoPending
	}
	s.clearPending(c)

	u, err := s.accounts.User(ctx, p.TenantID, p.UserID)
	if err != nil {
		return accounts.User{}, err
	}
	token, session, err := s.sessions.Create(ctx, u, ClientInfo(c))
	if err != nil {
		return accounts.User{}, err
	}
	s.SetSessionCookie(c, token, session)
	return u, nil
}

func (s *Server) clearPending(c *fiber.Ctx) {
	c.Cookie(&fiber.Cookie{Name: PendingCookie, Value: "", Path: "/", MaxAge: -1, Expires: time.Unix(0, 0),
		HTTPOnly: true, Secure: s.opts.SecureCookies, SameSite: fiber.CookieSameSiteLaxMode})
}

// limitTwoFactor counts a 2FA attempt per IP and per account.
func (s *Server) limitTwoFactor(ctx context.Context, tenantID, userID, ip string) error {
	if err := s.limiter.Hit(ctx, s.opts.RateLimits.TwoFactorPerIP, tenantID, ip); err != nil {
		return err
	}
	return s.limiter.Hit(ctx, s.opts.RateLimits.TwoFactorPerAccount, tenantID, "user:"+userID)
}

// CompleteTwoFactor finishes a pending sign-in with a TOTP code or a
// recovery code. Pages call it too.
func (s *Server) CompleteTwoFactor(c *fiber.Ctx, code, recoveryCode string) (accounts.User, error) {
	ctx := c.UserContext()
	p, err := s.loadPending(c, pendingVerify)
	if err != nil {
		return accounts.User{}, err
	}
	if err := s.limitTwoFactor(ctx, p.TenantID, p.UserID, client(c).IP); err != nil {
		return accounts.User{}, err
	}

	if recoveryCode != "" {
		err = s.factors.UseRecoveryCode(ctx, p.TenantID, p.UserID, recoveryCode, ClientInfo(c))
	} else {
		err = s.factors.VerifyCode(ctx, p.TenantID, p.UserID, code, ClientInfo(c))
	}
	if err != nil {
		return accounts.User{}, err
	}

	_ = s.limiter.Reset(ctx, s.opts.RateLimits.TwoFactorPerAccount, p.TenantID, "user:"+p.UserID)
	return s.finishPending(c, p)
}

type codeRequest struct {
	Code string `json:"code"`
}

type recoveryRequest struct {
	RecoveryCode string `json:"recovery_code"`
}

func (s *Server) verifyTwoFactor(c *fiber.Ctx) error {
	var req codeRequest
	if err := bindJSON(c, &req); err != nil {
		return err
	}
	if req.Code == "" {
		return &accounts.ValidationError{Fields: map[string]string{"code": "is required"}}
	}
	u, err := s.CompleteTwoFactor(c, req.Code, "")
	if err != nil {
		return err
	}
	out := s.userJSON(c, u)
	return c.JSON(loginResponse{User: &out})
}

func (s *Server) verifyRecoveryCode(c *fiber.Ctx) error {
	var req recoveryRequest
	if err := bindJSON(c, &req); err != nil {
		return err
	}
	if req.RecoveryCode == "" {
		return &accounts.ValidationError{Fields: map[string]string{"recovery_code": "is required"}}
	}
	u, err := s.CompleteTwoFactor(c, "", req.RecoveryCode)
	if err != nil {
		return err
	}
	out := s.userJSON(c, u)
	return c.JSON(loginResponse{User: &out})
}

// SetupSubject is the user a 2FA set-up request acts for: the signed-in
// user, or the user of a pending set-up that REQUIRE_2FA imposed.
type SetupSubject struct {
	TenantID string
	UserID   string
	Pending  *pendingSignIn
}

type localsSetupKey struct{}

// requireSessionOrSetup admits a full session or a pending set-up.
func (s *Server) requireSessionOrSetup(c *fiber.Ctx) error {
	if _, ok := s.LoadSetupSubject(c); ok {
		return c.Next()
	}
	return s.requireSession(c)
}

// LoadSetupSubject finds the user of a session or of a pending set-up and
// remembers it for SetupUser. Pages call it too.
func (s *Server) LoadSetupSubject(c *fiber.Ctx) (SetupSubject, bool) {
	var su SetupSubject
	if p := Principal(c); p != nil {
		su = SetupSubject{TenantID: p.User.TenantID, UserID: p.User.ID}
	} else if pending, err := s.loadPending(c, pendingSetup); err == nil {
		su = SetupSubject{TenantID: pending.TenantID, UserID: pending.UserID, Pending: &pending}
	} else {
		return SetupSubject{}, false
	}
	c.Locals(localsSetupKey{}, su)
	return su, true
}

// SetupUser returns who a 2FA set-up request acts for.
func SetupUser(c *fiber.Ctx) (SetupSubject, bool) {
	u, ok := c.Locals(localsSetupKey{}).(SetupSubject)
	return u, ok
}

type twoFactorStatusResponse struct {
	Enabled    bool `json:"enabled"`
	Require2FA bool `json:"require_2fa"`
	Available  bool `json:"available"`
}

func (s *Server) twoFactorStatus(c *fiber.Ctx) error {
	su, _ := SetupUser(c)
	u, err := s.accounts.User(c.UserContext(), su.TenantID, su.UserID)
	if err != nil {
		return err
	}
	c.Set(fiber.HeaderCacheControl, "no-store")
	return c.JSON(twoFactorStatusResponse{
		Enabled:    u.TOTPEnabled,
		Require2FA: s.require2FA(currentTenant(c)),
		Available:  !u.OIDCLinked,
	})
}

type setupResponse struct {
	Secret          string `json:"secret"`
	ProvisioningURI string `json:"provisioning_uri"`
	QRCode          string `json:"qr_code"`
}

func (s *Server) twoFactorSetup(c *fiber.Ctx) error {
	su, _ := SetupUser(c)
	e, err := s.factors.Setup(c.UserContext(), currentTenant(c), su.UserID)
	if err != nil {
		return err
	}
	c.Set(fiber.HeaderCacheControl, "no-store")
	return c.JSON(setupResponse{Secret: e.Secret, ProvisioningURI: e.ProvisioningURI, QRCode: e.QRCodePNG})
}

type recoveryCodesResponse struct {
	RecoveryCodes []string      `json:"recovery_codes"`
	User          *userResponse `json:"user,omitempty"`
}

func (s *Server) twoFactorConfirm(c *fiber.Ctx) error {
	var req codeRequest
	if err := bindJSON(c, &req); err != nil {
		return err
	}
	if req.Code == "" {
		return &accounts.ValidationError{Fields: map[string]string{"code": "is required"}}
	}

	codes, user, err := s.ConfirmTwoFactor(c, req.Code)
	if err != nil {
		return err
	}
	c.Set(fiber.HeaderCacheControl, "no-store")
	out := recoveryCodesResponse{RecoveryCodes: codes}
	if user != nil {
		u := s.userJSON(c, *user)
		out.User = &u
	}
	return c.JSON(out)
}

// ConfirmTwoFactor turns 2FA on with a first code. For a pending set-up it
// also completes the sign-in and returns the user. Pages call it too.
func (s *Server) ConfirmTwoFactor(c *fiber.Ctx, code string) ([]string, *accounts.User, error) {
	ctx := c.UserContext()
	su, _ := SetupUser(c)
	if err := s.limitTwoFactor(ctx, su.TenantID, su.UserID, client(c).IP); err != nil {
		return nil, nil, err
	}

	codes, err := s.factors.Confirm(ctx, su.TenantID, su.UserID, code, ClientInfo(c))
	if err != nil {
		return nil, nil, err
	}
	_ = s.limiter.Reset(ctx, s.opts.RateLimits.TwoFactorPerAccount, su.TenantID, "user:"+su.UserID)

	if su.Pending == nil {
		return codes, nil, nil
	}
	u, err := s.finishPending(c, *su.Pending)
	if err != nil {
		return nil, nil, err
	}
	return codes, &u, nil
}

type passwordRequest struct {
	Password string `json:"password"`
}

func (s *Server) twoFactorDisable(c *fiber.Ctx) error {
	var req passwordRequest
	if err := bindJSON(c, &req); err != nil {
		return err
	}
	if err := s.DisableTwoFactor(c, req.Password); err != nil {
		return err
	}
	return c.SendStatus(fiber.StatusNoContent)
}

// DisableTwoFactor turns 2FA off. The password guess counts towards the
// same per-account limit as password changes. Pages call it too.
func (s *Server) DisableTwoFactor(c *fiber.Ctx, password string) error {
	p := Principal(c)
	if err := s.limiter.Hit(c.UserContext(), s.opts.RateLimits.LoginPerAccount, p.User.TenantID, "user:"+p.User.ID); err != nil {
		return err
	}
	return s.factors.Disable(c.UserContext(), p.User.TenantID, p.User.ID, password, ClientInfo(c))
}

func (s *Server) twoFactorRecoveryCodes(c *fiber.Ctx) error {
	var req passwordRequest
	if err := bindJSON(c, &req); err != nil {
		return err
	}
	codes, err := s.RegenerateRecoveryCodes(c, req.Password)
	if err != nil {
		return err
	}
	c.Set(fiber.HeaderCacheControl, "no-store")
	return c.JSON(recoveryCodesResponse{RecoveryCodes: codes})
}

// RegenerateRecoveryCodes replaces the recovery codes. Pages call it too.
func (s *Server) RegenerateRecoveryCodes(c *fiber.Ctx, password string) ([]string, error) {
	p := Principal(c)
	if err := s.limiter.Hit(c.UserContext(), s.opts.RateLimits.LoginPerAccount, p.User.TenantID, "user:"+p.User.ID); err != nil {
		return nil, err
	}
	return s.factors.RegenerateRecoveryCodes(c.UserContext(), p.User.TenantID, p.User.ID, password, ClientInfo(c))
}
