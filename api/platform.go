package api

import (
	"errors"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/enlace-auth/enlace/platform"
	"github.com/enlace-auth/enlace/tenant"
)

// platformRoutes are the platform operators' API: tenants, their domains
// and identity providers. They need a platform bearer token and no tenant.
func (s *Server) platformRoutes() {
	p := s.app.Group("/api/v1/platform", s.requirePlatform)
	p.Get("/tenants", s.listTenants)
	p.Post("/tenants", s.createTenant)
	p.Get("/tenants/:id", s.getTenant)
	p.Patch("/tenants/:id", s.patchTenant)
	p.Delete("/tenants/:id", s.deleteTenant)
	p.Get("/tenants/:id/domains", s.listDomains)
	p.Post("/tenants/:id/domains", s.addDomain)
	p.Delete("/tenants/:id/domains/:domain", s.removeDomain)
	p.Get("/tenants/:id/oidc", s.platformGetIdP)
	p.Put("/tenants/:id/oidc", s.platformPutIdP)
	p.Delete("/tenants/:id/oidc", s.platformDeleteIdP)
}

// requirePlatform checks the bearer platform token.
func (s *Server) requirePlatform(c *fiber.Ctx) error {
	name, err := s.platform.Authenticate(c.UserContext(), c.Get(fiber.HeaderAuthorization))
	if errors.Is(err, platform.ErrUnauthorized) {
		c.Set(fiber.HeaderWWWAuthenticate, `Bearer realm="enlace-platform"`)
		return newError(fiber.StatusUnauthorized, "platform_unauthorized", "%s", err.Error())
	}
	if err != nil {
		return err
	}
	c.Locals(keyPlatformToken, name)
	return c.Next()
}

type domainJSON struct {
	Domain  string `json:"domain"`
	Primary bool   `json:"primary"`
}

type settingsJSON struct {
	RegistrationEnabled bool     `json:"registration_enabled"`
	Require2FA          bool     `json:"require_2fa"`
	AllowedEmailDomains []string `json:"allowed_email_domains"`
}

type tenantJSON struct {
	ID        string       `json:"id"`
	Slug      string       `json:"slug"`
	Name      string       `json:"name"`
	Domains   []domainJSON `json:"domains"`
	Settings  settingsJSON `json:"settings"`
	CreatedAt time.Time    `json:"created_at"`
	UpdatedAt time.Time    `json:"updated_at"`
}

func settingsOf(t tenant.Tenant) settingsJSON {
	domains := t.AllowedEmailDomains
	if domains == nil {
		domains = []string{}
	}
	return settingsJSON{RegistrationEnabled: t.RegistrationEnabled, Require2FA: t.Require2FA, AllowedEmailDomains: domains}
}

func (s *Server) tenantJSON(c *fiber.Ctx, t tenant.Tenant) (tenantJSON, error) {
	domains, err := s.tenantAdmin.Domains(c.UserContext(), t.ID)
	if err != nil {
		return tenantJSON{}, err
	}
	out := tenantJSON{ID: t.ID, Slug: t.Slug, Name: t.Name, Domains: make([]domainJSON, 0, len(domains)),
		Settings: settingsOf(t), CreatedAt: t.CreatedAt, UpdatedAt: t.UpdatedAt}
	for _, d := range domains {
		out.Domains = append(out.Domains, domainJSON{Domain: d.Domain, Primary: d.IsPrimary})
	}
	return out, nil
}

// pathTenant loads the tenant named by the :id path parameter.
func (s *Server) pathTenant(c *fiber.Ctx) (tenant.Tenant, error) {
	id, ok := canonicalUUID(c.Params("id"))
	if !ok {
		return tenant.Tenant{}, errTenantNotFound
	}
	t, err := s.tenantAdmin.Get(c.UserContext(), id)
	if err != nil {
		return tenant.Tenant{}, notFoundAs(err, errTenantNotFound)
	}
	return t, nil
}

var errTenantNotFound = newError(fiber.StatusNotFound, "tenant_not_found", "tenant not found; list tenants with GET /api/v1/platform/tenants")

func (s *Server) listTenants(c *fiber.Ctx) error {
	limit, err := pageSize(c)
	if err != nil {
		return err
	}
	after := ""
	if cursor := c.Query("cursor"); cursor != "" {
		if after, err = decodeSlugCursor(cursor); err != nil {
			return err
		}
	}

	page, err := s.tenantAdmin.Page(c.UserContext(), after, limit+1)
	if err != nil {
		return err
	}
	out := listResponse[tenantJSON]{Items: make([]tenantJSON, 0, len(page))}
	if len(page) > limit {
		page = page[:limit]
		out.NextCursor = encodeSlugCursor(page[limit-1].Slug)
	}
	for _, t := range page {
		j, err := s.tenantJSON(c, t)
		if err != nil {
			return err
		}
		out.Items = append(out.Items, j)
	}
	return c.JSON(out)
}

