// Package web serves Enlace's server-rendered pages. Every form posts to a
// page handler that calls the same api.Server methods as the JSON API.
package web

import (
	"bytes"
	"embed"
	"errors"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/filesystem"

	"github.com/enlace-auth/enlace/accounts"
	"github.com/enlace-auth/enlace/api"
)

//go:embed templates/*.html
var templateFiles embed.FS

//go:embed static
var staticFiles embed.FS

// afterLogin is the landing page of a sign-in without a return path.
const afterLogin = "/settings/security"

// notices are the fixed messages a redirect may ask a page to show.
var notices = map[string]string{
	"password-changed": "Your password was saved. Other sessions were signed out.",
	"session-revoked":  "The session was signed out.",
	"linked":           "Your account is now linked to your identity provider.",
	"unlinked":         "Your account is no longer linked to your identity provider.",
	"2fa-enabled":      "Two-factor sign-in is on.",
	"2fa-disabled":     "Two-factor sign-in is off.",
	"signed-out":       "You are signed out.",
	"idp-saved":        "The identity provider settings were saved.",
	"idp-removed":      "The identity provider settings were removed. SSO sign-in is off.",
	"policy-saved":     "The sign-in policy was saved.",
}

// Pages renders and serves the HTML pages.
type Pages struct {
	log       *slog.Logger
	templates map[string]*template.Template
	server    *api.Server
}

// New parses the embedded templates.
func New(log *slog.Logger) *Pages {
	p := &Pages{log: log, templates: make(map[string]*template.Template)}
	for _, name := range []string{"login", "register", "security", "error", "login_2fa", "setup_2fa", "recovery_codes", "admin"} {
		p.templates[name] = template.Must(template.ParseFS(templateFiles, "templates/layout.html", "templates/"+name+".html"))
	}
	return p
}

// view is the data every template gets.
type view struct {
	Title      string
	TenantName string
	User       *accounts.User
	Error      string
	Notice     string
	Fields     map[string]string

	Email               string
	DisplayName         string
	ReturnTo            string
	RegistrationEnabled bool
	Message             string
	Sessions            []sessionView
	MoreSessions        bool
	OIDCEnabled         bool
	Identities          []accounts.Identity

	Secret        string
	QRCode        string
	Action        string
	Required      bool
	RecoveryCodes []string

	Admin *adminView
}

type sessionView struct {
	accounts.Session
	Current bool
}

// Mount registers the pages on the server's app.
func (p *Pages) Mount(server *api.Server) {
	p.server = server
	app := server.App()

	static, _ := fs.Sub(staticFiles, "static")
	app.Use("/static", filesystem.New(filesystem.Config{Root: http.FS(static), MaxAge: 3600}))

	app.Get("/", p.home)
	app.Get("/login", p.loginPage)
	app.Post("/login", p.loginSubmit)
	app.Get("/register", p.registerPage)
	app.Post("/register", p.registerSubmit)
	app.Post("/logout", p.logoutSubmit)
	app.Get("/settings/security", p.securityPage)
	app.Post("/settings/security/password", p.passwordSubmit)
	app.Post("/settings/security/sessions/:id/revoke", p.revokeSubmit)
	app.Post("/settings/security/oidc/unlink", p.unlinkSubmit)
	p.mountTwoFactor(app)
	p.mountAdmin(app)
}

// render writes a page with the given status.
func (p *Pages) render(c *fiber.Ctx, status int, name string, v view) error {
	if t := api.CurrentTenant(c); t != nil {
		v.TenantName = t.Name
	}
	if v.TenantName == "" {
		v.TenantName = "Enlace"
	}
	if v.Notice == "" {
		v.Notice = notices[c.Query("notice")]
	}
	if principal := api.Principal(c); v.User == nil && principal != nil {
		user := principal.User
		v.User = &user
	}

	var buf bytes.Buffer
	if err := p.templates[name].ExecuteTemplate(&buf, "layout", v); err != nil {
		return err
	}
	c.Set(fiber.HeaderCacheControl, "no-store")
	c.Type("html", "utf-8")
	return c.Status(status).Send(buf.Bytes())
}

