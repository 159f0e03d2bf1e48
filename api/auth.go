package api

import (
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/enlace-auth/enlace/accounts"
	"github.com/enlace-auth/enlace/audit"
)

// userResponse is the public form of a user.
type userResponse struct {
	ID          string    `json:"id"`
	Email       string    `json:"email"`
	DisplayName string    `json:"display_name"`
	HasPassword bool      `json:"has_password"`
	OIDCLinked  bool      `json:"oidc_linked"`
	TOTPEnabled bool      `json:"totp_enabled"`
	IsAdmin     bool      `json:"is_admin"`
	Tenant      string    `json:"tenant"`
	CreatedAt   time.Time `json:"created_at"`
}

func (s *Server) userJSON(c *fiber.Ctx, u accounts.User) userResponse {
	return userResponse{
		ID:          u.ID,
		Email:       u.Email,
		DisplayName: u.DisplayName,
		HasPassword: u.HasPassword(),
		OIDCLinked:  u.OIDCLinked,
		TOTPEnabled: u.TOTPEnabled,
		IsAdmin:     u.IsAdmin,
		Tenant:      currentTenant(c).Slug,
		CreatedAt:   u.CreatedAt,
	}
}

type authConfigResponse struct {
	Tenant              string `json:"tenant"`
	TenantName          string `json:"tenant_name"`
	OIDCEnabled         bool   `json:"oidc_enabled"`
	RegistrationEnabled bool   `json:"registration_enabled"`
	Require2FA          bool   `json:"require_2fa"`
}

func (s *Server) authConfig(c *fiber.Ctx) error {
	t := currentTenant(c)
	return c.JSON(authConfigResponse{
		Tenant:              t.Slug,
		TenantName:          t.Name,
		OIDCEnabled:         s.OIDCEnabled(c),
		RegistrationEnabled: t.RegistrationEnabled,
		Require2FA:          s.opts.Require2FA || t.Require2FA,
	})
}

type registerRequest struct {
	Email       string `json:"email"`
	Password    string `json:"password"`
	DisplayName string `json:"display_name"`
}

func (s *Server) register(c *fiber.Ctx) error {
	var req registerRequest
	if err := bindJSON(c, &req); err != nil {
		return err
	}

	u, err := s.Register(c, accounts.RegisterInput{Email: req.Email, Password: req.Password, DisplayName: req.DisplayName})
	if err != nil {
		return err
	}
	return c.Status(fiber.StatusCreated).JSON(s.userJSON(c, u))
}

// Register creates an account under the sign-up rate limit. Pages call it too.
func (s *Server) Register(c *fiber.Ctx, in accounts.RegisterInput) (accounts.User, error) {
	ctx := c.UserContext()
	t := currentTenant(c)

	if err := s.limiter.Hit(ctx, s.opts.RateLimits.RegisterPerIP, t.ID, client(c).IP); err != nil {
		return accounts.User{}, err
	}
	return s.accounts.Register(ctx, t, in, ClientInfo(c))
}

type loginRequest struct {
	Email    string `json:"email"`
	Password string `json:"password"`
}

type loginResponse struct {
	User             *userResponse `json:"user,omitempty"`
	Requires2FA      bool          `json:"requires_2fa,omitempty"`
	Requires2FASetup bool          `json:"requires_2fa_setup,omitempty"`
}

func (s *Server) login(c *fiber.Ctx) error {
	var req loginRequest
	if err := bindJSON(c, &req); err != nil {
		return err
	}

	res, err := s.PasswordLogin(c, req.Email, req.Password)
	if err != nil {
		return err
	}
	if res.Requires2FA || res.Requires2FASet {
		return c.JSON(loginResponse{Requires2FA: res.Requires2FA, Requires2FASetup: res.Requires2FASet})
	}
	u := s.userJSON(c, res.User)
	return c.JSON(loginResponse{User: &u})
}

// PasswordLogin checks an email and password under the rate limits. On
// success it starts a session, or a pending sign-in when a second factor
// is due. Pages call it too.
func (s *Server) PasswordLogin(c *fiber.Ctx, email, password string) (LoginResult, error) {
	ctx := c.UserContext()
	t := currentTenant(c)
	limits := s.opts.RateLimits

	f := map[string]string{}
	if strings.TrimSpace(email) == "" {
		f["email"] = "is required"
	}
	if password == "" {
		f["password"] = "is required"
	}
	if len(f) > 0 {
		return LoginResult{}, &accounts.ValidationError{Fields: f}
	}

	if err := s.limiter.Hit(ctx, limits.LoginPerIP, t.ID, client(c).IP); err != nil {
		return LoginResult{}, err
	}
	account := accounts.NormalizeEmail(email)
	if err := s.limiter.Hit(ctx, limits.LoginPerAccount, t.ID, account); err != nil {
		return LoginResult{}, err
	}

	u, err := s.accounts.Login(ctx, t, email, password, ClientInfo(c))
	if err != nil {
		return LoginResult{}, err
	}
	if err := s.limiter.Reset(ctx, limits.LoginPerAccount, t.ID, account); err != nil {
		s.log.WarnContext(ctx, "login rate limit not reset", "user_id", u.ID, "error", err)
	}
	return s.afterPassword(c, u)
}

func (s *Server) logout(c *fiber.Ctx) error {
	if err := s.Logout(c); err != nil {
		return err
	}
	return c.SendStatus(fiber.StatusNoContent)
}

// Logout revokes the request's session, if any, and clears the cookie.
func (s *Server) Logout(c *fiber.Ctx) error {
	token := c.Cookies(SessionCookie)
	if token == "" {
		return nil
	}
	if err := s.sessions.Logout(c.UserContext(), token); err != nil {
		return err
	}
	if p := Principal(c); p != nil {
		s.accounts.RecordSession(c.UserContext(), p.User.TenantID, p.User.ID, audit.TypeLogout, ClientInfo(c))
	}
	s.ClearSessionCookie(c)
	return nil
}

// verify serves forward-auth requests from reverse proxies: 200 with the
// user in headers for a valid session, 401 otherwise.
func (s *Server) verify(c *fiber.Ctx) error {
	p := Principal(c)
	if p == nil {
		if err := SessionError(c); err != nil && isServerError(err) {
			return err
		}
		return c.SendStatus(fiber.StatusUnauthorized)
	}

	c.Set("X-Enlace-User-Id", p.User.ID)
	c.Set("X-Enlace-Email", p.User.Email)
	c.Set("X-Enlace-Tenant", currentTenant(c).Slug)
	c.Set(fiber.HeaderCacheControl, "no-store")
	return c.SendStatus(fiber.StatusOK)
}