type createTenantRequest struct {
	Slug    string   `json:"slug"`
	Name    string   `json:"name"`
	Domains []string `json:"domains"`
}

func (s *Server) createTenant(c *fiber.Ctx) error {
	var req createTenantRequest
	if err := bindJSON(c, &req); err != nil {
		return err
	}
	t, err := s.tenantAdmin.Create(c.UserContext(), tenant.CreateInput{Slug: req.Slug, Name: req.Name, Domains: req.Domains})
	if err != nil {
		return err
	}
	s.recordSettings(c, t.ID, "tenant.created", map[string]string{"slug": t.Slug})
	j, err := s.tenantJSON(c, t)
	if err != nil {
		return err
	}
	return c.Status(fiber.StatusCreated).JSON(j)
}

func (s *Server) getTenant(c *fiber.Ctx) error {
	t, err := s.pathTenant(c)
	if err != nil {
		return err
	}
	j, err := s.tenantJSON(c, t)
	if err != nil {
		return err
	}
	return c.JSON(j)
}

type patchTenantRequest struct {
	Name                *string   `json:"name"`
	RegistrationEnabled *bool     `json:"registration_enabled"`
	Require2FA          *bool     `json:"require_2fa"`
	AllowedEmailDomains *[]string `json:"allowed_email_domains"`
}

func (r patchTenantRequest) update() tenant.Update {
	return tenant.Update{Name: r.Name, RegistrationEnabled: r.RegistrationEnabled, Require2FA: r.Require2FA, AllowedEmailDomains: r.AllowedEmailDomains}
}

func (s *Server) patchTenant(c *fiber.Ctx) error {
	t, err := s.pathTenant(c)
	if err != nil {
		return err
	}
	var req patchTenantRequest
	if err := bindJSON(c, &req); err != nil {
		return err
	}
	updated, err := s.tenantAdmin.Apply(c.UserContext(), t.ID, req.update())
	if err != nil {
		return err
	}
	s.recordSettings(c, t.ID, "tenant.updated", nil)
	j, err := s.tenantJSON(c, updated)
	if err != nil {
		return err
	}
	return c.JSON(j)
}

func (s *Server) deleteTenant(c *fiber.Ctx) error {
	t, err := s.pathTenant(c)
	if err != nil {
		return err
	}
	if t.Slug == tenant.DefaultSlug {
		return newError(fiber.StatusBadRequest, "default_tenant", "the built-in default tenant cannot be deleted")
	}
	if err := s.tenantAdmin.Delete(c.UserContext(), t.ID); err != nil {
		return err
	}
	return c.SendStatus(fiber.StatusNoContent)
}

func (s *Server) listDomains(c *fiber.Ctx) error {
	t, err := s.pathTenant(c)
	if err != nil {
		return err
	}
	j, err := s.tenantJSON(c, t)
	if err != nil {
		return err
	}
	return c.JSON(listResponse[domainJSON]{Items: j.Domains})
}

type addDomainRequest struct {
	Domain  string `json:"domain"`
	Primary bool   `json:"primary"`
}

func (s *Server) addDomain(c *fiber.Ctx) error {
	t, err := s.pathTenant(c)
	if err != nil {
		return err
	}
	var req addDomainRequest
	if err := bindJSON(c, &req); err != nil {
		return err
	}
	d, err := s.tenantAdmin.AddDomain(c.UserContext(), t.ID, req.Domain, req.Primary)
	if err != nil {
		return err
	}
	s.recordSettings(c, t.ID, "domain.added", map[string]string{"domain": d.Domain})
	return c.Status(fiber.StatusCreated).JSON(domainJSON{Domain: d.Domain, Primary: d.IsPrimary})
}

func (s *Server) removeDomain(c *fiber.Ctx) error {
	t, err := s.pathTenant(c)
	if err != nil {
		return err
	}
	if err := s.tenantAdmin.RemoveDomain(c.UserContext(), t.ID, c.Params("domain")); err != nil {
		return notFoundAs(err, newError(fiber.StatusNotFound, "domain_not_found", "domain %q does not belong to this tenant", c.Params("domain")))
	}
	s.recordSettings(c, t.ID, "domain.removed", map[string]string{"domain": c.Params("domain")})
	return c.SendStatus(fiber.StatusNoContent)
}

func (s *Server) platformGetIdP(c *fiber.Ctx) error {
	t, err := s.pathTenant(c)
	if err != nil {
		return err
	}
	return s.respondIdP(c, &t)
}

func (s *Server) platformPutIdP(c *fiber.Ctx) error {
	t, err := s.pathTenant(c)
	if err != nil {
		return err
	}
	return s.putIdP(c, &t)
}

func (s *Server) platformDeleteIdP(c *fiber.Ctx) error {
	t, err := s.pathTenant(c)
	if err != nil {
		return err
	}
	return s.deleteIdP(c, &t)
}
