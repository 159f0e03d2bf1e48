// OpenID provider for Enlace's end-to-end tests, built on oidc-provider with
// its development login form (devInteractions).
//
// Usage: node server.mjs CONFIG.json [--exit-on-stdin-eof]
//
// CONFIG.json:
//   {"port": N, "issuer": "http://127.0.0.1:N",
//    "clients": [{"client_id", "client_secret", "redirect_uris": [...],
//                 "token_endpoint_auth_method"?, "post_logout_redirect_uris"?}],
//    "accounts": {"<login>": {"sub", "claims"?: {...}, "userinfo"?: {...}}}}
//
// The server listens on 127.0.0.1 only and prints "ready <issuer>" on stdout
// once it accepts connections. It exits on SIGTERM or SIGINT and, with
// --exit-on-stdin-eof, when its standard input closes, so it does not outlive
// a test process that dies without stopping it.

import { generateKeyPairSync, randomBytes, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import process from 'node:process';

// NOTE: oidc-provider 9 supports Node.js 22 LTS and later, and on Node.js 20
// it prints "Unsupported runtime" at start. The flows that e2e/idpharness
// tests (code flow with PKCE, userinfo, the login form) pass on Node.js
// 20.20.2; other provider features are untested there.
import Provider from 'oidc-provider';

const LISTEN_HOST = '127.0.0.1';

// The route where the browser returns from the login form to finish the
// authorization request: oidc-provider's authorization path plus the
// interaction id.
const RESUME_PATH = /^\/auth\/([^/]+)$/;

const SCOPES = ['openid', 'email', 'profile'];

const CLAIMS = {
  openid: ['sub'],
  email: ['email', 'email_verified'],
  profile: ['name'],
};

// Each oidc-provider HTML page imports a web font from fonts.googleapis.com,
// which would send the test browser to an outside host.
const OUTSIDE_FONT_IMPORT = /@import url\(https:\/\/fonts\.googleapis\.com[^)]*\);?/g;

// Keeps the browser on this server for everything but navigations and form
// posts, which CSP's default-src does not cover, so the redirect back to the
// relying party still works. Inline scripts stay allowed because the
// provider's form_post and logout pages submit themselves with one.
const CONTENT_SECURITY_POLICY = "default-src 'self'; script-src 'unsafe-inline'; "
  + "style-src 'unsafe-inline'; img-src 'self' data:";

function fail(message) {
  process.stderr.write(`idp: ${message}\n`);
  process.exit(2);
}

