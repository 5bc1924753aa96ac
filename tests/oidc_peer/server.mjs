// A real OpenID Connect provider (the certified `oidc-provider` package) for Sealroom's single sign-on tests.
//
// It runs on loopback only and is configured entirely from the environment:
//
//   PORT         port to listen on (127.0.0.1)
//   ISSUER       issuer identifier, e.g. http://localhost:PORT
//   STATE_DIR    folder with the JSON files the Python side (tests/oidc_peer.py) writes:
//                  clients.json   [oidc-provider client metadata, ...]            read at start
//                  jwks.json      {"keys": [private JWK, ...]}, the first signs   read at start
//                  accounts.json  {"<username>": {"groups": [...], "amr": [...]|null, "acr": str|null,
//                                   "email": str, "name": str, "disabled": bool}}  re-read on every use
//                                 (optional "email_verified": bool, true when absent)
//                and store.json, where the provider keeps its sessions, grants and tokens so that a
//                restart (key rotation) keeps IdP sessions and refresh tokens, as a real provider would.
//   COOKIE_KEYS  optional, comma-separated keys signing the provider's cookies (random when unset; pass the
//                same keys across restarts so browser sessions survive them)
//   ACR_VALUES   optional, space-separated acr values advertised in the discovery document
//
// Behaviour the relying party sees:
//   - authorization code flow only, PKCE (S256) required for every client;
//   - no consent screen: the requested scopes, claims and resource scopes are granted on the spot;
//   - the login page is /interaction/<uid>: a form with one field, `login` (the username; no password);
//   - the ID token carries name, preferred_username, email, groups (by scope), amr, acr, auth_time and sid;
//   - an authorization request with resource=<absolute URI> yields a JWT access token (typ at+jwt) whose
//     `aud` is that URI, with the account's groups; without a resource the access token is opaque and
//     good for the userinfo endpoint;
//   - refresh tokens are issued for the code flow to clients allowed the refresh_token grant;
//   - ending the IdP session (GET /session/end, then the confirm form) sends back-channel logout tokens.
//
// It prints `READY <issuer>` on stdout once listening; everything else goes to stderr.

import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as path from 'node:path';

import Provider, { errors, interactionPolicy } from 'oidc-provider';

function requiredEnv(name) {
  const value = process.env[name];
  if (!value) {
    process.stderr.write(`oidc peer: the environment variable ${name} is required\n`);
    process.exit(2);
  }
  return value;
}

const PORT = Number.parseInt(requiredEnv('PORT'), 10);
const ISSUER = requiredEnv('ISSUER');
const STATE_DIR = requiredEnv('STATE_DIR');
const COOKIE_KEYS = (process.env.COOKIE_KEYS || crypto.randomBytes(32).toString('base64url'))
  .split(',').filter(Boolean);
const ACR_VALUES = (process.env.ACR_VALUES || '').split(' ').filter(Boolean);

function log(...parts) {
  process.stderr.write(`oidc peer: ${parts.join(' ')}\n`);
}

function readJson(name, fallback) {
  const file = path.join(STATE_DIR, name);
  if (!fs.existsSync(file)) {
    return fallback;
  }
  return JSON.parse(fs.readFileSync(file, 'utf8'));
}

// ---------------------------------------------------------------------------------------------- accounts

// Re-read on every use, so a test can change groups, amr or disable someone between two requests.
function accountRecord(username) {
  const accounts = readJson('accounts.json', {});
  if (!Object.hasOwn(accounts, username)) {
    return undefined;
  }
  return accounts[username];
}

function activeAccountRecord(username) {
  const record = accountRecord(username);
  if (!record || record.disabled) {
    return undefined;
  }
  return record;
}

// undefined for unknown and disabled users: sign-in, userinfo and refresh then fail for them.
async function findAccount(_ctx, accountId) {
  if (!activeAccountRecord(accountId)) {
    return undefined;
  }
  return {
    accountId,
    async claims() {
      // Looked up again here: the claims are those of the moment the token or userinfo answer is made.
      const record = activeAccountRecord(accountId) || {};
      return {
        sub: accountId,
        name: record.name ?? accountId,
        preferred_username: accountId,
        email: record.email ?? `${accountId}@example.test`,
        email_verified: record.email_verified ?? true,
        groups: [...(record.groups ?? [])],
      };
    },
  };
}

// ----------------------------------------------------------------------------------------------- storage

// A small adapter keeping everything in STATE_DIR/store.json (the built-in one is memory-only, so a restart
// for a key rotation would otherwise end every IdP session and refresh token). Tests are small: every
// write rewrites the file and the lookups by uid / grant scan the entries.
const STORE_FILE = path.join(STATE_DIR, 'store.json');
const store = new Map(Object.entries(readJson('store.json', {})));

function nowSeconds() {
  return Math.floor(Date.now() / 1000);
}

