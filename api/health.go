package api

import (
	"context"
	"time"

	"github.com/gofiber/fiber/v2"
)

func (s *Server) healthz(c *fiber.Ctx) error {
	return c.JSON(fiber.Map{"status": "ok"})
}

// readyz checks every dependency and returns 503 naming those that failed.
func (s *Server) readyz(c *fiber.Ctx) error {
	ctx, cancel := context.WithTimeout(c.UserContext(), 2*time.Second)
	defer cancel()

	checks := make(map[string]string, len(s.opts.Readiness))
	ready := true
	for _, ch := range s.opts.Readiness {
		if err := ch.Check(ctx); err != nil {
			s.log.WarnContext(ctx, "readiness check failed", "check", ch.Name, "error", err)
			checks[ch.Name] = "unreachable"
			ready = false
			continue
		}
		checks[ch.Name] = "ok"
	}

	c.Set(fiber.HeaderCacheControl, "no-store")
	if !ready {
		return c.Status(fiber.StatusServiceUnavailable).JSON(fiber.Map{"status": "unavailable", "checks": checks})
	}
	return c.JSON(fiber.Map{"status": "ok", "checks": checks})
}