// RenderError writes an error page; the API uses it for requests outside /api/.
func (p *Pages) RenderError(c *fiber.Ctx, status int, message string) error {
	title := http.StatusText(status)
	if title == "" {
		title = "Error"
	}
	return p.render(c, status, "error", view{Title: title, Message: message})
}

// formError shows err on the page it came from, with the status the API
// would return; server errors go to the error handler.
func (p *Pages) formError(c *fiber.Ctx, name string, v view, err error) error {
	var validation *accounts.ValidationError
	if errors.As(err, &validation) {
		v.Fields = validation.Fields
		v.Error = "Please correct the fields below."
		return p.render(c, fiber.StatusBadRequest, name, v)
	}

	e, ok := api.ClientError(err)
	if !ok {
		return err
	}
	if e.RetryAfter > 0 {
		c.Set(fiber.HeaderRetryAfter, api.RetryAfterSeconds(e.RetryAfter))
	}
	v.Error = e.Message
	return p.render(c, e.Status, name, v)
}

func (p *Pages) home(c *fiber.Ctx) error {
	if api.Principal(c) != nil {
		return c.Redirect(afterLogin, fiber.StatusSeeOther)
	}
	return c.Redirect("/login", fiber.StatusSeeOther)
}

func (p *Pages) loginPage(c *fiber.Ctx) error {
	if api.Principal(c) != nil {
		return c.Redirect(api.SafeReturnPath(c.Query("return_to"), afterLogin), fiber.StatusSeeOther)
	}
	return p.render(c, fiber.StatusOK, "login", view{
		Title:               "Sign in",
		Error:               shownError(c.Query("error")),
		ReturnTo:            api.SafeReturnPath(c.Query("return_to"), afterLogin),
		RegistrationEnabled: api.CurrentTenant(c).RegistrationEnabled,
		OIDCEnabled:         p.server.OIDCEnabled(c),
	})
}

func (p *Pages) loginSubmit(c *fiber.Ctx) error {
	v := view{
		Title:               "Sign in",
		Email:               c.FormValue("email"),
		ReturnTo:            api.SafeReturnPath(c.FormValue("return_to"), afterLogin),
		RegistrationEnabled: api.CurrentTenant(c).RegistrationEnabled,
		OIDCEnabled:         p.server.OIDCEnabled(c),
	}

	res, err := p.server.PasswordLogin(c, v.Email, c.FormValue("password"))
	if err != nil {
		return p.formError(c, "login", v, err)
	}
	return c.Redirect(afterPassword(res, v.ReturnTo), fiber.StatusSeeOther)
}

// shownError returns an ?error= message for display when Enlace could
// have produced it, and a generic line otherwise.
func shownError(msg string) string {
	if msg == "" || api.ShownErrorMessage(msg) {
		return msg
	}
	return "Sign-in failed; try again."
}

// afterPassword returns the page a correct password leads to: the code
// prompt, 2FA enrolment, or the page the user requested.
func afterPassword(res api.LoginResult, returnTo string) string {
	switch {
	case res.Requires2FA:
		return "/login/2fa?return_to=" + url.QueryEscape(returnTo)
	case res.Requires2FASet:
		return "/login/2fa/setup"
	}
	return returnTo
}

func (p *Pages) registerPage(c *fiber.Ctx) error {
	return p.render(c, fiber.StatusOK, "register", view{Title: "Create an account"})
}

func (p *Pages) registerSubmit(c *fiber.Ctx) error {
	in := accounts.RegisterInput{
		Email:       c.FormValue("email"),
		Password:    c.FormValue("password"),
		DisplayName: c.FormValue("display_name"),
	}
	v := view{Title: "Create an account", Email: in.Email, DisplayName: in.DisplayName}

	if _, err := p.server.Register(c, in); err != nil {
		return p.formError(c, "register", v, err)
	}
	res, err := p.server.PasswordLogin(c, in.Email, in.Password)
	if err != nil {
		return c.Redirect("/login?error="+url.QueryEscape(err.Error()), fiber.StatusSeeOther)
	}
	return c.Redirect(afterPassword(res, afterLogin), fiber.StatusSeeOther)
}