function persistStore() {
  const now = nowSeconds();
  for (const [key, entry] of store) {
    if (entry.expiresAt !== null && entry.expiresAt <= now) {
      store.delete(key);
    }
  }
  const temporary = `${STORE_FILE}.${process.pid}.tmp`;
  fs.writeFileSync(temporary, JSON.stringify(Object.fromEntries(store)));
  fs.renameSync(temporary, STORE_FILE);
}

function liveEntry(key) {
  const entry = store.get(key);
  if (!entry) {
    return undefined;
  }
  if (entry.expiresAt !== null && entry.expiresAt <= nowSeconds()) {
    store.delete(key);
    return undefined;
  }
  return entry;
}

const GRANT_MEMBERS = new Set([
  'AccessToken', 'AuthorizationCode', 'RefreshToken', 'DeviceCode', 'BackchannelAuthenticationRequest',
]);

class FileAdapter {
  constructor(model) {
    this.model = model;
  }

  key(id) {
    return `${this.model}:${id}`;
  }

  async upsert(id, payload, expiresIn) {
    const expiresAt = typeof expiresIn === 'number' ? nowSeconds() + expiresIn : null;
    store.set(this.key(id), { payload, expiresAt });
    persistStore();
  }

  async find(id) {
    return liveEntry(this.key(id))?.payload;
  }

  async findByUid(uid) {
    for (const key of store.keys()) {
      if (key.startsWith(`${this.model}:`)) {
        const payload = liveEntry(key)?.payload;
        if (payload?.uid === uid) {
          return payload;
        }
      }
    }
    return undefined;
  }

  async findByUserCode(userCode) {
    for (const key of store.keys()) {
      if (key.startsWith(`${this.model}:`)) {
        const payload = liveEntry(key)?.payload;
        if (payload?.userCode === userCode) {
          return payload;
        }
      }
    }
    return undefined;
  }

  async consume(id) {
    const entry = liveEntry(this.key(id));
    if (entry) {
      entry.payload.consumed = nowSeconds();
      persistStore();
    }
  }

  async destroy(id) {
    store.delete(this.key(id));
    persistStore();
  }

  // The tokens of a grant go with it (not the interactions or sessions that mention its id).
  async revokeByGrantId(grantId) {
    for (const [key, entry] of store) {
      if (entry.payload?.grantId === grantId && GRANT_MEMBERS.has(key.slice(0, key.indexOf(':')))) {
        store.delete(key);
      }
    }
    persistStore();
  }
}

// ---------------------------------------------------------------------------------------------- policies

const OIDC_CLAIMS = {
  // amr, acr, auth_time and sid come with `openid`, so every ID token says how and when the user signed in.
  openid: ['sub', 'auth_time', 'acr', 'amr', 'sid'],
  profile: ['name', 'preferred_username'],
  email: ['email', 'email_verified'],
  groups: ['groups'],
};

// Scopes a resource server (an API audience) accepts; its JWT access tokens carry those requested.
const RESOURCE_SCOPE = 'openid profile email groups';

// First-party clients: no consent screen. Whatever the authorization request asks for (OIDC scopes,
// claims, resource scopes) is added to the client's grant for this account and saved.
async function loadExistingGrant(ctx) {
  const { oidc } = ctx;
  const accountId = oidc.session.accountId;
  const clientId = oidc.client.clientId;
  const grantId = oidc.result?.consent?.grantId || oidc.session.grantIdFor(clientId);
  let grant = grantId ? await oidc.provider.Grant.find(grantId) : undefined;
  if (!grant || grant.accountId !== accountId || grant.clientId !== clientId) {
    grant = new oidc.provider.Grant({ accountId, clientId });
  }
  const scopes = [...oidc.requestParamOIDCScopes].join(' ');
  if (scopes) {
    grant.addOIDCScope(scopes);
  }
  if (oidc.requestParamClaims.size) {
    grant.addOIDCClaims([...oidc.requestParamClaims]);
  }
  for (const [indicator, resourceServer] of Object.entries(oidc.resourceServers)) {
    const granted = [...oidc.requestParamScopes].filter((scope) => resourceServer.scopes.has(scope));
    if (granted.length) {
      grant.addResourceScope(indicator, granted.join(' '));
    }
  }
  await grant.save();
  return grant;
}

// A session whose account was disabled (or removed) since it signed in must sign in again, which the
// login form then refuses. Without this check oidc-provider would carry on with a session it cannot load.
function loginPolicy() {
  const policy = interactionPolicy.base();
  const login = policy.get('login');
  login.checks.add(new interactionPolicy.Check(
    'account_unavailable',
    'the signed-in account is no longer available',
    (ctx) => Boolean(ctx.oidc.session.accountId && !ctx.oidc.account),
  ));
  return policy;
}

