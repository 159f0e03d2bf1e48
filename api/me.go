package api

import (
	"strconv"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/enlace-auth/enlace/audit"
)

func (s *Server) me(c *fiber.Ctx) error {
	c.Set(fiber.HeaderCacheControl, "no-store")
	return c.JSON(s.userJSON(c, Principal(c).User))
}

type updateMeRequest struct {
	DisplayName *string `json:"display_name"`
}

func (s *Server) updateMe(c *fiber.Ctx) error {
	var req updateMeRequest
	if err := bindJSON(c, &req); err != nil {
		return err
	}
	if req.DisplayName == nil {
		return newError(fiber.StatusBadRequest, "validation_failed", "invalid input: display_name: is required")
	}

	u, err := s.accounts.UpdateProfile(c.UserContext(), *Principal(c), *req.DisplayName, ClientInfo(c))
	if err != nil {
		return err
	}
	return c.JSON(s.userJSON(c, u))
}

type changePasswordRequest struct {
	CurrentPassword string `json:"current_password"`
	NewPassword     string `json:"new_password"`
}

func (s *Server) changePassword(c *fiber.Ctx) error {
	var req changePasswordRequest
	if err := bindJSON(c, &req); err != nil {
		return err
	}
	if err := s.ChangePassword(c, req.CurrentPassword, req.NewPassword); err != nil {
		return err
	}
	return c.SendStatus(fiber.StatusNoContent)
}

// ChangePassword sets the signed-in user's password under the per-account
// sign-in limit, because a wrong current password is a guess. Pages call it too.
func (s *Server) ChangePassword(c *fiber.Ctx, current, next string) error {
	ctx := c.UserContext()
	p := Principal(c)
	rule := s.opts.RateLimits.LoginPerAccount

	if err := s.limiter.Hit(ctx, rule, p.User.TenantID, "user:"+p.User.ID); err != nil {
		return err
	}
	if err := s.accounts.ChangePassword(ctx, *p, current, next, ClientInfo(c)); err != nil {
		return err
	}
	return s.limiter.Reset(ctx, rule, p.User.TenantID, "user:"+p.User.ID)
}

type sessionResponse struct {
	ID         string    `json:"id"`
	IP         string    `json:"ip"`
	UserAgent  string    `json:"user_agent"`
	CreatedAt  time.Time `json:"created_at"`
	LastSeenAt time.Time `json:"last_seen_at"`
	ExpiresAt  time.Time `json:"expires_at"`
	Current    bool      `json:"current"`
}

type listResponse[T any] struct {
	Items      []T    `json:"items"`
	NextCursor string `json:"next_cursor"`
}

const (
	defaultPageSize = 50
	maxPageSize     = 100
)

// pageSize reads the "limit" query parameter.
func pageSize(c *fiber.Ctx) (int, error) {
	raw := c.Query("limit")
	if raw == "" {
		return defaultPageSize, nil
	}
	n, err := strconv.Atoi(raw)
	if err != nil || n < 1 || n > maxPageSize {
		return 0, newError(fiber.StatusBadRequest, "invalid_limit", "limit %q must be a number from 1 to %d", raw, maxPageSize)
	}
	return n, nil
}

func (s *Server) listSessions(c *fiber.Ctx) error {
	limit, err := pageSize(c)
	if err != nil {
		return err
	}

	p := Principal(c)
	page, err := s.sessions.List(c.UserContext(), p.User.TenantID, p.User.ID, c.Query("cursor"), limit)
	if err != nil {
		return err
	}

	out := listResponse[sessionResponse]{Items: make([]sessionResponse, 0, len(page.Items)), NextCursor: page.NextCursor}
	for _, item := range page.Items {
		out.Items = append(out.Items, sessionResponse{
			ID:         item.ID,
			IP:         item.IP,
			UserAgent:  item.UserAgent,
			CreatedAt:  item.CreatedAt,
			LastSeenAt: item.LastSeenAt,
			ExpiresAt:  item.ExpiresAt,
			Current:    item.ID == p.Session.ID,
		})
	}
	c.Set(fiber.HeaderCacheControl, "no-store")
	return c.JSON(out)
}

func (s *Server) revokeSession(c *fiber.Ctx) error {
	if err := s.RevokeSession(c, c.Params("id")); err != nil {
		return err
	}
	return c.SendStatus(fiber.StatusNoContent)
}

// RevokeSession ends one of the signed-in user's sessions; ending the
// current one also clears the cookie. Pages call it too.
func (s *Server) RevokeSession(c *fiber.Ctx, id string) error {
	p := Principal(c)
	if err := s.sessions.Revoke(c.UserContext(), p.User.TenantID, p.User.ID, id); err != nil {
		return err
	}
	s.accounts.RecordSession(c.UserContext(), p.User.TenantID, p.User.ID, audit.TypeSessionRevoked, ClientInfo(c))
	if id == p.Session.ID {
		s.ClearSessionCookie(c)
	}
	return nil
}
