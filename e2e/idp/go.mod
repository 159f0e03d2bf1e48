// This file makes e2e/idp a module of its own that holds no Go code, so the
// main module's "./..." patterns skip this folder. The go command does not
// skip folders named node_modules, and an npm package there may ship .go
// files that would otherwise be built and vetted with Enlace.
module github.com/enlace-auth/enlace/e2e/idp

go 1.26