// The account's groups (and, when the token comes from a sign-in, how it signed in) in access tokens.
async function extraTokenClaims(ctx, token) {
  if (token.kind !== 'AccessToken' || !token.accountId) {
    return undefined;
  }
  const record = activeAccountRecord(token.accountId);
  if (!record) {
    return undefined;
  }
  const extra = {
    groups: [...(record.groups ?? [])],
    preferred_username: token.accountId,
  };
  const source = ctx?.oidc?.entities?.AuthorizationCode || ctx?.oidc?.entities?.RefreshToken;
  if (source) {
    if (source.authTime !== undefined) extra.auth_time = source.authTime;
    if (source.acr !== undefined) extra.acr = source.acr;
    if (source.amr !== undefined) extra.amr = source.amr;
  }
  return extra;
}

// Any absolute URI is accepted as a resource indicator (RFC 8707), and the access token's audience is
// that URI (RFC 9068), so a test can also obtain a well-signed token for some other API.
async function getResourceServerInfo(_ctx, resourceIndicator) {
  return {
    scope: RESOURCE_SCOPE,
    audience: resourceIndicator,
    accessTokenFormat: 'jwt',
    accessTokenTTL: 600,
    jwt: { sign: { alg: 'RS256' } },
  };
}

// oidc-provider refuses outgoing requests to special-use addresses (SSRF protection): it hands its
// `fetch` option an undici dispatcher that destroys any socket connected to 127.0.0.0/8, ::1, private
// ranges... The relying parties of this test peer listen on loopback, and their backchannel_logout_uri is
// plain http there (oidc-provider itself accepts http for that URI: it is a "web" URI, not https-only),
// so the supported hook, the `fetch` configuration option, drops that dispatcher for loopback hosts only.
// Nothing of the kind belongs in a production provider.
const LOOPBACK_HOSTS = new Set(['127.0.0.1', 'localhost', '[::1]']);

function loopbackFetch(url, options) {
  if (LOOPBACK_HOSTS.has(new URL(url).hostname)) {
    const { dispatcher: _ssrfGuard, ...rest } = options;
    return globalThis.fetch(url, rest);
  }
  return globalThis.fetch(url, options);
}

