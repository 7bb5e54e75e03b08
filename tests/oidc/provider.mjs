// A real OpenID Provider for the single sign-on tests: the certified `oidc-provider` package
// (installed by `make oidc` into .cache/oidc), on 127.0.0.1 at a free port.
//
//   node tests/oidc/provider.mjs CONTROL_FILE
//
// CONTROL_FILE (JSON, written by tests/fixtures/oidc.py and read again on every request):
//   clients   the registered clients (oidc-provider metadata), read once at start
//   accounts  {sub: claims}: the people the provider knows
//   login     the sub the next sign-in authenticates as (no login form: tests need no browser)
//   id_token  misbehaviour for one test: {"audience": "<other client id>"} signs the ID token
//             for another client, {"expired": true} issues it already expired
//   jwks      "impostor": publish another key under the signing key's id (signatures fail)
// Prints "listening <issuer>" on stdout once it accepts requests.

import { generateKeyPairSync } from 'node:crypto';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import { dirname, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const packageDir = process.env.OIDC_PROVIDER_DIR
  || resolve(here, '../../.cache/oidc/node_modules/oidc-provider');
const { default: Provider } = await import(pathToFileURL(resolve(packageDir, 'lib/index.js')).href);

const controlFile = process.argv[2];
const control = () => JSON.parse(readFileSync(controlFile, 'utf8'));

const server = http.createServer();
await new Promise((done) => { server.listen(0, '127.0.0.1', done); });
const issuer = `http://127.0.0.1:${server.address().port}`;

const rsaKey = () => generateKeyPairSync('rsa', { modulusLength: 2048 });
const signingKey = {
  ...rsaKey().privateKey.export({ format: 'jwk' }),
  kid: 'test-signing-key',
  use: 'sig',
  alg: 'RS256',
};
// Published instead of the real key when the control file says "jwks": "impostor": the tokens
// then carry a signature that the published key does not verify (a forged token, as seen by
// the app).
const impostorJwks = JSON.stringify({
  keys: [{ ...rsaKey().publicKey.export({ format: 'jwk' }), kid: signingKey.kid, use: 'sig', alg: 'RS256' }],
});

const provider = new Provider(issuer, {
  clients: control().clients,
  jwks: { keys: [signingKey] },
  cookies: { keys: ['oidc-test-cookie-key'] },
  pkce: { required: () => true },
  features: { devInteractions: { enabled: false } },
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
    profile: ['name', 'given_name', 'family_name', 'picture', 'department'],
    groups: ['groups'],
  },
  async findAccount(ctx, sub) {
    const claims = control().accounts[sub];
    if (!claims) return undefined;
    return { accountId: sub, claims: async () => ({ ...claims, sub }) };
  },
  interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
  renderError(ctx, out) {
    ctx.type = 'json';
    ctx.body = out;
  },
});

// A provider that misbehaves on purpose, for the tests that prove the app refuses its tokens.
const issue = provider.IdToken.prototype.issue;
provider.IdToken.prototype.issue = async function issueForTest(options = {}) {
  const trouble = (options.use === 'idtoken' && control().id_token) || {};
  if (trouble.audience) {
    this.client = await provider.Client.find(trouble.audience);
  }
  if (trouble.expired) {
    options = { ...options, expiresAt: Math.floor(Date.now() / 1000) - 3600 };
  }
  return issue.call(this, options);
};

// The interaction: sign in as the test's chosen person and consent to what the client asked.
async function interact(req, res) {
  const details = await provider.interactionDetails(req, res);
  const { prompt, params, session } = details;
  if (prompt.name === 'login') {
    const { login } = control();
    const result = login
      ? { login: { accountId: login } }
      : { error: 'access_denied', error_description: 'no test user chosen' };
    await provider.interactionFinished(req, res, result, { mergeWithLastSubmission: false });
    return;
  }
  const grant = details.grantId
    ? await provider.Grant.find(details.grantId)
    : new provider.Grant({ accountId: session.accountId, clientId: params.client_id });
  const missing = prompt.details;
  if (missing.missingOIDCScope) grant.addOIDCScope(missing.missingOIDCScope.join(' '));
  if (missing.missingOIDCClaims) grant.addOIDCClaims(missing.missingOIDCClaims);
  for (const [indicator, scopes] of Object.entries(missing.missingResourceScopes || {})) {
    grant.addResourceScope(indicator, scopes.join(' '));
  }
  const grantId = await grant.save();
  await provider.interactionFinished(req, res, { consent: { grantId } }, { mergeWithLastSubmission: true });
}

const handle = provider.callback();
server.on('request', (req, res) => {
  if (req.url === '/jwks' && control().jwks === 'impostor') {
    res.setHeader('Content-Type', 'application/json');
    res.end(impostorJwks);
    return;
  }
  if (req.url.startsWith('/interaction/')) {
    interact(req, res).catch((error) => {
      res.statusCode = 500;
      res.end(String(error));
    });
    return;
  }
  handle(req, res);
});

process.on('SIGTERM', () => { server.close(); process.exit(0); });
process.stdout.write(`listening ${issuer}\n`);
