// The page in a real browser, as a person uses it: Debian's chromium driven by Playwright against the local
// stack (local-api + tests/oidc's provider + moto), started by crates/local-api/tests/local_api.rs.
//
//   API_URL=http://127.0.0.1:PORT AWS_ENDPOINT_URL=http://127.0.0.1:MOTO node tests/browser/page.mjs
//
// CHROMIUM (default: chromium on PATH) names the browser; SCREENSHOTS (default target/page-screenshots) is
// where each step's screenshot goes. Exits non-zero, naming the step, when anything a person would notice
// is wrong. The AWS CLI (`aws`, from .venv) assumes the role with the key the page showed.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import jsQR from 'jsqr';
import * as OTPAuth from 'otpauth';
import { chromium } from 'playwright-core';
import { PNG } from 'pngjs';

const require = createRequire(import.meta.url);
const API = process.env.API_URL.replace(/\/$/, '');
const PAGE = `${API}/`;
const MOTO = process.env.AWS_ENDPOINT_URL;
const SHOTS = process.env.SCREENSHOTS || 'target/page-screenshots';
const PASSWORD = process.env.OIDC_TEST_PASSWORD || 'onboarding-test-password';
const PERSON = 'developer@example.com';
const ADMIN = 'admin@example.com';
mkdirSync(SHOTS, { recursive: true });

function browserPath() {
  if (process.env.CHROMIUM) {
    return process.env.CHROMIUM;
  }
  try {
    return execFileSync('sh', ['-c', 'command -v chromium || command -v chromium-browser'], { encoding: 'utf8' }).trim();
  } catch {
    throw new Error('no chromium: scripts/setup installs Debian\'s (apt-get install chromium), or set CHROMIUM');
  }
}

let step = 'start';
// The page a failure is shown on: its screenshot is kept as failed.png.
let current = null;
function at(name, page) {
  step = name;
  current = page ?? current;
  console.error(`page: ${name}`);
}

const axeSource = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');

// axe-core on what is on screen: no serious or critical violation. Evaluated through the DevTools
// protocol, which the page's CSP does not govern (the page's own policy would refuse an injected <script>).
async function accessible(page, name) {
  await page.evaluate(axeSource);
  const result = await page.evaluate(() => globalThis.axe.run(document, { resultTypes: ['violations'] }));
  const bad = result.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  assert.deepEqual(bad.map((v) => `${v.id}: ${v.help} (${v.nodes.map((n) => n.target).join(', ')})`), [], `axe on ${name}`);
}

async function shot(page, name) {
  await page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
}

// Signs in through the provider's own sign-in form, as a person types it.
async function signIn(page, email) {
  await page.goto(PAGE);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.locator('input[name="login"]').fill(email);
  await page.locator('input[name="password"]').fill(PASSWORD);
  await page.getByRole('button', { name: 'Sign in', exact: true }).click();
  await page.waitForURL(PAGE);
  await page.locator('#who').waitFor();
  assert.match(await page.locator('#who').innerText(), new RegExp(email.replace('.', '\\.')));
}

// What the page stores and shows in its URL, after the flow.
async function stored(page) {
  return page.evaluate(() => JSON.stringify({
    local: { ...localStorage },
    session: { ...sessionStorage },
    cookies: document.cookie,
    url: location.href,
  }));
}

// The QR code as a phone reads it: the pixels of the rendered image.
async function qrFromScreen(page) {
  const png = PNG.sync.read(await page.locator('#mfa-qr').screenshot());
  const found = jsQR(new Uint8ClampedArray(png.data), png.width, png.height);
  assert.ok(found, 'a QR code on the screen');
  return found.data;
}

function codesFor(uri) {
  const totp = OTPAuth.URI.parse(uri);
  const now = Date.now();
  return [0, 1, 2].map((period) => totp.generate({ timestamp: now + period * totp.period * 1000 }));
}