function isObject(value) {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isLoopbackHost(hostname) {
  return hostname === 'localhost' || hostname === '[::1]' || /^127\.\d+\.\d+\.\d+$/.test(hostname);
}

function readConfig(path) {
  let config;
  try {
    config = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    fail(`read config ${path}: ${err.message}`);
  }
  if (!isObject(config)) {
    fail(`config ${path}: expected a JSON object`);
  }

  if (!Number.isInteger(config.port) || config.port < 1 || config.port > 65535) {
    fail(`config ${path}: "port" must be an integer from 1 to 65535, got ${JSON.stringify(config.port)}`);
  }
  if (typeof config.issuer !== 'string' || !URL.canParse(config.issuer)) {
    fail(`config ${path}: "issuer" must be an absolute URL, got ${JSON.stringify(config.issuer)}`);
  }
  if (!Array.isArray(config.clients) || config.clients.length === 0) {
    fail(`config ${path}: "clients" must be a non-empty array`);
  }
  for (const [i, client] of config.clients.entries()) {
    if (typeof client.client_id !== 'string' || client.client_id === '') {
      fail(`config ${path}: clients[${i}].client_id is missing`);
    }
    if (typeof client.client_secret !== 'string' || client.client_secret === '') {
      fail(`config ${path}: clients[${i}].client_secret is missing`);
    }
    if (!Array.isArray(client.redirect_uris) || client.redirect_uris.length === 0) {
      fail(`config ${path}: clients[${i}].redirect_uris must be a non-empty array`);
    }
  }
  if (!isObject(config.accounts)) {
    fail(`config ${path}: "accounts" must be an object keyed by login name`);
  }
  const subjects = new Map();
  for (const [login, account] of Object.entries(config.accounts)) {
    if (!isObject(account) || typeof account.sub !== 'string' || account.sub === '') {
      fail(`config ${path}: accounts[${JSON.stringify(login)}].sub is missing`);
    }
    if (subjects.has(account.sub)) {
      fail(`config ${path}: accounts[${JSON.stringify(login)}].sub ${JSON.stringify(account.sub)} is also the sub of accounts[${JSON.stringify(subjects.get(account.sub))}]`);
    }
    subjects.set(account.sub, login);
    for (const field of ['claims', 'userinfo']) {
      if (account[field] !== undefined && !isObject(account[field])) {
        fail(`config ${path}: accounts[${JSON.stringify(login)}].${field} must be an object`);
      }
    }
  }
  return config;
}

// Converts a configured client into oidc-provider client metadata.
function clientMetadata(client) {
  const metadata = {
    client_id: client.client_id,
    client_secret: client.client_secret,
    redirect_uris: client.redirect_uris,
    response_types: ['code'],
    grant_types: ['authorization_code'],
    token_endpoint_auth_method: client.token_endpoint_auth_method ?? 'client_secret_basic',
  };
  if (client.post_logout_redirect_uris !== undefined) {
    metadata.post_logout_redirect_uris = client.post_logout_redirect_uris;
  }
  return metadata;
}

// Returns the account whose subject is sub, or undefined when there is
// none. oidc-provider calls this with the account id of the session or the
// token, which the resume middleware in buildProvider sets to the subject.
function findAccount(accountsBySubject, sub) {
  const account = accountsBySubject.get(sub);
  if (account === undefined) {
    return undefined;
  }
  return {
    accountId: sub,
    // The provider filters the result by the granted scopes and claims.
    // Claims listed only under "userinfo" reach the userinfo response but
    // not the ID token.
    async claims(use) {
      const claims = { ...account.claims };
      if (use === 'userinfo') {
        Object.assign(claims, account.userinfo);
      }
      claims.sub = sub;
      return claims;
    },
  };
}

// Grants every scope and claim in the authorization request, so
// the login form is the only page the user sees.
async function loadExistingGrant(ctx) {
  const { oidc } = ctx;
  const grantId = oidc.result?.consent?.grantId || oidc.session.grantIdFor(oidc.client.clientId);

  let grant = grantId ? await oidc.provider.Grant.find(grantId) : undefined;
  if (!grant) {
    grant = new oidc.provider.Grant({
      accountId: oidc.session.accountId,
      clientId: oidc.client.clientId,
    });
  }

  grant.addOIDCScope([...oidc.requestParamOIDCScopes].join(' '));
  const claims = [...oidc.requestParamClaims];
  if (claims.length > 0) {
    grant.addOIDCClaims(claims);
  }
  await grant.save();
  return grant;
}

// Rejects every outgoing request that is not for a loopback address. The
// provider fetches only for client metadata and features that this server
// does not use (a client's jwks_uri or sector_identifier_uri, request
// objects by reference), so this is a guard, not a path the tests use.
async function loopbackFetch(url, options) {
  const { hostname } = new URL(url);
  if (!isLoopbackHost(hostname)) {
    throw new Error(`outgoing request to ${hostname} rejected: this test server reaches loopback addresses only`);
  }
  return globalThis.fetch(url, options);
}

// Generates a fresh RS256 signing key, the ID token algorithm that clients get
// by default, so no key is stored in the repository.
function signingKey() {
  const begin = performance.now();
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  process.stderr.write(`idp: signing key generated in ${Math.round(performance.now() - begin)} ms\n`);
  return {
    ...privateKey.export({ format: 'jwk' }), kid: randomUUID(), use: 'sig', alg: 'RS256',
  };
}

function buildProvider(config) {
  const accountsBySubject = new Map(Object.values(config.accounts).map((account) => [account.sub, account]));
  const provider = new Provider(config.issuer, {
    clients: config.clients.map(clientMetadata),
    findAccount: (ctx, sub) => findAccount(accountsBySubject, sub),
    loadExistingGrant,
    jwks: { keys: [signingKey()] },
    cookies: { keys: [randomBytes(32).toString('base64url')] },
    scopes: SCOPES,
    claims: CLAIMS,
    conformIdTokenClaims: false,
    responseTypes: ['code'],
    clientAuthMethods: ['client_secret_basic', 'client_secret_post'],
    // oidc-provider 9 requires PKCE only for public clients by default. These
    // clients are confidential, so this makes PKCE mandatory for them too.
    // S256 is the only method that version accepts.
    pkce: { required: () => true },
    features: {
      devInteractions: { enabled: true },
      userinfo: { enabled: true },
    },
    // oidc-provider 9's default lifetimes in seconds, given as numbers so the
    // provider does not print a notice the first time it uses each one.
    ttl: {
      AccessToken: 60 * 60,
      AuthorizationCode: 60,
      IdToken: 60 * 60,
      Interaction: 60 * 60,
      Session: 14 * 24 * 60 * 60,
      Grant: 14 * 24 * 60 * 60,
    },
    fetch: loopbackFetch,
  });

  // The development login form accepts any name and hands it to the
  // provider as the account id. oidc-provider uses the account id as the
  // "sub" claim, so on the way back from the form this swaps the login name
  // for the account's subject. Without this step an unknown name fails with
  // a server error. Here it becomes an access_denied error, which the
  // provider sends to the client's redirect_uri.
  provider.use(async (ctx, next) => {
    const resume = ctx.method === 'GET' && RESUME_PATH.exec(ctx.path);
    const interaction = resume ? await provider.Interaction.find(resume[1]) : undefined;
    const login = interaction?.result?.login?.accountId;
    if (login !== undefined) {
      if (Object.hasOwn(config.accounts, login)) {
        interaction.result.login.accountId = config.accounts[login].sub;
      } else {
        process.stderr.write(`idp: rejected unknown login ${JSON.stringify(login)}\n`);
        interaction.result = { error: 'access_denied', error_description: `unknown login ${JSON.stringify(login)}` };
      }
      await interaction.persist();
    }
    await next();
  });

  provider.use(async (ctx, next) => {
    await next();
    if (typeof ctx.body === 'string' && ctx.response.is('html')) {
      ctx.body = ctx.body.replace(OUTSIDE_FONT_IMPORT, '');
      if (!ctx.response.get('content-security-policy')) {
        ctx.set('content-security-policy', CONTENT_SECURITY_POLICY);
      }
    }
  });

  // The provider returns these errors to the client or the browser but does
  // not log them. The Go harness shows this stderr output when a test fails.
  const logError = (event) => (ctx, err) => {
    const client = ctx?.oidc?.client?.clientId ?? '-';
    const detail = err.error_description ? ` (${err.error_description})` : '';
    process.stderr.write(`idp: ${event}: client=${client}: ${err.message}${detail}\n`);
  };
  for (const event of [
    'server_error', 'authorization.error', 'grant.error', 'userinfo.error',
    'end_session.error', 'backchannel.error', 'jwks.error', 'discovery.error',
  ]) {
    provider.on(event, logError(event));
  }

  return provider;
}

function main() {
  const [configPath, ...flags] = process.argv.slice(2);
  if (!configPath) {
    fail('usage: node server.mjs CONFIG.json [--exit-on-stdin-eof]');
  }
  const unknownFlags = flags.filter((flag) => flag !== '--exit-on-stdin-eof');
  if (unknownFlags.length > 0) {
    fail(`unknown option ${unknownFlags[0]}; the only option is --exit-on-stdin-eof`);
  }

  const config = readConfig(configPath);
  const provider = buildProvider(config);
  const server = createServer(provider.callback());

  const stop = (reason) => {
    process.stderr.write(`idp: stopping: ${reason}\n`);
    server.close(() => process.exit(0));
    server.closeAllConnections();
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  if (flags.includes('--exit-on-stdin-eof')) {
    process.stdin.on('end', () => stop('standard input closed'));
    process.stdin.resume();
  }

  server.on('error', (err) => fail(`listen on ${LISTEN_HOST}:${config.port}: ${err.message}`));
  server.listen(config.port, LISTEN_HOST, () => {
    process.stdout.write(`ready ${config.issuer}\n`);
  });
}

main();
