// A real OpenID provider (node's oidc-provider, OpenID-certified) for the local API, the CLI's tests and
// scripts/demo. Not a stub: discovery, JWKS, authorization code + PKCE (S256) on a loopback redirect,
// the device authorization grant and refresh tokens are oidc-provider's own code; only the accounts and
// the sign-in page are ours.
//
//   node tests/oidc/provider.mjs [--port N]      (or PORT; 0 or nothing = a free port)
//
// prints one line `listening <issuer-url>` on stdout once it serves. The issuer is
// http://127.0.0.1:<port>.
//
// Client: `onboarding-cli`, public (token_endpoint_auth_method none, PKCE S256 required), native, grants
// authorization_code, refresh_token and device_code. As the README's Cognito app client: exactly the
// callback URLs http://localhost:47951/callback, :47952 and :47953 (the CLI's CALLBACK_PORTS, matched
// exactly, port included), and the scopes openid and email, no offline_access; a refresh token is issued
// with every code and device-code exchange all the same, as Cognito does.
//
// Sign-in, automatable without a browser (both are test-only, which is why this provider only listens on
// 127.0.0.1):
//   - login_hint: an authorization request with login_hint=<a test account's email> is signed in without
//     a page (the redirects alone lead to the redirect_uri);
//   - the sign-in form: POST /interaction/<uid>/login with login=<email>&password=<TEST_PASSWORD>
//     (OIDC_TEST_PASSWORD, default "onboarding-test-password"), the form the interaction page shows.
// Consent is given automatically (a first-party client). The device flow's pages are oidc-provider's:
// GET /device gives a form with `xsrf`; POST user_code, then confirm=yes, then the sign-in form.
//
// OIDC_SIGNING_KEY_FILE: sign with this RSA private key (PEM) instead of a fresh one; the kid stays
// random, read it from the JWKS.
// OIDC_PAGE_REDIRECT_URIS: more redirect URIs of the same client, comma-separated: the page's own URL
// (<api>/, trailing slash), as the README's IdP examples register it. oidc-provider then also answers
// that origin's CORS requests to the token endpoint, as a provider does for a redirect URI registered as a
// single-page application's.
// OIDC_ID_TOKEN_TTL sets the ID token's lifetime in seconds (default 3600).
//
// ID tokens carry what Cognito's do and what the API reads: email, email_verified (true),
// cognito:groups (an array) and token_use "id"; aud is the client id.

