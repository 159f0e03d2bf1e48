package api

import (
	"fmt"
	"log/slog"
	"net/netip"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/google/uuid"

	"github.com/enlace-auth/enlace/accounts"
	"github.com/enlace-auth/enlace/internal/logctx"
	"github.com/enlace-auth/enlace/tenant"
)

// localsKey keys the values middleware stores on a request.
type localsKey int

const (
	keyClient localsKey = iota
	keyTenant
	keyPrincipal
	keySessionErr
	keyPlatformToken
)

// SessionCookie is the name of the browser session cookie.
const SessionCookie = "enlace_session"

// requestClient describes the client of a request, after the
// trusted-proxy rules.
type requestClient struct {
	IP        string
	Scheme    string
	Host      string
	RequestID string
	UserAgent string
}

var requestIDPattern = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

// recoverPanics turns a panic into a 500 so one bad request cannot take
// the process down; the error handler logs it.
func (s *Server) recoverPanics(c *fiber.Ctx) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("panic: %v", r)
		}
	}()
	return c.Next()
}

// requestContext works out the client's address, scheme and host, honouring
// X-Forwarded-* only from TRUSTED_PROXIES, and assigns the request id.
func (s *Server) requestContext(c *fiber.Ctx) error {
	remote, _ := netip.AddrFromSlice(c.Context().RemoteIP())
	remote = remote.Unmap()
	trusted := s.trusted(remote)

	rc := &requestClient{
		IP:        remote.String(),
		Scheme:    "http",
		Host:      strings.Clone(string(c.Request().Host())),
		UserAgent: strings.Clone(c.Get(fiber.HeaderUserAgent)),
	}
	if c.Context().IsTLS() {
		rc.Scheme = "https"
	}

	if trusted {
		if ip, ok := s.forwardedFor(c.Get(fiber.HeaderXForwardedFor)); ok {
			rc.IP = ip.String()
		}
		if h := firstValue(c.Get(fiber.HeaderXForwardedHost)); h != "" {
			rc.Host = strings.Clone(h)
		}
		if p := strings.ToLower(firstValue(c.Get(fiber.HeaderXForwardedProto))); p == "http" || p == "https" {
			rc.Scheme = p
		}
		if id := c.Get(fiber.HeaderXRequestID); requestIDPattern.MatchString(id) {
			rc.RequestID = strings.Clone(id)
		}
	}
	if rc.RequestID == "" {
		rc.RequestID = uuid.NewString()
	}

	c.Locals(keyClient, rc)
	c.Set(fiber.HeaderXRequestID, rc.RequestID)
	c.SetUserContext(logctx.WithRequestID(c.UserContext(), rc.RequestID))
	return c.Next()
}

