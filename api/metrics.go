package api

import (
	"fmt"
	"runtime"
	"strings"
	"sync/atomic"

	"github.com/gofiber/fiber/v2"
)

// requestCounts counts completed requests by status class, 1xx to 5xx.
type requestCounts [6]atomic.Int64

func (r *requestCounts) add(status int) {
	if class := status / 100; class >= 1 && class <= 5 {
		r[class].Add(1)
	}
}

// cacheStats is implemented by the tenant resolver.
type cacheStats interface {
	Loads() int64
	CachedHosts() int
}

// metrics writes counters and gauges in the Prometheus text format. It
// contains counts only, never ids or hosts, so it is safe on the public
// port. Operators may still restrict it at the proxy.
func (s *Server) metrics(c *fiber.Ctx) error {
	var b strings.Builder
	write := func(name, kind, help string, lines ...string) {
		fmt.Fprintf(&b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, kind)
		for _, l := range lines {
			b.WriteString(name + l + "\n")
		}
	}

	classes := make([]string, 0, 5)
	for class := 1; class <= 5; class++ {
		classes = append(classes, fmt.Sprintf(`{class="%dxx"} %d`, class, s.requests[class].Load()))
	}
	write("enlace_http_requests_total", "counter", "HTTP requests answered, by status class.", classes...)

	if stats, ok := s.tenants.(cacheStats); ok {
		write("enlace_tenant_cache_hosts", "gauge", "Hosts held in this process's tenant cache.", fmt.Sprintf(" %d", stats.CachedHosts()))
		write("enlace_tenant_lookups_total", "counter", "Host look-ups that reached the database.", fmt.Sprintf(" %d", stats.Loads()))
	}
	write("enlace_session_cache_entries", "gauge", "Sessions held in this process's session cache.", fmt.Sprintf(" %d", s.sessions.CachedSessions()))
	write("go_goroutines", "gauge", "Goroutines that currently exist.", fmt.Sprintf(" %d", runtime.NumGoroutine()))

	c.Set(fiber.HeaderContentType, "text/plain; version=0.0.4; charset=utf-8")
	c.Set(fiber.HeaderCacheControl, "no-store")
	return c.SendString(b.String())
}
