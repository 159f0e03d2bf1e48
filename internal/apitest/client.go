// Package apitest holds helpers for tests that drive Enlace over HTTP.
package apitest

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// Response is a decoded HTTP response.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
	JSON   map[string]any
}

// Str returns a top-level string field of the JSON body.
func (r *Response) Str(key string) string {
	s, _ := r.JSON[key].(string)
	return s
}

// Request is one HTTP request to send.
type Request struct {
	Method string
	URL    string
	// Body is sent as is when it is a string or []byte, else as JSON.
	Body    any
	Host    string
	Headers map[string]string
}

// Do sends req with client and decodes a JSON body when there is one.
func Do(t testing.TB, client *http.Client, req Request) *Response {
	t.Helper()

	var body io.Reader
	contentType := "application/json"
	switch b := req.Body.(type) {
	case nil:
	case string:
		body = strings.NewReader(b)
	case []byte:
		body = bytes.NewReader(b)
	default:
		raw, err := json.Marshal(b)
		if err != nil {
			t.Fatalf("encode body: %v", err)
		}
		body = bytes.NewReader(raw)
	}

	httpReq, err := http.NewRequest(req.Method, req.URL, body)
	if err != nil {
		t.Fatalf("new request: %v", err)
	}
	if body != nil {
		httpReq.Header.Set("Content-Type", contentType)
	}
	for k, v := range req.Headers {
		httpReq.Header.Set(k, v)
	}
	if req.Host != "" {
		httpReq.Host = req.Host
	}

	resp, err := client.Do(httpReq)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read body: %v", err)
	}

	out := &Response{Status: resp.StatusCode, Header: resp.Header, Body: raw}
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") && len(raw) > 0 {
		if err := json.Unmarshal(raw, &out.JSON); err != nil {
			t.Fatalf("%s %s: decode JSON %q: %v", req.Method, req.URL, raw, err)
		}
	}
	return out
}

// Clock is a settable clock for app.Options.Now.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// NewClock returns a Clock set to start.
func NewClock(start time.Time) *Clock { return &Clock{now: start} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}
