# Shortcuts; the README's commands work without make.
.PHONY: run test demo

run:
	go run ./cmd/enlace

test:
	go test -race -count=1 ./...

# Starts Enlace with a local OpenID provider so "Sign in with SSO" works.
demo:
	@test -d e2e/idp/node_modules || npm ci --prefix e2e/idp --no-audit --no-fund
	go run ./e2e/demo
