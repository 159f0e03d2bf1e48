package web

import (
	"strings"
	"unicode"

	"github.com/gofiber/fiber/v2"

	"github.com/enlace-auth/enlace/api"
	"github.com/enlace-auth/enlace/audit"
	"github.com/enlace-auth/enlace/tenant"
)

const (
	adminPath = "/admin"
	// listedAuditEvents is the number of audit events on one page.
	listedAuditEvents = 50
)

// adminView is the data of the tenant admin page.
type adminView struct {
	// IdP and Policy are the values shown in the two forms: the stored
	// ones, or the submitted ones when a submission failed.
	IdP                *idpForm
	Policy             *policyForm
	IdPConfigured      bool
	IdPEnabled         bool
	ClientSecretSet    bool
	DefaultRedirectURL string
	Require2FAByServer bool

	// TestResult is the outcome of "Test connection", or nil.
	TestResult *api.IdPTestResult
	// SecretDropped is set when a test submission carried a client
	// secret, which the page does not send back to the browser.
	SecretDropped bool

	Audit       []audit.Event
	AuditCursor string
	AuditNext   string
}

// idpForm is the identity provider form without the client secret.
type idpForm struct {
	IssuerURL          string
	ClientID           string
	RedirectURL        string
	Scopes             string
	Enabled            bool
	InsecureTrustEmail bool
}

// policyForm is the sign-in policy form.
type policyForm struct {
	RegistrationEnabled bool
	Require2FA          bool
	AllowedEmailDomains string
}

// mountAdmin registers the tenant admin page and its forms.
func (p *Pages) mountAdmin(app *fiber.App) {
	app.Get(adminPath, p.adminPage)
	app.Post("/admin/oidc", p.adminSaveIdP)
	app.Post("/admin/oidc/test", p.adminTestIdP)
	app.Post("/admin/oidc/delete", p.adminRemoveIdP)
	app.Post("/admin/settings", p.adminSavePolicy)
}

// requireAdmin redirects a request without a session to the sign-in page
// and renders a 403 page for a user who is not an admin. It returns false
// when it has written the response.
func (p *Pages) requireAdmin(c *fiber.Ctx) (bool, error) {
	principal, err := requireUserFor(c, adminPath)
	if principal == nil {
		return false, err
	}
	if err := api.CheckAdmin(c); err != nil {
		return false, p.formErrorPage(c, err)
	}
	return true, nil
}

func (p *Pages) adminPage(c *fiber.Ctx) error {
	if ok, err := p.requireAdmin(c); !ok {
		return err
	}
	return p.renderAdmin(c, fiber.StatusOK, view{}, adminView{AuditCursor: c.Query("audit_cursor")})
}

func (p *Pages) adminSaveIdP(c *fiber.Ctx) error {
	if ok, err := p.requireAdmin(c); !ok {
		return err
	}

	form := idpFormFrom(c)
	settings := tenant.IdPSettings{
		Enabled:            form.Enabled,
		IssuerURL:          form.IssuerURL,
		ClientID:           form.ClientID,
		ClientSecret:       formValue(c, "client_secret"),
		RedirectURL:        form.RedirectURL,
		Scopes:             splitList(form.Scopes),
		InsecureTrustEmail: form.InsecureTrustEmail,
	}
	if err := p.server.SaveIdP(c, api.CurrentTenant(c), settings); err != nil {
		return p.adminError(c, adminView{IdP: &form}, err)
	}
	return c.Redirect(adminPath+"?notice=idp-saved", fiber.StatusSeeOther)
}

// adminTestIdP runs discovery for the issuer in the form, or the stored
// issuer when the field is empty, and shows the result without saving.
func (p *Pages) adminTestIdP(c *fiber.Ctx) error {
	if ok, err := p.requireAdmin(c); !ok {
		return err
	}

	form := idpFormFrom(c)
	a := adminView{IdP: &form, SecretDropped: c.FormValue("client_secret") != ""}
	result, err := p.server.DiscoverIdP(c, form.IssuerURL)
	if err != nil {
		return p.adminError(c, a, err)
	}
	a.TestResult = &result
	return p.renderAdmin(c, fiber.StatusOK, view{}, a)
}

func (p *Pages) adminRemoveIdP(c *fiber.Ctx) error {
	if ok, err := p.requireAdmin(c); !ok {
		return err
	}
	if err := p.server.DeleteIdP(c, api.CurrentTenant(c)); err != nil {
		return p.adminError(c, adminView{}, err)
	}
	return c.Redirect(adminPath+"?notice=idp-removed", fiber.StatusSeeOther)
}

