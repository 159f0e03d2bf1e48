package tenant

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
)

// Publisher broadcasts cache invalidations to every replica.
type Publisher interface {
	Publish(ctx context.Context, channel, message string) error
}

// InvalidationChannel carries tenant change notices between replicas.
const InvalidationChannel = "tenants"

// Service creates and reads tenants.
type Service struct {
	store      Store
	bus        Publisher
	now        func() time.Time
	baseDomain string
}

// NewService returns a Service over store that announces changes on bus.
func NewService(store Store, bus Publisher, now func() time.Time) *Service {
	return &Service{store: store, bus: bus, now: now}
}

// CreateInput is the input of a new tenant. The first domain becomes primary.
type CreateInput struct {
	Slug    string
	Name    string
	Domains []string
}

// Create validates in and stores a new tenant with its domains.
func (s *Service) Create(ctx context.Context, in CreateInput) (Tenant, error) {
	slug := strings.TrimSpace(in.Slug)
	if err := ValidateSlug(slug); err != nil {
		return Tenant{}, err
	}

	name := strings.TrimSpace(in.Name)
	if name == "" {
		name = slug
	}
	if len(name) > 100 {
		return Tenant{}, fmt.Errorf("%w: name is %d characters long; use at most 100", ErrInvalid, len(name))
	}

	now := s.now().UTC()
	t := Tenant{
		ID:                  uuid.NewString(),
		Slug:                slug,
		Name:                name,
		RegistrationEnabled: true,
		CreatedAt:           now,
		UpdatedAt:           now,
	}

	domains := make([]Domain, 0, len(in.Domains))
	seen := make(map[string]bool)
	for i, raw := range in.Domains {
		d, err := s.customDomain(raw, slug)
		if err != nil {
			return Tenant{}, err
		}
		if seen[d] {
			return Tenant{}, fmt.Errorf("%w: domain %q is listed twice", ErrInvalid, d)
		}
		seen[d] = true
		domains = append(domains, Domain{Domain: d, TenantID: t.ID, IsPrimary: i == 0, CreatedAt: now})
	}

	if err := s.store.CreateTenant(ctx, t, domains); err != nil {
		return Tenant{}, fmt.Errorf("create tenant %q: %w", slug, err)
	}
	s.announce(ctx)
	return t, nil
}

// EnsureDefault returns the built-in default tenant, creating it on first start.
func (s *Service) EnsureDefault(ctx context.Context) (Tenant, error) {
	now := s.now().UTC()
	t, err := s.store.EnsureTenant(ctx, Tenant{
		ID:                  uuid.NewString(),
		Slug:                DefaultSlug,
		Name:                "Enlace",
		RegistrationEnabled: true,
		CreatedAt:           now,
		UpdatedAt:           now,
	})
	if err != nil {
		return Tenant{}, fmt.Errorf("ensure default tenant: %w", err)
	}
	return t, nil
}

// List returns every tenant ordered by slug.
func (s *Service) List(ctx context.Context) ([]Tenant, error) {
	return s.store.ListTenants(ctx)
}

// Domains returns the custom domains of a tenant.
func (s *Service) Domains(ctx context.Context, tenantID string) ([]Domain, error) {
	return s.store.TenantDomains(ctx, tenantID)
}

// announce publishes a notice that makes every replica drop its cached tenants. A failure is not
// fatal: resolver entries also expire on their own.
func (s *Service) announce(ctx context.Context) {
	if s.bus == nil {
		return
	}
	_ = s.bus.Publish(ctx, InvalidationChannel, "*")
}