import { createPrivateKey, generateKeyPairSync, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';

import Provider from 'oidc-provider';

const CLIENT_ID = 'onboarding-cli';
const TEST_PASSWORD = process.env.OIDC_TEST_PASSWORD || 'onboarding-test-password';

// The fixed test accounts: the account id is the email, which is also `sub`.
const ACCOUNTS = new Map([
  ['developer@example.com', { groups: [], emailVerified: true }],
  ['admin@example.com', { groups: ['onboarding-admins'], emailVerified: true }],
  // For the API's refusal of an unverified email (401 email_not_verified).
  ['unverified@example.com', { groups: [], emailVerified: false }],
]);

function portFromArgs() {
  const args = process.argv.slice(2);
  const at = args.indexOf('--port');
  if (at !== -1) {
    return Number(args[at + 1]);
  }
  return Number(process.env.PORT || 0);
}

function html(title, body) {
  return `<!DOCTYPE html><html><head><meta charset="utf-8"><title>${title}</title></head>`
    + `<body><h1>${title}</h1>${body}</body></html>`;
}

function escapeHtml(value) {
  return String(value).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

async function readForm(req) {
  const chunks = [];
  for await (const chunk of req) {
    chunks.push(chunk);
  }
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
}

function configuration() {
  // A fresh signing key per run, so tokens from an earlier run do not verify; OIDC_SIGNING_KEY_FILE (an
  // RSA private key, PEM) instead lets a test hold the key and mint tokens that differ from the
  // provider's in exactly one claim.
  const keyFile = process.env.OIDC_SIGNING_KEY_FILE;
  const privateKey = keyFile
    ? createPrivateKey(readFileSync(keyFile))
    : generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
  const jwk = { ...privateKey.export({ format: 'jwk' }), kid: randomBytes(8).toString('hex'), use: 'sig', alg: 'RS256' };
  return {
    clients: [{
      client_id: CLIENT_ID,
      client_name: 'onboarding CLI',
      application_type: 'native',
      token_endpoint_auth_method: 'none',
      grant_types: ['authorization_code', 'refresh_token', 'urn:ietf:params:oauth:grant-type:device_code'],
      response_types: ['code'],
      redirect_uris: [
        ...[47951, 47952, 47953].map((port) => `http://localhost:${port}/callback`),
        ...(process.env.OIDC_PAGE_REDIRECT_URIS || '').split(',').map((uri) => uri.trim()).filter(Boolean),
      ],
    }],
    jwks: { keys: [jwk] },
    cookies: { keys: [randomBytes(32).toString('hex')] },
    pkce: { required: () => true },
    // Cognito's: discovery lists no offline_access, and the CLI then does not ask for it.
    scopes: ['openid'],
    // Set, not defaulted: oidc-provider prints a notice for every default TTL it uses. OIDC_ID_TOKEN_TTL
    // (seconds) lets a test make ID tokens expire quickly, to exercise the refresh.
    ttl: {
      AccessToken: 3600,
      AuthorizationCode: 60,
      DeviceCode: 600,
      Grant: 86400,
      IdToken: Number(process.env.OIDC_ID_TOKEN_TTL || 3600),
      Interaction: 600,
      RefreshToken: 86400,
      Session: 86400,
    },
    features: {
      devInteractions: { enabled: false },
      deviceFlow: {
        enabled: true,
        userCodeInputSource: async (ctx, form, out, err) => {
          const message = err ? `<p>${escapeHtml(err.message)}</p>` : '';
          ctx.body = html('Enter the code shown on your device', `${message}${form}<button type="submit" form="op.deviceInputForm">Continue</button>`);
        },
        userCodeConfirmSource: async (ctx, form, client, deviceInfo, userCode) => {
          ctx.body = html('Confirm the device', `<p><code>${escapeHtml(userCode)}</code></p>${form}<button type="submit" form="op.deviceConfirmForm">Continue</button>`);
        },
        successSource: async (ctx) => {
          ctx.body = html('Signed in', '<p>You can close this page.</p>');
        },
      },
      revocation: { enabled: true },
    },
    // Everything the API reads is in the ID token under the `openid` scope, as Cognito puts it there:
    // the local API, like API Gateway's JWT authorizer, sees only the bearer token.
    claims: {
      openid: ['sub', 'email', 'email_verified', 'cognito:groups', 'token_use'],
      email: ['email', 'email_verified'],
    },
    conformIdTokenClaims: false,
    // A CLI needs a refresh token to stay signed in; oidc-provider's default gives one only for
    // offline_access with prompt=consent, which this provider, like Cognito, does not offer.
    issueRefreshToken: async (ctx, client) => client.grantTypeAllowed('refresh_token'),
    async findAccount(ctx, id) {
      const account = ACCOUNTS.get(id);
      if (!account) {
        return undefined;
      }
      return {
        accountId: id,
        async claims() {
          return {
            sub: id,
            email: id,
            email_verified: account.emailVerified,
            'cognito:groups': account.groups,
            token_use: 'id',
          };
        },
      };
    },
    // Readable errors for the tests' logs instead of oidc-provider's HTML page.
    async renderError(ctx, out) {
      ctx.type = 'json';
      ctx.body = out;
    },
  };
}

// GET /interaction/<uid>: signs in a test account named by login_hint, gives consent, or shows the form.
async function interaction(provider, req, res) {
  const details = await provider.interactionDetails(req, res);
  const { uid, prompt, params } = details;
  if (prompt.name === 'login') {
    if (ACCOUNTS.has(params.login_hint)) {
      return provider.interactionFinished(req, res, { login: { accountId: params.login_hint } }, { mergeWithLastSubmission: false });
    }
    res.setHeader('content-type', 'text/html; charset=utf-8');
    res.setHeader('cache-control', 'no-store');
    res.end(html('Sign in', `<form method="post" action="/interaction/${escapeHtml(uid)}/login">`
      + '<input name="login" type="email" placeholder="email"><input name="password" type="password">'
      + '<button type="submit">Sign in</button></form>'));
    return undefined;
  }
  if (prompt.name === 'consent') {
    const grant = details.grantId
      ? await provider.Grant.find(details.grantId)
      : new provider.Grant({ accountId: details.session.accountId, clientId: params.client_id });
    if (prompt.details.missingOIDCScope) {
      grant.addOIDCScope(prompt.details.missingOIDCScope.join(' '));
    }
    if (prompt.details.missingOIDCClaims) {
      grant.addOIDCClaims(prompt.details.missingOIDCClaims);
    }
    if (prompt.details.missingResourceScopes) {
      for (const [indicator, scopes] of Object.entries(prompt.details.missingResourceScopes)) {
        grant.addResourceScope(indicator, scopes.join(' '));
      }
    }
    const grantId = await grant.save();
    return provider.interactionFinished(req, res, { consent: details.grantId ? {} : { grantId } }, { mergeWithLastSubmission: true });
  }
  res.statusCode = 400;
  res.setHeader('content-type', 'application/json');
  res.end(JSON.stringify({ error: 'unsupported_prompt', prompt: prompt.name }));
  return undefined;
}

// POST /interaction/<uid>/login: a test account and the test password.
async function login(provider, req, res) {
  const form = await readForm(req);
  const email = form.get('login');
  if (!ACCOUNTS.has(email) || form.get('password') !== TEST_PASSWORD) {
    return provider.interactionFinished(req, res, {
      error: 'access_denied',
      error_description: 'unknown test account or wrong password',
    }, { mergeWithLastSubmission: false });
  }
  return provider.interactionFinished(req, res, { login: { accountId: email } }, { mergeWithLastSubmission: false });
}

// stdout carries only the `listening` line, which callers wait for; oidc-provider's notices go to stderr.
console.info = console.error;

const server = createServer();
server.listen(portFromArgs(), '127.0.0.1', () => {
  const issuer = `http://127.0.0.1:${server.address().port}`;
  const provider = new Provider(issuer, configuration());
  const callback = provider.callback();
  server.on('request', (req, res) => {
    const path = new URL(req.url, issuer).pathname;
    const match = /^\/interaction\/([^/]+)(\/login)?$/.exec(path);
    if (!match) {
      callback(req, res);
      return;
    }
    const handler = match[2] ? (req.method === 'POST' && login) : (req.method === 'GET' && interaction);
    if (!handler) {
      res.statusCode = 405;
      res.end();
      return;
    }
    handler(provider, req, res).catch((error) => {
      res.statusCode = 400;
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ error: error.name, error_description: error.message }));
    });
  });
  console.log(`listening ${issuer}`);
});
