package api

import (
	"errors"
	"net/url"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/enlace-auth/enlace/accounts"
	"github.com/enlace-auth/enlace/oidc"
	"github.com/enlace-auth/enlace/tenant"
)

// BrowserCookie binds sign-in attempts to the browser that started them.
const BrowserCookie = "enlace_oidc_browser"

const callbackPath = "/api/v1/auth/oidc/callback"

// errLinkUserChanged means the browser's session is no longer the user
// who started linking.
var errLinkUserChanged = errors.New("sign in as the user who started linking, then try again")

// errOIDCNotEnabled rejects SSO requests on a tenant without a provider.
var errOIDCNotEnabled = newError(fiber.StatusNotFound, "oidc_not_enabled", "%s", oidc.ErrNotEnabled.Error())

// flowConfig returns the tenant's enabled provider as a flow configuration.
func (s *Server) flowConfig(c *fiber.Ctx) (oidc.Config, tenant.IdPSettings, error) {
	t := currentTenant(c)
	settings, err := s.idp.Settings(c.UserContext(), t)
	if errors.Is(err, tenant.ErrNoIdP) || err == nil && !settings.Enabled {
		return oidc.Config{}, settings, errOIDCNotEnabled
	}
	if err != nil {
		return oidc.Config{}, settings, err
	}

	redirect := settings.RedirectURL
	if redirect == "" {
		if redirect, err = s.defaultRedirectURL(c, t); err != nil {
			return oidc.Config{}, settings, err
		}
	}
	return oidc.Config{
		TenantID:     t.ID,
		IssuerURL:    settings.IssuerURL,
		ClientID:     settings.ClientID,
		ClientSecret: settings.ClientSecret,
		RedirectURL:  redirect,
		Scopes:       settings.Scopes,
	}, settings, nil
}

// defaultRedirectURL is the callback on the tenant's primary host, with
// the scheme (and port) of BASE_URL.
func (s *Server) defaultRedirectURL(c *fiber.Ctx, t *tenant.Tenant) (string, error) {
	base := *s.opts.BaseURL
	if s.opts.MultiTenant {
		host := t.Slug + "." + s.opts.TenantBaseDomain
		if s.opts.TenantBaseDomain == "" {
			// Without a base domain the tenant is reached only on custom
			// domains, so the request's own host is the best guess.
			host = tenant.NormalizeHost(client(c).Host)
		}
		domains, err := s.domains.Domains(c.UserContext(), t.ID)
		if err != nil {
			return "", err
		}
		if len(domains) > 0 {
			host = domains[0].Domain
		}
		if port := base.Port(); port != "" {
			host += ":" + port
		}
		base.Host = host
	}
	base.Path = callbackPath
	return base.String(), nil
}

// browserID returns the browser-binding cookie, setting a new one when the
// browser has none. Several tabs share it; each attempt has its own state.
func (s *Server) browserID(c *fiber.Ctx) string {
	id := c.Cookies(BrowserCookie)
	if len(id) < 40 {
		id = oidc.NewBrowserID()
	} else {
		id = strings.Clone(id)
	}
	c.Cookie(&fiber.Cookie{
		Name:     BrowserCookie,
		Value:    id,
		Path:     "/api/v1/",
		MaxAge:   int(oidc.StateTTL / time.Second),
		HTTPOnly: true,
		Secure:   s.opts.SecureCookies,
		SameSite: fiber.CookieSameSiteLaxMode,
	})
	return id
}

// OIDCEnabled reports whether the tenant of the request has an enabled
// identity provider, for the sign-in page and /auth/config.
func (s *Server) OIDCEnabled(c *fiber.Ctx) bool {
	settings, err := s.idp.Settings(c.UserContext(), currentTenant(c))
	return err == nil && settings.Enabled
}

func (s *Server) oidcLogin(c *fiber.Ctx) error {
	return s.browserFriendly(c, s.startFlow(c, oidc.FlowLogin, "", SafeReturnPath(c.Query("return_to"), "/")))
}