func (p *Pages) logoutSubmit(c *fiber.Ctx) error {
	if err := p.server.Logout(c); err != nil {
		return err
	}
	return c.Redirect("/login?notice=signed-out", fiber.StatusSeeOther)
}

// requireUser redirects to the sign-in page when the request has no session.
func requireUser(c *fiber.Ctx) (*accounts.Principal, error) {
	return requireUserFor(c, c.Path())
}

// requireUserFor redirects to the sign-in page, which returns to returnTo
// after sign-in, when the request has no session.
func requireUserFor(c *fiber.Ctx, returnTo string) (*accounts.Principal, error) {
	if p := api.Principal(c); p != nil {
		return p, nil
	}
	target := "/login?return_to=" + url.QueryEscape(returnTo)
	if err := api.SessionError(c); err != nil {
		target += "&error=" + url.QueryEscape(err.Error())
	}
	return nil, c.Redirect(target, fiber.StatusSeeOther)
}

func (p *Pages) securityPage(c *fiber.Ctx) error {
	principal, err := requireUser(c)
	if principal == nil {
		return err
	}
	return p.renderSecurity(c, fiber.StatusOK, view{Error: shownError(c.Query("error"))})
}

const listedSessions = 50

func (p *Pages) renderSecurity(c *fiber.Ctx, status int, v view) error {
	principal := api.Principal(c)
	page, err := p.server.Sessions().List(c.UserContext(), principal.User.TenantID, principal.User.ID, "", listedSessions)
	if err != nil {
		return err
	}

	identities, err := p.server.SSO().Identities(c.UserContext(), principal.User.TenantID, principal.User.ID)
	if err != nil {
		return err
	}
	user, err := p.server.Accounts().User(c.UserContext(), principal.User.TenantID, principal.User.ID)
	if err != nil {
		return err
	}

	v.Title = "Security"
	v.User = &user
	v.Identities = identities
	v.OIDCEnabled = p.server.OIDCEnabled(c)
	v.MoreSessions = page.NextCursor != ""
	for _, s := range page.Items {
		v.Sessions = append(v.Sessions, sessionView{Session: s, Current: s.ID == principal.Session.ID})
	}
	return p.render(c, status, "security", v)
}

func (p *Pages) passwordSubmit(c *fiber.Ctx) error {
	principal, err := requireUser(c)
	if principal == nil {
		return err
	}

	err = p.server.ChangePassword(c, c.FormValue("current_password"), c.FormValue("new_password"))
	if err == nil {
		return c.Redirect("/settings/security?notice=password-changed", fiber.StatusSeeOther)
	}

	var validation *accounts.ValidationError
	if errors.As(err, &validation) {
		return p.renderSecurity(c, fiber.StatusBadRequest, view{Fields: validation.Fields, Error: "The password was not changed."})
	}
	if e, ok := api.ClientError(err); ok {
		return p.renderSecurity(c, e.Status, view{Error: e.Message})
	}
	return err
}

func (p *Pages) revokeSubmit(c *fiber.Ctx) error {
	principal, err := requireUser(c)
	if principal == nil {
		return err
	}

	id := c.Params("id")
	if err := p.server.RevokeSession(c, id); err != nil {
		return err
	}
	if id == principal.Session.ID {
		return c.Redirect("/login?notice=signed-out", fiber.StatusSeeOther)
	}
	return c.Redirect("/settings/security?notice=session-revoked", fiber.StatusSeeOther)
}

func (p *Pages) unlinkSubmit(c *fiber.Ctx) error {
	principal, err := requireUser(c)
	if principal == nil {
		return err
	}

	err = p.server.SSO().Unlink(c.UserContext(), principal.User.TenantID, principal.User.ID, api.ClientInfo(c))
	if err != nil {
		if e, ok := api.ClientError(err); ok {
			return p.renderSecurity(c, e.Status, view{Error: e.Message})
		}
		return err
	}
	return c.Redirect("/settings/security?notice=unlinked", fiber.StatusSeeOther)
}
