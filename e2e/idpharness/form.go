package idpharness

import (
	"github.com/chromedp/chromedp"
)

// Selectors of oidc-provider's development login form, for tests that fill
// it in a browser. The form has no element ids: the text input is named
// "login", the password input "password", and the submit button has class
// "login-submit" and the text "Sign-in". Both inputs are required, so the
// browser submits the form only when each has a value.
const (
	LoginInput    = chromedp.CSS(`input[name="login"]`)
	PasswordInput = chromedp.CSS(`input[name="password"]`)
	SubmitButton  = chromedp.CSS(`button.login-submit`)
)

// SignIn returns browser steps that wait for the login form, enter login
// with a placeholder password (the provider ignores passwords), and submit
// the form. Run it in a tab that the authorization request has sent to the
// provider.
func SignIn(login string) chromedp.Action[chromedp.Void] {
	return chromedp.Steps(
		chromedp.WaitVisible(LoginInput),
		chromedp.SendKeys(LoginInput, login),
		chromedp.SendKeys(PasswordInput, "any password"),
		chromedp.Click(SubmitButton),
	)
}