// browserFriendly turns a client error of a page navigation into a return
// to the sign-in page with the message, where a browser would otherwise
// show raw JSON. API clients still get the JSON error.
func (s *Server) browserFriendly(c *fiber.Ctx, err error) error {
	if err == nil || !strings.Contains(c.Get(fiber.HeaderAccept), "text/html") {
		return err
	}
	e, ok := ClientError(err)
	if !ok {
		return err
	}
	c.Set(fiber.HeaderCacheControl, "no-store")
	return c.Redirect("/login?error="+url.QueryEscape(e.Message), fiber.StatusFound)
}

func (s *Server) oidcLink(c *fiber.Ctx) error {
	return s.startFlow(c, oidc.FlowLink, Principal(c).User.ID, "/settings/security")
}

func (s *Server) startFlow(c *fiber.Ctx, flow, userID, returnTo string) error {
	ctx := c.UserContext()
	cfg, _, err := s.flowConfig(c)
	if err != nil {
		return err
	}

	// The browser-binding cookie is host-only, so the attempt must start on
	// the host the provider will send the browser back to.
	if target, ok := s.callbackHostRedirect(c, cfg.RedirectURL); ok && flow == oidc.FlowLogin {
		return c.Redirect(target, fiber.StatusFound)
	}

	if err := s.limiter.Hit(ctx, s.opts.RateLimits.OIDCStartPerIP, cfg.TenantID, client(c).IP); err != nil {
		return err
	}

	authURL, err := s.rp.Start(ctx, oidc.StartRequest{
		Config: cfg, Flow: flow, UserID: userID, ReturnTo: returnTo, BrowserID: s.browserID(c),
	})
	if errors.Is(err, oidc.ErrUnavailable) {
		s.log.WarnContext(ctx, "identity provider unavailable", "tenant_id", cfg.TenantID, "issuer", cfg.IssuerURL, "error", err)
		return newError(fiber.StatusServiceUnavailable, "idp_unavailable", "%s", oidc.ErrUnavailable.Error())
	}
	if err != nil {
		return err
	}
	c.Set(fiber.HeaderCacheControl, "no-store")
	return c.Redirect(authURL, fiber.StatusFound)
}

// callbackHostRedirect returns this request's URL on the callback's host
// when the request arrived on another host name of the tenant. Ports do
// not matter, because cookies ignore them.
func (s *Server) callbackHostRedirect(c *fiber.Ctx, redirectURL string) (string, bool) {
	u, err := url.Parse(redirectURL)
	if err != nil || strings.EqualFold(u.Hostname(), tenant.NormalizeHost(client(c).Host)) {
		return "", false
	}
	return u.Scheme + "://" + u.Host + c.OriginalURL(), true
}

func (s *Server) oidcCallback(c *fiber.Ctx) error {
	ctx := c.UserContext()
	cfg, settings, err := s.flowConfig(c)
	if err != nil {
		return s.flowFailed(c, oidc.FlowLogin, err)
	}

	result, err := s.rp.Finish(ctx, oidc.Callback{
		Config:           cfg,
		State:            c.Query("state"),
		Code:             c.Query("code"),
		Error:            c.Query("error"),
		ErrorDescription: c.Query("error_description"),
		BrowserID:        c.Cookies(BrowserCookie),
	})
	if err != nil {
		return s.flowFailed(c, result.Flow, err)
	}

	ext := accounts.ExternalIdentity{
		Issuer:        result.Claims.Issuer,
		Subject:       result.Claims.Subject,
		Email:         result.Claims.Email,
		EmailVerified: result.Claims.EmailVerified,
		Name:          result.Claims.Name,
	}
	if result.Flow == oidc.FlowLink {
		return s.finishLink(c, result, ext)
	}

	u, err := s.sso.SignIn(ctx, currentTenant(c), ext, settings.InsecureTrustEmail, ClientInfo(c))
	if err != nil {
		return s.flowFailed(c, oidc.FlowLogin, err)
	}
	token, session, err := s.sessions.Create(ctx, u, ClientInfo(c))
	if err != nil {
		return err
	}
	s.SetSessionCookie(c, token, session)
	return c.Redirect(result.ReturnTo, fiber.StatusFound)
}

