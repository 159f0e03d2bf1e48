// Package e2e drives Enlace's HTML pages in a headless Chromium.
package e2e

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/enlace-auth/enlace/internal/app"
	"github.com/enlace-auth/enlace/internal/testenv"
)

const (
	// backendTimeout bounds the browser's whole life for one backend.
	backendTimeout = 60 * time.Second
	// stepTimeout bounds one page step, so a hang names the step.
	stepTimeout = 15 * time.Second
)

// Fixed texts of the pages, from web/web.go and web/templates.
const (
	signedOutNotice       = "You are signed out."
	passwordChangedNotice = "Your password was saved. Other sessions were signed out."
	invalidCredentials    = "invalid credentials"
)

// input is a text to type into the form field with the HTML id.
type input struct {
	id    string
	value string
}

// pageAction performs one step in the tab and returns the HTTP response of
// the page that the step ends on.
type pageAction func(ctx context.Context) (*network.Response, error)

// open navigates to url.
func open(url string) pageAction {
	return func(ctx context.Context) (*network.Response, error) {
		return chromedp.Run(ctx, chromedp.NavigateResponse(url))
	}
}

// submit types the inputs into their fields, clicks the button with the HTML
// id button and waits until the page it leads to has loaded.
func submit(button string, inputs ...input) pageAction {
	return func(ctx context.Context) (*network.Response, error) {
		var actions []chromedp.Action[chromedp.Void]
		for _, in := range inputs {
			actions = append(actions, chromedp.SendKeys(chromedp.ID(in.id), in.value))
		}
		actions = append(actions, chromedp.Click(chromedp.ID(button)))
		return chromedp.RunResponse(ctx, actions...)
	}
}

// page is what a step checks on the page it ends on. Empty texts must be
// absent from the page.
type page struct {
	location string // path and query of the URL
	status   int64
	heading  string // text of the main h1
	notice   string // text of #notice
	error    string // text of #error
	user     string // email in the header, shown only when signed in
}

// pageTexts is the part of page read from the DOM.
type pageTexts struct {
	Heading string `json:"heading"`
	Notice  string `json:"notice"`
	Error   string `json:"error"`
	User    string `json:"user"`
	Body    string `json:"body"`
}

// readTextsScript returns the trimmed text of each element that
// pageTexts lists, or "" for a missing element.
const readTextsScript = `(() => {
	const text = (selector) => {
		const el = document.querySelector(selector);
		return el ? el.textContent.trim() : "";
	};
	return {
		heading: text("main h1"),
		notice: text("#notice"),
		error: text("#error"),
		user: text("header .who"),
		body: document.body ? document.body.innerText : "",
	};
})()`

// TestPages walks the sign-in pages in a real browser: register, sign out,
// sign in, change the password, then sign in with the new and the old one.
func TestPages(t *testing.T) {
	browser := chromiumPath(t)

	testenv.ForEachBackend(t, func(t *testing.T, b testenv.Backend) {
		srv := testenv.StartServer(t, b, nil, app.Options{})
		// BASE_URL names localhost, and the server compares the host of a
		// form's Origin with the request's Host, so the browser must use
		// the same name. The server listens on 127.0.0.1 only.
		base := "http://localhost:" + strconv.Itoa(srv.Port)
		ctx := startBrowser(t, browser, backendTimeout)

		const (
			name        = "Ada Lovelace"
			email       = "ada@example.com"
			oldPassword = "first-password-1"
			newPassword = "second-password-2"
		)
		signedOut := page{location: "/login?notice=signed-out", status: http.StatusOK, heading: "Sign in", notice: signedOutNotice}
		security := page{location: "/settings/security", status: http.StatusOK, heading: "Security", user: email}
		signOut := submit("logout")

		steps := []struct {
			name string
			do   pageAction
			want page
		}{
			{
				name: "open register",
				do:   open(base + "/register"),
				want: page{location: "/register", status: http.StatusOK, heading: "Create an account"},
			},
			{
				name: "register",
				do: submit("create-account",
					input{"display_name", name}, input{"email", email}, input{"password", oldPassword}),
				want: security,
			},
			{name: "sign out", do: signOut, want: signedOut},
			{
				name: "sign in",
				do:   submit("sign-in", input{"email", email}, input{"password", oldPassword}),
				want: security,
			},
			{
				name: "change password",
				do: submit("change-password",
					input{"current_password", oldPassword}, input{"new_password", newPassword}),
				want: page{location: "/settings/security?notice=password-changed", status: http.StatusOK,
					heading: "Security", notice: passwordChangedNotice, user: email},
			},
			{name: "sign out again", do: signOut, want: signedOut},
			{
				name: "new password",
				do:   submit("sign-in", input{"email", email}, input{"password", newPassword}),
				want: security,
			},
			{name: "sign out last", do: signOut, want: signedOut},
			{
				name: "old password",
				do:   submit("sign-in", input{"email", email}, input{"password", oldPassword}),
				want: page{location: "/login", status: http.StatusUnauthorized, heading: "Sign in", error: invalidCredentials},
			},
			{
				name: "still signed out",
				do:   open(base + "/settings/security"),
				want: page{location: "/login?return_to=%2Fsettings%2Fsecurity", status: http.StatusOK, heading: "Sign in"},
			},
		}

		for _, step := range steps {
			if !t.Run(step.name, func(t *testing.T) { runStep(t, ctx, base, step.do, step.want) }) {
				t.Fatalf("stopped after step %q failed, because each step starts on the page that the one before it reached", step.name)
			}
		}
	})
}

