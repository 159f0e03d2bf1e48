package tenant

import (
	"context"
	"fmt"
	"strings"
)

// Get returns a tenant by id.
func (s *Service) Get(ctx context.Context, id string) (Tenant, error) {
	return s.store.TenantByID(ctx, id)
}

// Page returns up to limit tenants ordered by slug, after afterSlug.
func (s *Service) Page(ctx context.Context, afterSlug string, limit int) ([]Tenant, error) {
	return s.store.ListTenantsPage(ctx, afterSlug, limit)
}

// Update is a partial change of a tenant's name and sign-in policy; nil
// fields stay as they are.
type Update struct {
	Name                *string
	RegistrationEnabled *bool
	Require2FA          *bool
	AllowedEmailDomains *[]string
}

// Apply validates u and stores the changed tenant.
func (s *Service) Apply(ctx context.Context, id string, u Update) (Tenant, error) {
	t, err := s.store.TenantByID(ctx, id)
	if err != nil {
		return Tenant{}, err
	}

	if u.Name != nil {
		name := strings.TrimSpace(*u.Name)
		if name == "" || len(name) > 100 {
			return Tenant{}, fmt.Errorf("%w: name must be 1 to 100 characters", ErrInvalid)
		}
		t.Name = name
	}
	if u.RegistrationEnabled != nil {
		t.RegistrationEnabled = *u.RegistrationEnabled
	}
	if u.Require2FA != nil {
		t.Require2FA = *u.Require2FA
	}
	if u.AllowedEmailDomains != nil {
		domains := make([]string, 0, len(*u.AllowedEmailDomains))
		for _, raw := range *u.AllowedEmailDomains {
			d, err := NormalizeDomain(raw)
			if err != nil {
				return Tenant{}, fmt.Errorf("%w: allowed email domain %q is not a domain name", ErrInvalid, raw)
			}
			domains = append(domains, d)
		}
		t.AllowedEmailDomains = domains
	}

	t.UpdatedAt = s.now().UTC()
	if err := s.store.UpdateTenant(ctx, t); err != nil {
		return Tenant{}, err
	}
	s.announce(ctx)
	return t, nil
}

// Delete removes a tenant and everything it owns.
func (s *Service) Delete(ctx context.Context, id string) error {
	if err := s.store.DeleteTenant(ctx, id); err != nil {
		return err
	}
	s.announce(ctx)
	return nil
}

// AddDomain normalises and adds a custom domain to a tenant.
func (s *Service) AddDomain(ctx context.Context, tenantID, raw string, primary bool) (Domain, error) {
	t, err := s.store.TenantByID(ctx, tenantID)
	if err != nil {
		return Domain{}, err
	}
	d, err := s.customDomain(raw, t.Slug)
	if err != nil {
		return Domain{}, err
	}
	existing, err := s.store.TenantDomains(ctx, tenantID)
	if err != nil {
		return Domain{}, err
	}

	dom := Domain{Domain: d, TenantID: tenantID, IsPrimary: primary || len(existing) == 0, CreatedAt: s.now().UTC()}
	if err := s.store.AddDomain(ctx, dom); err != nil {
		return Domain{}, err
	}
	s.announce(ctx)
	return dom, nil
}

// RemoveDomain removes a custom domain of a tenant.
func (s *Service) RemoveDomain(ctx context.Context, tenantID, raw string) error {
	domain, err := NormalizeDomain(raw)
	if err != nil {
		domain = NormalizeHost(raw)
	}
	if err := s.store.RemoveDomain(ctx, tenantID, domain); err != nil {
		return err
	}
	s.announce(ctx)
	return nil
}

// ReserveBaseDomain makes custom domains under base invalid: those host
// names belong to the tenants whose slugs they name.
func (s *Service) ReserveBaseDomain(base string) *Service {
	s.baseDomain = base
	return s
}

// customDomain normalises raw and checks that it is not a host under the
// tenant base domain, where a custom domain would take over another
// tenant's host. The tenant's own "<slug>.<base>" host is allowed.
func (s *Service) customDomain(raw, slug string) (string, error) {
	d, err := NormalizeDomain(raw)
	if err != nil {
		return "", err
	}
	if s.baseDomain != "" && d != slug+"."+s.baseDomain && (d == s.baseDomain || strings.HasSuffix(d, "."+s.baseDomain)) {
		return "", fmt.Errorf("%w: domain %q is under TENANT_BASE_DOMAIN %q, where each host belongs to the tenant of that slug; use a domain outside it",
			ErrInvalid, d, s.baseDomain)
	}
	return d, nil
}
