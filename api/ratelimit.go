package api

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/gofiber/fiber/v2"
)

// Counter is a fixed-window counter shared by all replicas.
type Counter interface {
	Incr(ctx context.Context, key string, window time.Duration) (int64, time.Duration, error)
	Delete(ctx context.Context, key string) error
}

// Rule allows Limit events per Window.
type Rule struct {
	Name   string
	Limit  int64
	Window time.Duration
}

// RateLimits are the rules the API enforces.
type RateLimits struct {
	// LoginPerIP counts every password sign-in attempt from one address.
	LoginPerIP Rule
	// LoginPerAccount counts sign-in attempts on one account; a successful
	// sign-in resets it, so in effect it limits consecutive failures.
	LoginPerAccount Rule
	// RegisterPerIP counts sign-ups from one address.
	RegisterPerIP Rule
	// OIDCStartPerIP counts SSO sign-in and link starts from one address.
	OIDCStartPerIP Rule
	// TwoFactorPerAccount counts 2FA codes tried for one account; a
	// correct code resets it, so in effect it limits consecutive failures.
	TwoFactorPerAccount Rule
	// TwoFactorPerIP counts 2FA attempts from one address.
	TwoFactorPerIP Rule
}

// DefaultRateLimits are the production limits.
func DefaultRateLimits() RateLimits {
	return RateLimits{
		LoginPerIP:      Rule{Name: "login_ip", Limit: 30, Window: time.Minute},
		LoginPerAccount: Rule{Name: "login_account", Limit: 10, Window: 15 * time.Minute},
		RegisterPerIP:   Rule{Name: "register_ip", Limit: 20, Window: time.Hour},
		OIDCStartPerIP:  Rule{Name: "oidc_start_ip", Limit: 60, Window: time.Minute},

		TwoFactorPerAccount: Rule{Name: "2fa_account", Limit: 5, Window: 5 * time.Minute},
		TwoFactorPerIP:      Rule{Name: "2fa_ip", Limit: 10, Window: 5 * time.Minute},
	}
}

// Limiter applies rules to keys scoped by tenant.
type Limiter struct {
	counter Counter
}

// NewLimiter returns a Limiter counting in counter.
func NewLimiter(counter Counter) *Limiter { return &Limiter{counter: counter} }

func ruleKey(rule Rule, tenantID, subject string) string {
	return "rl:" + rule.Name + ":" + tenantID + ":" + subject
}

// Hit counts one event and returns a 429 Error once the rule's limit is
// passed. The subject is hashed so that keys hold no email addresses.
func (l *Limiter) Hit(ctx context.Context, rule Rule, tenantID, subject string) error {
	if rule.Limit <= 0 {
		return nil
	}

	n, ttl, err := l.counter.Incr(ctx, ruleKey(rule, tenantID, hashSubject(subject)), rule.Window)
	if err != nil {
		return fmt.Errorf("rate limit %s: %w", rule.Name, err)
	}
	if n > rule.Limit {
		return &Error{
			Status:     fiber.StatusTooManyRequests,
			Code:       "rate_limited",
			Message:    "too many attempts; try again in " + humanDuration(ttl),
			RetryAfter: ttl,
		}
	}
	return nil
}

// Reset clears the count of a rule for subject.
func (l *Limiter) Reset(ctx context.Context, rule Rule, tenantID, subject string) error {
	return l.counter.Delete(ctx, ruleKey(rule, tenantID, hashSubject(subject)))
}

func hashSubject(subject string) string {
	sum := sha256.Sum256([]byte(subject))
	return hex.EncodeToString(sum[:16])
}

// Limiter returns the server's rate limiter, for the pages.
func (s *Server) Limiter() *Limiter { return s.limiter }

// Limits returns the configured rate limit rules.
func (s *Server) Limits() RateLimits { return s.opts.RateLimits }

// humanDuration rounds d up to whole seconds, or whole minutes from two
// minutes on.
func humanDuration(d time.Duration) string {
	seconds := int((d + time.Second - 1) / time.Second)
	if seconds < 120 {
		return fmt.Sprintf("%d seconds", seconds)
	}
	return fmt.Sprintf("%d minutes", (seconds+59)/60)
}