// runStep performs do and checks that the tab ends on the page want.
// tabCtx is the tab's context, without the step's timeout.
func runStep(t *testing.T, tabCtx context.Context, base string, do pageAction, want page) {
	ctx, cancel := context.WithTimeout(tabCtx, stepTimeout)
	defer cancel()

	resp, err := do(ctx)
	if tabCtx.Err() != nil {
		t.Fatalf("the browser's deadline of %v for this backend passed during the step: %v", backendTimeout, err)
	}
	if errors.Is(err, context.DeadlineExceeded) {
		logPage(t, tabCtx)
		t.Fatalf("step timed out after %v: an element id it uses is missing, or the page never finished loading", stepTimeout)
	}
	if err != nil {
		logPage(t, tabCtx)
		t.Fatalf("page action failed: %v", err)
	}
	location, texts, err := readPage(ctx)
	if err != nil {
		t.Fatal(err)
	}

	u, err := url.Parse(location)
	if err != nil {
		t.Fatalf("parse the URL %q: %v", location, err)
	}
	if got := u.Scheme + "://" + u.Host; got != base {
		t.Errorf("origin = %q, want %q", got, base)
	}
	if got := u.RequestURI(); got != want.location {
		t.Errorf("path and query = %q, want %q", got, want.location)
	}
	if resp == nil {
		t.Errorf("no HTTP response for %s; want status %d", location, want.status)
	} else if resp.Status != want.status {
		t.Errorf("HTTP status = %d, want %d", resp.Status, want.status)
	}
	if texts.Heading != want.heading {
		t.Errorf("heading = %q, want %q", texts.Heading, want.heading)
	}
	if texts.Notice != want.notice {
		t.Errorf("#notice text = %q, want %q", texts.Notice, want.notice)
	}
	if texts.Error != want.error {
		t.Errorf("#error text = %q, want %q", texts.Error, want.error)
	}
	if texts.User != want.user {
		t.Errorf("signed-in email in the header = %q, want %q", texts.User, want.user)
	}

	if t.Failed() {
		t.Logf("page text at %s:\n%s", location, texts.Body)
	}
}

// readPage returns the tab's URL and the texts that pageTexts lists.
func readPage(ctx context.Context) (string, pageTexts, error) {
	location, err := chromedp.Run(ctx, chromedp.Location())
	if err != nil {
		return "", pageTexts{}, fmt.Errorf("read the URL: %w", err)
	}
	texts, err := chromedp.Run(ctx, chromedp.Evaluate[pageTexts](readTextsScript))
	if err != nil {
		return location, pageTexts{}, fmt.Errorf("read the page texts at %s: %w", location, err)
	}
	return location, texts, nil
}

// logPage logs the URL and text of the page that a failed step left, if
// the browser still responds within 5 seconds.
func logPage(t *testing.T, tabCtx context.Context) {
	ctx, cancel := context.WithTimeout(tabCtx, 5*time.Second)
	defer cancel()

	location, texts, err := readPage(ctx)
	if err != nil {
		t.Logf("the page that the step left is unknown: %v", err)
		return
	}
	t.Logf("page text at %s:\n%s", location, texts.Body)
}