const browser = await chromium.launch({ executablePath: browserPath(), args: ['--no-sandbox'] });
try {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  current = page;
  const wire = [];
  let idToken = null;
  page.on('response', async (response) => {
    const url = response.url();
    if (url.endsWith('/token') && response.request().method() === 'POST') {
      idToken = (await response.json().catch(() => ({}))).id_token ?? idToken;
    }
    if (url.startsWith(API) && response.request().method() === 'POST') {
      wire.push(await response.text().catch(() => ''));
    }
  });

  at('sign-in page');
  await page.goto(PAGE);
  await page.getByRole('button', { name: 'Sign in' }).waitFor();
  await shot(page, '01-sign-in');
  await accessible(page, 'the sign-in page');

  at('signing in at the provider');
  await signIn(page, PERSON);
  assert.ok(idToken, 'the page redeemed the code for an ID token');

  at('choosing roles');
  const role = page.getByRole('checkbox', { name: /ResourceCreatorRole/ });
  assert.equal(await role.isChecked(), true, 'a self-service role is offered, ticked');
  await shot(page, '02-roles');
  await accessible(page, 'the role picker');
  await page.getByRole('button', { name: 'Create my access' }).click();

  at('reading the QR code off the screen');
  await page.locator('#mfa-qr').waitFor();
  await page.waitForFunction(() => document.getElementById('mfa-qr').complete);
  const uri = await qrFromScreen(page);
  assert.match(uri, /^otpauth:\/\/totp\//);
  const typed = (await page.locator('#mfa-secret').innerText()).replaceAll(' ', '');
  assert.equal(typed, new URL(uri).searchParams.get('secret'), 'the secret beside the QR code is the one in it');
  assert.match(await page.locator('#mfa-qr').getAttribute('alt'), /QR code/);
  await shot(page, '03-mfa');
  await accessible(page, 'the MFA step');

  at('codes that are not codes are refused in words');
  await page.getByLabel('First code').fill('12345');
  await page.getByLabel('Next code').fill('12345');
  await page.getByLabel('Next code').press('Enter');
  await page.locator('#problem').waitFor();
  assert.match(await page.locator('#problem').innerText(), /not accepted.*\(invalid_mfa_codes\)/s);

  at('turning MFA on with two codes, keyboard only');
  const [code1, code2, code3] = codesFor(uri);
  await page.getByLabel('First code').fill(code1);
  await page.keyboard.press('Tab');
  await page.keyboard.type(code2);
  await page.keyboard.press('Enter');

  at('the access key, shown once');
  await page.locator('#key').waitFor();
  const keyId = await page.locator('#key-id').innerText();
  const secret = await page.locator('#key-secret').innerText();
  assert.match(keyId, /^AKIA|^ASIA|^[A-Z0-9]{16,}$/);
  assert.ok(secret.length >= 30, 'a secret on the page');
  await shot(page, '04-key');
  await accessible(page, 'the key step');

  at('no secret on the wire in clear');
  const onboarding = wire.find((body) => body.includes('"access_key"'));
  assert.ok(onboarding, 'the page called POST /users');
  assert.ok(onboarding.includes('secret_access_key_age'), 'the answer carries the encrypted secret');
  assert.ok(!onboarding.includes('"secret_access_key"'), 'and no plain one');
  assert.ok(!onboarding.includes(secret), 'the secret the page shows is not in the answer');

  at('copying the key, and the files for a person without the CLI');
  await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: new URL(PAGE).origin });
  await page.getByRole('button', { name: 'Copy secret' }).click();
  assert.equal(await page.evaluate(() => navigator.clipboard.readText()), secret, 'the copy button copies the secret');
  await page.getByLabel('With the AWS CLI alone').check();
  const assumeLine = (await page.locator('#plain-assume').innerText()).split('\n')[0];
  assert.match(assumeLine, /--source-identity \S+ --serial-number \S+ --token-code <code>$/);
  const [download] = await Promise.all([
    page.waitForEvent('download'),
    page.getByRole('button', { name: 'Download credentials' }).click(),
  ]);
  const credentials = readFileSync(await download.path(), 'utf8');
  assert.ok(credentials.includes(secret) && credentials.includes(keyId), 'the downloaded credentials hold the key');
  await page.locator('#access').waitFor();

  at('assuming the role with the AWS CLI, the page\'s line and a third code');
  const home = mkdtempSync(join(tmpdir(), 'page-test-'));
  writeFileSync(join(home, 'credentials'), credentials);
  const args = assumeLine.replace(/^aws /, '').replace('<code>', code3).split(' ');
  const assumed = JSON.parse(execFileSync('aws', [...args, '--output', 'json'], {
    encoding: 'utf8',
    env: {
      PATH: process.env.PATH,
      HOME: home,
      AWS_SHARED_CREDENTIALS_FILE: join(home, 'credentials'),
      AWS_CONFIG_FILE: join(home, 'config'),
      AWS_ENDPOINT_URL: MOTO,
      AWS_DEFAULT_REGION: 'us-east-1',
    },
  }));
  assert.match(assumed.AssumedRoleUser.Arn, /:assumed-role\/ResourceCreatorRole\//);

  at('the page forgot the secret after the download');
  const afterwards = await stored(page);
  for (const [what, value] of [['the secret', secret], ['the ID token', idToken]]) {
    assert.ok(!afterwards.includes(value), `${what} is not in storage, cookies or the URL: ${afterwards}`);
    assert.ok(!(await page.content()).includes(value), `${what} is not in the page any more`);
  }
  assert.ok(!afterwards.includes('code='), 'the authorization code left the URL');
  await shot(page, '05-my-access');
  await accessible(page, 'my access');

  at('at a phone\'s width');
  await page.setViewportSize({ width: 360, height: 800 });
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth);
  assert.ok(overflow <= 360, `nothing wider than the phone (${overflow}px)`);
  await shot(page, '06-my-access-phone');
  await page.setViewportSize({ width: 1280, height: 900 });

  at('rotating the key');
  await page.getByRole('button', { name: 'Rotate my key' }).click();
  await page.locator('#key').waitFor();
  const rotated = await page.locator('#key-id').innerText();
  assert.notEqual(rotated, keyId);
  assert.ok(!wire.at(-1).includes(await page.locator('#key-secret').innerText()), 'the new secret came encrypted too');
  await page.getByRole('button', { name: 'Done: forget the key' }).click();
  await page.locator('#access').waitFor();
  await page.getByText(`Your previous key ${keyId} is deleted.`).waitFor();
  const keysShown = await page.locator('#access-view').innerText();
  assert.ok(keysShown.includes(rotated) && !keysShown.includes(keyId), 'the old key is gone, the new one listed');

  at('the CSP refuses an injected inline script');
  const violation = await page.evaluate(() => new Promise((resolve) => {
    document.addEventListener('securitypolicyviolation', (event) => resolve(event.violatedDirective), { once: true });
    const script = document.createElement('script');
    script.textContent = 'window.injected = true';
    document.body.append(script);
  }));
  assert.match(violation, /^script-src/);
  assert.equal(await page.evaluate(() => window.injected), undefined);

  at('another origin gets no CORS grant');
  const foreign = await fetch(`${API}/me`, { method: 'OPTIONS', headers: { origin: 'https://evil.example', 'access-control-request-method': 'GET', 'access-control-request-headers': 'authorization' } });
  assert.equal(foreign.headers.get('access-control-allow-origin'), null);
  const discovery = await fetch(`${API}/.well-known/onboarding`, { headers: { origin: 'https://evil.example' } });
  assert.equal(discovery.headers.get('access-control-allow-origin'), null);
  await context.close();
  current = null;

  at('an admin revokes the role and offboards, with a typed confirmation');
  const adminContext = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const admin = await adminContext.newPage();
  current = admin;
  await signIn(admin, ADMIN);
  await admin.locator('#admin').waitFor();
  await admin.getByLabel('User name', { exact: true }).fill(PERSON);
  await admin.getByRole('button', { name: 'Show', exact: true }).click();
  await admin.getByRole('button', { name: 'Revoke ResourceCreatorRole' }).click();
  await admin.getByText('ResourceCreatorRole: revoked.').waitFor();
  await shot(admin, '07-admin');
  await accessible(admin, 'the admin view');
  await admin.getByLabel('To offboard, type the user name again').fill('someone-else@example.com');
  await admin.getByRole('button', { name: 'Offboard' }).click();
  await admin.locator('#problem').getByText(`Type ${PERSON} exactly`).waitFor();
  await admin.getByLabel('To offboard, type the user name again').fill(PERSON);
  await admin.getByRole('button', { name: 'Offboard' }).click();
  await admin.getByText(`${PERSON}: removed.`).waitFor();
  await adminContext.close();
  current = null;
  console.error(`page: every step passed; screenshots in ${SHOTS}`);
} catch (error) {
  console.error(`page: failed at "${step}": ${error.stack ?? error}`);
  await current?.screenshot({ path: join(SHOTS, 'failed.png'), fullPage: true }).catch(() => {});
  console.error(`page: what the page showed then: ${join(SHOTS, 'failed.png')}`);
  process.exitCode = 1;
} finally {
  await browser.close();
}