// finishLink links the identity to the user who started the attempt, who
// must still be the one signed in.
func (s *Server) finishLink(c *fiber.Ctx, result oidc.Result, ext accounts.ExternalIdentity) error {
	p := Principal(c)
	if p == nil || p.User.ID != result.UserID {
		return s.flowFailed(c, oidc.FlowLink, errLinkUserChanged)
	}

	err := s.sso.Link(c.UserContext(), p.User.TenantID, p.User.ID, ext, ClientInfo(c))
	if errors.Is(err, accounts.ErrIdentityTaken) {
		// 409 in both forms: a page for browsers, JSON for API clients.
		if strings.Contains(c.Get(fiber.HeaderAccept), "text/html") && s.opts.RenderErrorPage != nil {
			return s.opts.RenderErrorPage(c, fiber.StatusConflict, err.Error())
		}
		return newError(fiber.StatusConflict, "identity_taken", "%s", err.Error())
	}
	if err != nil {
		return s.flowFailed(c, oidc.FlowLink, err)
	}
	return c.Redirect("/settings/security?notice=linked", fiber.StatusFound)
}

// flowFailed sends the browser to the sign-in page (or, for linking, the
// security settings) with the message. Server faults stay 5xx.
func (s *Server) flowFailed(c *fiber.Ctx, flow string, err error) error {
	message := err.Error()
	if !isFlowError(err) {
		e, ok := ClientError(err)
		if !ok {
			return err
		}
		message = e.Message
	}

	// The log names the failed check, not the message, which can quote
	// emails and subjects from the provider.
	s.log.InfoContext(c.UserContext(), "sso flow failed", "flow", flow, "tenant_id", currentTenant(c).ID, "reason", flowErrorKind(err))
	target := "/login?error="
	if flow == oidc.FlowLink {
		target = "/settings/security?error="
	}
	c.Set(fiber.HeaderCacheControl, "no-store")
	return c.Redirect(target+url.QueryEscape(message), fiber.StatusFound)
}

// flowErrors are the expected failures of the flow, whose messages are
// safe to show.
var flowErrors = []error{
	oidc.ErrNotEnabled, oidc.ErrUnavailable, oidc.ErrStateMissing, oidc.ErrStateUnknown, oidc.ErrStateMismatch,
	oidc.ErrProvider, oidc.ErrCodeMissing, oidc.ErrExchange, oidc.ErrIDToken, oidc.ErrUserinfo, oidc.ErrClaims,
	accounts.ErrNoEmail, accounts.ErrEmailNotVerified, accounts.ErrAlreadyLinked, accounts.ErrIdentityTaken,
	accounts.ErrAccountDisabled, accounts.ErrEmailDomainNotAllowed, errLinkUserChanged,
}

func isFlowError(err error) bool { return flowErrorKind(err) != "" }

// flowErrorKind returns the message of the sentinel that err wraps, or "".
func flowErrorKind(err error) string {
	for _, target := range flowErrors {
		if errors.Is(err, target) {
			return target.Error()
		}
	}
	return ""
}

// ShownErrorMessage reports whether a sign-in page may show msg from its
// ?error= parameter: only messages that Enlace itself produces, so that a
// crafted link cannot put arbitrary text on the page.
func ShownErrorMessage(msg string) bool {
	if strings.HasPrefix(msg, "too many attempts; try again in ") {
		return true
	}
	known := append([]error{errNotSignedIn, errNoPending, errSSORequired, errOIDCNotEnabled}, flowErrors...)
	for _, m := range sentinelErrors {
		known = append(known, m.err)
	}
	for _, e := range known {
		if strings.HasPrefix(msg, e.Error()) {
			return true
		}
	}
	return msg == PasswordForSetupMessage
}

// PasswordForSetupMessage sends a user without a pending set-up back to
// sign in.
const PasswordForSetupMessage = "sign in with your password to set up two-factor sign-in"

func (s *Server) oidcUnlink(c *fiber.Ctx) error {
	p := Principal(c)
	if err := s.sso.Unlink(c.UserContext(), p.User.TenantID, p.User.ID, ClientInfo(c)); err != nil {
		return err
	}
	return c.SendStatus(fiber.StatusNoContent)
}
