package web

import (
	"net/url"

	"github.com/gofiber/fiber/v2"

	"github.com/enlace-auth/enlace/api"
)

// mountTwoFactor registers the 2FA pages.
func (p *Pages) mountTwoFactor(app *fiber.App) {
	app.Get("/login/2fa", p.twoFactorPage)
	app.Post("/login/2fa", p.twoFactorSubmit)
	app.Get("/login/2fa/setup", p.requiredSetupPage)
	app.Post("/login/2fa/setup", p.requiredSetupSubmit)
	app.Post("/settings/security/2fa/setup", p.settingsSetup)
	app.Post("/settings/security/2fa/confirm", p.settingsConfirm)
	app.Post("/settings/security/2fa/disable", p.settingsDisable)
	app.Post("/settings/security/2fa/recovery-codes", p.settingsRegenerate)
}

func (p *Pages) twoFactorPage(c *fiber.Ctx) error {
	return p.render(c, fiber.StatusOK, "login_2fa", view{Title: "Two-factor sign-in",
		ReturnTo: api.SafeReturnPath(c.Query("return_to"), afterLogin)})
}

func (p *Pages) twoFactorSubmit(c *fiber.Ctx) error {
	v := view{Title: "Two-factor sign-in", ReturnTo: api.SafeReturnPath(c.FormValue("return_to"), afterLogin)}
	if _, err := p.server.CompleteTwoFactor(c, c.FormValue("code"), c.FormValue("recovery_code")); err != nil {
		return p.formError(c, "login_2fa", v, err)
	}
	return c.Redirect(v.ReturnTo, fiber.StatusSeeOther)
}

// requiredSetupPage shows enrolment to a user whose password sign-in is
// waiting because the organisation requires 2FA.
func (p *Pages) requiredSetupPage(c *fiber.Ctx) error {
	su, ok := p.server.LoadSetupSubject(c)
	if !ok {
		return c.Redirect("/login?error="+url.QueryEscape(api.PasswordForSetupMessage), fiber.StatusSeeOther)
	}
	return p.renderSetup(c, su.UserID, "/login/2fa/setup", true)
}

func (p *Pages) renderSetup(c *fiber.Ctx, userID, action string, required bool) error {
	e, err := p.server.TwoFactor().Setup(c.UserContext(), api.CurrentTenant(c), userID)
	if err != nil {
		return p.formErrorPage(c, err)
	}
	return p.render(c, fiber.StatusOK, "setup_2fa", view{
		Title: "Set up two-factor sign-in", Secret: e.Secret, QRCode: e.QRCodePNG, Action: action, Required: required,
		Error: shownError(c.Query("error")),
	})
}

func (p *Pages) requiredSetupSubmit(c *fiber.Ctx) error {
	if _, ok := p.server.LoadSetupSubject(c); !ok {
		return c.Redirect("/login?error="+url.QueryEscape(api.PasswordForSetupMessage), fiber.StatusSeeOther)
	}
	return p.confirm(c, afterLogin, "/login/2fa/setup")
}

// confirm turns 2FA on with the submitted code and shows the recovery codes.
func (p *Pages) confirm(c *fiber.Ctx, next, retry string) error {
	codes, _, err := p.server.ConfirmTwoFactor(c, c.FormValue("code"))
	if err != nil {
		e, ok := api.ClientError(err)
		if !ok {
			return err
		}
		return c.Redirect(retry+"?error="+url.QueryEscape(e.Message), fiber.StatusSeeOther)
	}
	return p.render(c, fiber.StatusOK, "recovery_codes", view{Title: "Recovery codes", RecoveryCodes: codes, ReturnTo: next})
}

func (p *Pages) settingsSetup(c *fiber.Ctx) error {
	principal, err := requireUser(c)
	if principal == nil {
		return err
	}
	return p.renderSetup(c, principal.User.ID, "/settings/security/2fa/confirm", false)
}

func (p *Pages) settingsConfirm(c *fiber.Ctx) error {
	principal, err := requireUser(c)
	if principal == nil {
		return err
	}
	p.server.LoadSetupSubject(c)
	return p.confirm(c, "/settings/security?notice=2fa-enabled", "/settings/security")
}

func (p *Pages) settingsDisable(c *fiber.Ctx) error {
	principal, err := requireUser(c)
	if principal == nil {
		return err
	}
	if err := p.server.DisableTwoFactor(c, c.FormValue("password")); err != nil {
		return p.securityError(c, err)
	}
	return c.Redirect("/settings/security?notice=2fa-disabled", fiber.StatusSeeOther)
}

func (p *Pages) settingsRegenerate(c *fiber.Ctx) error {
	principal, err := requireUser(c)
	if principal == nil {
		return err
	}
	codes, err := p.server.RegenerateRecoveryCodes(c, c.FormValue("password"))
	if err != nil {
		return p.securityError(c, err)
	}
	return p.render(c, fiber.StatusOK, "recovery_codes", view{Title: "Recovery codes", RecoveryCodes: codes, ReturnTo: "/settings/security"})
}

// securityError shows a client error on the security page.
func (p *Pages) securityError(c *fiber.Ctx, err error) error {
	e, ok := api.ClientError(err)
	if !ok {
		return err
	}
	return p.renderSecurity(c, e.Status, view{Error: e.Message})
}

// formErrorPage shows a client error on the error page.
func (p *Pages) formErrorPage(c *fiber.Ctx, err error) error {
	e, ok := api.ClientError(err)
	if !ok {
		return err
	}
	return p.RenderError(c, e.Status, e.Message)
}
