package api

import (
	_ "embed"

	"github.com/gofiber/fiber/v2"
)

// openAPIDocument is the OpenAPI 3.0.3 description of the JSON API.
// TestOpenAPIMatchesRoutes fails when a route and the document disagree.
//
//go:embed openapi.json
var openAPIDocument []byte

// openAPI serves the OpenAPI document. It is registered before tenant
// resolution, so it works on every host, including hosts that serve no tenant.
func (s *Server) openAPI(c *fiber.Ctx) error {
	c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSON)
	c.Set(fiber.HeaderCacheControl, "public, max-age=300")
	return c.Send(openAPIDocument)
}