func (p *Pages) adminSavePolicy(c *fiber.Ctx) error {
	if ok, err := p.requireAdmin(c); !ok {
		return err
	}

	form := policyForm{
		RegistrationEnabled: c.FormValue("registration_enabled") != "",
		Require2FA:          c.FormValue("require_2fa") != "",
		AllowedEmailDomains: formValue(c, "allowed_email_domains"),
	}
	domains := splitList(form.AllowedEmailDomains)
	_, err := p.server.UpdatePolicy(c, tenant.Update{
		RegistrationEnabled: &form.RegistrationEnabled,
		Require2FA:          &form.Require2FA,
		AllowedEmailDomains: &domains,
	})
	if err != nil {
		return p.adminError(c, adminView{Policy: &form}, err)
	}
	return c.Redirect(adminPath+"?notice=policy-saved", fiber.StatusSeeOther)
}

// adminError shows a client error on the admin page with the submitted
// form values in a; server errors go to the error handler.
func (p *Pages) adminError(c *fiber.Ctx, a adminView, err error) error {
	e, ok := api.ClientError(err)
	if !ok {
		return err
	}
	return p.renderAdmin(c, e.Status, view{Error: e.Message}, a)
}

// renderAdmin fills in the stored settings that a leaves empty and the
// audit page after a.AuditCursor, and writes the admin page.
func (p *Pages) renderAdmin(c *fiber.Ctx, status int, v view, a adminView) error {
	state, err := p.server.IdPState(c, api.CurrentTenant(c))
	if err != nil {
		return err
	}
	a.IdPConfigured = state.Configured
	a.IdPEnabled = state.Settings.Enabled
	a.ClientSecretSet = state.ClientSecretSet
	a.DefaultRedirectURL = state.DefaultRedirectURL
	if a.IdP == nil {
		a.IdP = storedIdPForm(state)
	}

	if a.Policy == nil {
		t, err := p.server.ReloadTenant(c)
		if err != nil {
			return err
		}
		a.Policy = &policyForm{
			RegistrationEnabled: t.RegistrationEnabled,
			Require2FA:          t.Require2FA,
			AllowedEmailDomains: strings.Join(t.AllowedEmailDomains, ", "),
		}
	}
	a.Require2FAByServer = p.server.ServerRequires2FA()

	// A malformed ?audit_cursor= shows its error and leaves the rest of
	// the page usable.
	page, err := p.server.AuditPage(c, a.AuditCursor, listedAuditEvents)
	if e, ok := api.ClientError(err); err != nil && ok {
		if v.Error == "" {
			v.Error = e.Message
			status = e.Status
		}
	} else if err != nil {
		return err
	}
	a.Audit = page.Items
	a.AuditNext = page.NextCursor

	v.Title = "Organisation settings"
	v.Admin = &a
	return p.render(c, status, "admin", v)
}

// storedIdPForm returns the form values of the stored settings. A tenant
// without settings gets Enabled checked, as PUT /api/v1/admin/oidc
// enables a provider when the request omits enabled.
func storedIdPForm(state api.IdPState) *idpForm {
	if !state.Configured {
		return &idpForm{Enabled: true}
	}
	s := state.Settings
	return &idpForm{
		IssuerURL:          s.IssuerURL,
		ClientID:           s.ClientID,
		RedirectURL:        s.RedirectURL,
		Scopes:             strings.Join(s.Scopes, " "),
		Enabled:            s.Enabled,
		InsecureTrustEmail: s.InsecureTrustEmail,
	}
}

// idpFormFrom reads the identity provider form of the request.
func idpFormFrom(c *fiber.Ctx) idpForm {
	return idpForm{
		IssuerURL:          formValue(c, "issuer_url"),
		ClientID:           formValue(c, "client_id"),
		RedirectURL:        formValue(c, "redirect_url"),
		Scopes:             formValue(c, "scopes"),
		Enabled:            c.FormValue("enabled") != "",
		InsecureTrustEmail: c.FormValue("insecure_trust_email") != "",
	}
}

// formValue returns a copy of a form field. Fiber's FormValue points into
// a buffer that the next request reuses, and these values can outlive the
// request, for example as the key of the discovery cache.
func formValue(c *fiber.Ctx, key string) string {
	return strings.Clone(c.FormValue(key))
}

// splitList splits a form field into its items, which commas or white
// space separate. It returns an empty, non-nil slice for an empty field.
func splitList(raw string) []string {
	items := strings.FieldsFunc(raw, func(r rune) bool { return r == ',' || unicode.IsSpace(r) })
	if items == nil {
		items = []string{}
	}
	return items
}