function escapeHtml(value) {
  return String(value).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function page(title, body) {
  return `<!DOCTYPE html><html><head><meta charset="utf-8"><title>${escapeHtml(title)}</title></head>`
    + `<body><h1>${escapeHtml(title)}</h1>${body}</body></html>`;
}

// ------------------------------------------------------------------------------------------------ config

const configuration = {
  adapter: FileAdapter,
  clients: readJson('clients.json', []),
  jwks: readJson('jwks.json', { keys: [] }),
  findAccount,
  claims: OIDC_CLAIMS,
  scopes: ['openid', 'offline_access'],
  // The authorization code flow only (no implicit or hybrid response types).
  responseTypes: ['code'],
  ...(ACR_VALUES.length ? { acrValues: ACR_VALUES } : {}),
  // The ID token carries the scope's claims itself (not only the userinfo endpoint).
  conformIdTokenClaims: false,
  pkce: { required: () => true },
  cookies: {
    keys: COOKIE_KEYS,
    // Over plain http on loopback: oidc-provider marks cookies Secure only when the request came over
    // https (ctx.secure), so nothing else is needed here.
    long: { httpOnly: true, sameSite: 'lax' },
    short: { httpOnly: true, sameSite: 'lax' },
  },
  interactions: {
    policy: loginPolicy(),
    url: async (_ctx, interaction) => `/interaction/${interaction.uid}`,
  },
  loadExistingGrant,
  extraTokenClaims,
  // Refresh tokens for the code flow to clients allowed the refresh_token grant, whether or not
  // offline_access was asked for. Without offline_access they (and the access tokens) end with the IdP
  // session, oidc-provider's default `expiresWithSession`: after an IdP logout, refreshing fails.
  issueRefreshToken: async (_ctx, client, source) => client.grantTypeAllowed('refresh_token')
    && source.kind === 'AuthorizationCode',
  fetch: loopbackFetch,
  features: {
    devInteractions: { enabled: false },
    backchannelLogout: { enabled: true },
    rpInitiatedLogout: {
      enabled: true,
      async logoutSource(ctx, form) {
        // The form posts `xsrf`; the button adds logout=yes (end the whole IdP session).
        ctx.body = page('Sign out', `${form}<button type="submit" form="op.logoutForm" name="logout" value="yes">`
          + 'Sign out</button>');
      },
      async postLogoutSuccessSource(ctx) {
        ctx.body = page('Signed out', '<p>You are signed out.</p>');
      },
    },
    userinfo: { enabled: true },
    revocation: { enabled: true },
    introspection: { enabled: false },
    claimsParameter: { enabled: false },
    resourceIndicators: {
      enabled: true,
      defaultResource: async () => undefined,
      // The JWT access token is the answer to an authorization request with a resource, even when the
      // token request does not repeat the resource parameter.
      useGrantedResource: async () => true,
      getResourceServerInfo,
    },
  },
  ttl: {
    AccessToken: 600,
    AuthorizationCode: 60,
    IdToken: 600,
    Interaction: 600,
    Session: 3600,
    Grant: 3600,
    RefreshToken: 3600,
  },
  async renderError(ctx, out) {
    ctx.type = 'html';
    ctx.body = page('Error', Object.entries(out)
      .map(([key, value]) => `<p><strong>${escapeHtml(key)}</strong>: ${escapeHtml(value)}</p>`).join(''));
  },
};

const provider = new Provider(ISSUER, configuration);

for (const event of ['server_error', 'authorization.error', 'grant.error', 'end_session.error',
  'userinfo.error', 'backchannel.error', 'interaction.error', 'revocation.error']) {
  provider.on(event, (_ctx, error) => log(event, error?.message ?? '', error?.error_description ?? ''));
}
provider.on('backchannel.success', (_ctx, client, accountId) => log('backchannel logout sent to',
  client.clientId, 'for', accountId));

// ------------------------------------------------------------------------------------------ interactions

async function readForm(req) {
  const chunks = [];
  let size = 0;
  for await (const chunk of req) {
    size += chunk.length;
    if (size > 64 * 1024) {
      throw new Error('form too large');
    }
    chunks.push(chunk);
  }
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
}

function plain(ctx, status, text) {
  ctx.status = status;
  ctx.type = 'text/plain';
  ctx.body = `${text}\n`;
}

const INTERACTION = /^\/interaction\/([A-Za-z0-9_-]+)(\/login)?$/;

provider.use(async (ctx, next) => {
  const match = INTERACTION.exec(ctx.path);
  if (!match) {
    await next();
    return;
  }
  const [, uid, login] = match;
  ctx.set('cache-control', 'no-store');
  let details;
  try {
    details = await provider.interactionDetails(ctx.req, ctx.res);
  } catch (error) {
    if (error instanceof errors.SessionNotFound) {
      plain(ctx, 400, `interaction not found or expired: ${error.error_description ?? error.message}`);
      return;
    }
    throw error;
  }
  if (details.uid !== uid) {
    plain(ctx, 400, 'interaction mismatch');
    return;
  }

  if (!login && ctx.method === 'GET') {
    const { prompt, params } = details;
    const hint = params.login_hint ? escapeHtml(params.login_hint) : '';
    ctx.type = 'html';
    ctx.body = page('Sign in', `<p>prompt: ${escapeHtml(prompt.name)} (${escapeHtml(prompt.reasons.join(', '))})`
      + ` for ${escapeHtml(params.client_id)}</p>`
      + `<form method="post" action="/interaction/${escapeHtml(uid)}/login">`
      + `<label>Username <input name="login" value="${hint}" autofocus></label>`
      + '<button type="submit">Sign in</button></form>');
    return;
  }

  if (login && ctx.method === 'POST') {
    const form = await readForm(ctx.req);
    const username = (form.get('login') || '').trim();
    const record = username ? accountRecord(username) : undefined;
    if (!record) {
      plain(ctx, 400, `unknown user: ${username || '(empty)'}`);
      return;
    }
    if (record.disabled) {
      plain(ctx, 403, `account disabled: ${username}`);
      return;
    }
    const result = {
      login: {
        accountId: username,
        ...(record.amr ? { amr: [...record.amr] } : {}),
        ...(record.acr ? { acr: record.acr } : {}),
      },
    };
    const returnTo = await provider.interactionResult(ctx.req, ctx.res, result, {
      mergeWithLastSubmission: false,
    });
    ctx.status = 303;
    ctx.redirect(returnTo);
    return;
  }

  plain(ctx, 405, 'method not allowed');
});

// ---------------------------------------------------------------------------------------------- startup

// oidc-provider checks static clients' metadata on first use; check them now so a bad clients.json stops
// the start (with the reason on stderr) instead of failing a test's first request.
for (const { client_id: clientId } of configuration.clients) {
  try {
    await provider.Client.find(clientId);
  } catch (error) {
    log(`client ${clientId} is invalid:`, error.error_description ?? error.message);
    process.exit(2);
  }
}

const server = http.createServer(provider.callback());
server.listen(PORT, '127.0.0.1', () => {
  log(`listening on 127.0.0.1:${PORT} as ${ISSUER} with`, configuration.clients.length, 'client(s) and key',
    configuration.jwks.keys[0]?.kid ?? '(none)');
  process.stdout.write(`READY ${ISSUER}\n`);
});

function shutdown() {
  server.close(() => process.exit(0));
  server.closeAllConnections();
  setTimeout(() => process.exit(0), 1000).unref();
}
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