func (s *Server) trusted(ip netip.Addr) bool {
	for _, p := range s.opts.TrustedProxies {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// forwardedFor returns the right-most address of X-Forwarded-For that is
// not a trusted proxy: the one that the nearest untrusted hop added.
func (s *Server) forwardedFor(header string) (netip.Addr, bool) {
	parts := strings.Split(header, ",")
	for i := len(parts) - 1; i >= 0; i-- {
		ip, err := netip.ParseAddr(strings.TrimSpace(parts[i]))
		if err != nil {
			return netip.Addr{}, false
		}
		ip = ip.Unmap()
		if !s.trusted(ip) {
			return ip, true
		}
	}
	return netip.Addr{}, false
}

func firstValue(header string) string {
	v, _, _ := strings.Cut(header, ",")
	return strings.TrimSpace(v)
}

func client(c *fiber.Ctx) *requestClient {
	rc, _ := c.Locals(keyClient).(*requestClient)
	if rc == nil {
		return &requestClient{}
	}
	return rc
}

// ClientInfo returns the client of the request for sessions and audit events.
func ClientInfo(c *fiber.Ctx) accounts.ClientInfo {
	rc := client(c)
	return accounts.ClientInfo{IP: rc.IP, UserAgent: rc.UserAgent, RequestID: rc.RequestID}
}

// accessLog writes one line per request. The query string is left out
// because it can carry codes and tokens. Successful requests log at debug
// level so the hot path stays cheap; failures log at info and 5xx at error.
func (s *Server) accessLog(c *fiber.Ctx) error {
	start := time.Now()
	err := c.Next()

	status := c.Response().StatusCode()
	if err != nil {
		status = toError(err).Status
	}
	s.requests.add(status)

	level := slog.LevelDebug
	switch {
	case status >= 500:
		level = slog.LevelError
	case status >= 400:
		level = slog.LevelInfo
	}

	// Building the attributes costs more than the check, so skip both
	// when the line would be dropped anyway.
	ctx := c.UserContext()
	if s.log.Enabled(ctx, level) {
		s.log.Log(ctx, level, "request", s.accessAttrs(c, status, start)...)
	}
	return err
}

func (s *Server) accessAttrs(c *fiber.Ctx, status int, start time.Time) []any {
	attrs := []any{"method", c.Method(), "path", c.Path(), "status", status,
		"duration_ms", float64(time.Since(start).Microseconds()) / 1000, "ip", client(c).IP}
	if t := currentTenant(c); t != nil {
		attrs = append(attrs, "tenant_id", t.ID)
	}
	return attrs
}

// securityHeaders sets the headers every response carries.
func (s *Server) securityHeaders(c *fiber.Ctx) error {
	c.Set(fiber.HeaderXContentTypeOptions, "nosniff")
	c.Set(fiber.HeaderXFrameOptions, "DENY")
	c.Set(fiber.HeaderReferrerPolicy, "no-referrer")
	c.Set("Cross-Origin-Opener-Policy", "same-origin")
	c.Set("Cross-Origin-Resource-Policy", "same-origin")
	c.Set(fiber.HeaderContentSecurityPolicy,
		"default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'")
	c.Set(fiber.HeaderPermissionsPolicy, "camera=(), microphone=(), geolocation=()")
	if s.opts.SecureCookies {
		c.Set(fiber.HeaderStrictTransportSecurity, "max-age=31536000")
	}
	return c.Next()
}

// resolveTenant finds the tenant of the request host; an unknown host gets
// 404 "unknown tenant".
func (s *Server) resolveTenant(c *fiber.Ctx) error {
	t, err := s.tenants.Resolve(c.UserContext(), client(c).Host)
	if err != nil {
		return err
	}
	c.Locals(keyTenant, t)
	return c.Next()
}

func currentTenant(c *fiber.Ctx) *tenant.Tenant {
	t, _ := c.Locals(keyTenant).(*tenant.Tenant)
	return t
}

// CurrentTenant returns the tenant of the request.
func CurrentTenant(c *fiber.Ctx) *tenant.Tenant { return currentTenant(c) }

// checkOrigin rejects state-changing requests that a browser sent from
// another origin. Browsers send Sec-Fetch-Site or Origin on such requests;
// a client that sends neither is not a browser and cannot carry a
// cross-site forgery.
func (s *Server) checkOrigin(c *fiber.Ctx) error {
	switch c.Method() {
	case fiber.MethodGet, fiber.MethodHead, fiber.MethodOptions:
		return c.Next()
	}

	rc := client(c)
	if site := c.Get("Sec-Fetch-Site"); site != "" {
		if site == "same-origin" || site == "none" {
			return c.Next()
		}
		return newError(fiber.StatusForbidden, "cross_origin_rejected",
			"cross-origin request rejected: Sec-Fetch-Site is %q; send state-changing requests from this site's own pages", site)
	}

	origin := c.Get(fiber.HeaderOrigin)
	if origin == "" {
		return c.Next()
	}
	if s.sameOrigin(origin, rc) {
		return c.Next()
	}
	return newError(fiber.StatusForbidden, "cross_origin_rejected",
		"cross-origin request rejected: Origin %q does not match %s://%s", origin, rc.Scheme, rc.Host)
}

// sameOrigin compares origin with the request's host. The scheme may also
// be BASE_URL's, for TLS ended at a proxy that is not in TRUSTED_PROXIES.
func (s *Server) sameOrigin(origin string, rc *requestClient) bool {
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" || !strings.EqualFold(u.Host, rc.Host) {
		return false
	}
	return strings.EqualFold(u.Scheme, rc.Scheme) ||
		s.opts.BaseURL != nil && strings.EqualFold(u.Scheme, s.opts.BaseURL.Scheme)
}

// loadSession checks the session cookie, if any, and stores the principal
// or the reason it was refused. Routes decide whether they need one.
func (s *Server) loadSession(c *fiber.Ctx) error {
	token := c.Cookies(SessionCookie)
	if token == "" {
		return c.Next()
	}

	p, err := s.sessions.Authenticate(c.UserContext(), currentTenant(c).ID, token)
	if err != nil {
		c.Locals(keySessionErr, err)
		return c.Next()
	}
	c.Locals(keyPrincipal, &p)
	return c.Next()
}

// Principal returns the signed-in user of the request, or nil.
func Principal(c *fiber.Ctx) *accounts.Principal {
	p, _ := c.Locals(keyPrincipal).(*accounts.Principal)
	return p
}

// SessionError returns why the request's session cookie was refused, or nil.
func SessionError(c *fiber.Ctx) error {
	err, _ := c.Locals(keySessionErr).(error)
	return err
}

// errNotSignedIn rejects a protected request without a session cookie.
var errNotSignedIn = newError(fiber.StatusUnauthorized, "unauthenticated", "not signed in; sign in and send the session cookie")

// requireSession rejects requests without a valid session.
func (s *Server) requireSession(c *fiber.Ctx) error {
	if Principal(c) != nil {
		return c.Next()
	}
	if err := SessionError(c); err != nil {
		if !isServerError(err) {
			s.ClearSessionCookie(c)
		}
		return err
	}
	return errNotSignedIn
}

func isServerError(err error) bool { return toError(err).Status >= 500 }

// SetSessionCookie sends the session token as a host-only HttpOnly cookie.
func (s *Server) SetSessionCookie(c *fiber.Ctx, token string, session accounts.Session) {
	c.Cookie(&fiber.Cookie{
		Name:     SessionCookie,
		Value:    token,
		Path:     "/",
		Expires:  session.ExpiresAt,
		HTTPOnly: true,
		Secure:   s.opts.SecureCookies,
		SameSite: fiber.CookieSameSiteLaxMode,
	})
}

// ClearSessionCookie sends an expired session cookie, which deletes it in the browser.
func (s *Server) ClearSessionCookie(c *fiber.Ctx) {
	c.Cookie(&fiber.Cookie{
		Name:     SessionCookie,
		Value:    "",
		Path:     "/",
		Expires:  time.Unix(0, 0),
		MaxAge:   -1,
		HTTPOnly: true,
		Secure:   s.opts.SecureCookies,
		SameSite: fiber.CookieSameSiteLaxMode,
	})
}
