// The onboarding page (served at <api>/ by the status function, functions/page.rs). It signs the person in
// with the authorization code flow and PKCE as the public client /.well-known/onboarding names, then uses
// the same HTTP API as the CLI. What it keeps where:
//   - sessionStorage: only the PKCE verifier, state and nonce, across the one redirect to the identity
//     provider and back (none is a secret once the code is redeemed), removed on return;
//   - memory: the ID token, the age identity of one request, and an access key's secret until the person
//     presses Done, downloads a file or leaves the page; never localStorage, a cookie or the URL.
// Every secret the API sends is encrypted to an age identity made here for that request (encrypt_to), so
// nothing between the function and this tab sees it in clear.
import { Decrypter, armor, generateX25519Identity, identityToRecipient } from 'age-encryption';

const PKCE_KEY = 'onboarding.sign-in';
// The page lives at the API's root (<api>/): the API's routes are relative to it.
const base = new URL('./', location.href);
const redirectUri = `${location.origin}${location.pathname}`;

const WORDS = {
  unauthenticated: 'Your sign-in has ended. Sign in again.',
  email_not_verified: 'Your identity provider has not verified your email address, so it cannot be used to sign in here.',
  not_eligible: 'Your account is not one this AWS account onboards. Ask your platform team.',
  forbidden: 'Only an admin may do that.',
  invalid_mfa_codes: 'Those codes were not accepted. Type two codes your app shows one after the other: wait until the first one changes before typing the second.',
  mfa_already_enabled: 'MFA is already on for this user.',
  user_not_found: 'There is no such user.',
  unknown_role: 'That role is not one this AWS account offers.',
  invalid_username: 'That is not a valid user name.',
  too_many_keys: 'This user already has two active keys: an admin must delete one before a new one can be made.',
  access_key_active: 'That key is still active; only an inactive key can be deleted.',
  user_exists_unmanaged: 'A user of that name exists but onboarding does not manage it: your platform team must look at it.',
  username_case_mismatch: 'That user name differs from yours only in upper and lower case; use yours exactly.',
  upstream_unavailable: 'AWS did not answer in time. Try again in a minute.',
  account_unreachable: 'One of the AWS accounts could not be reached. Try again in a minute.',
  invalid_recipient: 'The page could not make its encryption key. Reload the page and try again.',
  internal: 'Something went wrong on our side. Try again; if it happens again, tell your platform team.',
};

class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

// Held in memory only.
let discovery = null;
let idToken = null;
let me = null;
// The access key on show: { id, secret, previous } until forgotten.
let shownKey = null;
// The last POST /users answer, for the files offered with the key.
let onboarding = null;

const $ = (id) => document.getElementById(id);

function show(...ids) {
  for (const section of document.querySelectorAll('main > section')) {
    section.hidden = !ids.includes(section.id);
  }
  const first = ids.map((id) => $(id)).find(Boolean);
  first?.querySelector('h2')?.setAttribute('tabindex', '-1');
  first?.querySelector('h2')?.focus();
}

function say(text) {
  $('status').textContent = text;
}

function problem(error) {
  const box = $('problem');
  if (!error) {
    box.hidden = true;
    box.textContent = '';
    return;
  }
  const words = error instanceof ApiError ? (WORDS[error.code] ?? error.message) : String(error.message ?? error);
  box.textContent = error instanceof ApiError ? `${words} (${error.code})` : words;
  box.hidden = false;
}

function b64url(bytes) {
  return btoa(String.fromCharCode(...bytes)).replaceAll('+', '-').replaceAll('/', '_').replace(/=+$/, '');
}

function random(length) {
  return crypto.getRandomValues(new Uint8Array(length));
}

function claimsOf(token) {
  const payload = token.split('.')[1] ?? '';
  const text = atob(payload.replaceAll('-', '+').replaceAll('_', '/'));
  return JSON.parse(new TextDecoder().decode(Uint8Array.from(text, (c) => c.charCodeAt(0))));
}

async function getJson(url) {
  const response = await fetch(url, { cache: 'no-store', credentials: 'omit' });
  if (!response.ok) {
    throw new Error(`${url} answered ${response.status}`);
  }
  return response.json();
}

async function providerMetadata() {
  return getJson(`${discovery.issuer.replace(/\/$/, '')}/.well-known/openid-configuration`);
}

async function api(method, path, body) {
  const headers = { authorization: `Bearer ${idToken}` };
  if (body !== undefined) {
    headers['content-type'] = 'application/json';
  }
  document.body.setAttribute('aria-busy', 'true');
  try {
    const response = await fetch(new URL(path, base), {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      cache: 'no-store',
      credentials: 'omit',
    });
    const text = await response.text();
    let answer = null;
    try {
      answer = JSON.parse(text);
    } catch {
      answer = null;
    }
    if (!response.ok) {
      const code = answer?.error?.code ?? (response.status === 401 ? 'unauthenticated' : `http_${response.status}`);
      if (code === 'unauthenticated') {
        idToken = null;
        show('signin');
      }
      throw new ApiError(response.status, code, answer?.error?.message ?? answer?.message ?? text);
    }
    return answer;
  } finally {
    document.body.removeAttribute('aria-busy');
  }
}

const userPath = (username, rest = '') => `users/${encodeURIComponent(username)}${rest}`;

// One age identity per request that returns a secret: made here, never stored, dropped after use.
async function receiver() {
  const identity = await generateX25519Identity();
  return {
    recipient: await identityToRecipient(identity),
    async open(armored) {
      const decrypter = new Decrypter();
      decrypter.addIdentity(identity);
      return decrypter.decrypt(armor.decode(armored), 'text');
    },
  };
}

async function signIn() {
  problem(null);
  const metadata = await providerMetadata();
  const verifier = b64url(random(32));
  const challenge = b64url(new Uint8Array(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(verifier))));
  const state = b64url(random(16));
  const nonce = b64url(random(16));
  sessionStorage.setItem(PKCE_KEY, JSON.stringify({ verifier, state, nonce }));
  const url = new URL(metadata.authorization_endpoint);
  for (const [name, value] of Object.entries({
    client_id: discovery.client_id,
    response_type: 'code',
    scope: 'openid email',
    redirect_uri: redirectUri,
    code_challenge: challenge,
    code_challenge_method: 'S256',
    state,
    nonce,
  })) {
    url.searchParams.set(name, value);
  }
  location.assign(url.href);
}

// Back from the identity provider: the code leaves the URL at once, then is redeemed.
async function finishSignIn(params) {
  history.replaceState(null, '', redirectUri);
  const saved = JSON.parse(sessionStorage.getItem(PKCE_KEY) ?? 'null');
  sessionStorage.removeItem(PKCE_KEY);
  if (params.has('error')) {
    throw new Error(`The sign-in was refused: ${params.get('error_description') ?? params.get('error')}`);
  }
  if (!saved || saved.state !== params.get('state')) {
    throw new Error('This sign-in was not started by this page. Sign in again.');
  }
  const metadata = await providerMetadata();
  const response = await fetch(metadata.token_endpoint, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      grant_type: 'authorization_code',
      code: params.get('code'),
      redirect_uri: redirectUri,
      client_id: discovery.client_id,
      code_verifier: saved.verifier,
    }),
    cache: 'no-store',
    credentials: 'omit',
  });
  const tokens = await response.json();
  if (!response.ok || !tokens.id_token) {
    throw new Error(`The sign-in could not be completed: ${tokens.error_description ?? tokens.error ?? response.status}`);
  }
  if (claimsOf(tokens.id_token).nonce !== saved.nonce) {
    throw new Error('The identity provider answered for another sign-in. Sign in again.');
  }
  idToken = tokens.id_token;
}

function element(tag, text, attributes = {}) {
  const node = document.createElement(tag);
  if (text !== undefined) {
    node.textContent = text;
  }
  for (const [name, value] of Object.entries(attributes)) {
    node.setAttribute(name, value);
  }
  return node;
}

function table(headings, rows) {
  const result = element('table');
  const head = result.createTHead().insertRow();
  for (const heading of headings) {
    head.append(element('th', heading, { scope: 'col' }));
  }
  const body = result.createTBody();
  for (const row of rows) {
    const line = body.insertRow();
    for (const cell of row) {
      const td = line.insertCell();
      if (cell instanceof Node) {
        td.append(cell);
      } else {
        td.textContent = cell;
      }
    }
  }
  return result;
}

function daysSince(date) {
  if (!date) {
    return '';
  }
  const days = Math.floor((Date.now() - Date.parse(date)) / 86_400_000);
  return days === 0 ? 'today' : `${days} day${days === 1 ? '' : 's'} ago`;
}

// A user's status (GET /users/{u}) as the person or an admin reads it; `onRevoke` adds a button per role.
function renderStatus(status, onRevoke) {
  const view = document.createDocumentFragment();
  view.append(element('h3', 'Roles'));
  if (status.roles.length === 0) {
    view.append(element('p', 'No role.'));
  } else {
    view.append(table(onRevoke ? ['Role', 'ARN', ''] : ['Role', 'ARN'], status.roles.map((role) => {
      const row = [role.name, role.arn];
      if (onRevoke) {
        const button = element('button', `Revoke ${role.name}`, { type: 'button', class: 'danger' });
        button.addEventListener('click', () => onRevoke(role.name));
        row.push(button);
      }
      return row;
    })));
  }
  view.append(element('h3', 'MFA'));
  view.append(element('p', { enabled: 'On.', pending: 'Set up but not turned on yet.', none: 'None.' }[status.mfa?.status] ?? status.mfa?.status));
  view.append(element('h3', 'Access keys'));
  view.append(status.access_keys.length === 0
    ? element('p', 'No access key.')
    : table(['Key', 'Status', 'Created', 'Last used'], status.access_keys.map((key) => [
      key.access_key_id,
      key.status,
      `${key.created?.slice(0, 10) ?? ''} (${daysSince(key.created)})`,
      key.last_used_date ? `${daysSince(key.last_used_date)}${key.last_used_service ? ` (${key.last_used_service})` : ''}` : 'never',
    ])));
  if (!status.in_desired_state) {
    view.append(element('h3', 'Differences from what was granted'));
    const list = element('ul');
    for (const line of [...(status.differences ?? []), ...(status.accounts_unreachable ?? [])]) {
      list.append(element('li', line));
    }
    view.append(list);
  }
  return view;
}

async function showMyAccess() {
  try {
    const status = await api('GET', userPath(me.username));
    $('access-view').replaceChildren(renderStatus(status));
    $('enrol-again').hidden = status.mfa?.status === 'enabled';
    show(...['access', me.admin ? 'admin' : null].filter(Boolean));
  } catch (error) {
    if (error.code === 'user_not_found') {
      showPick();
      return;
    }
    throw error;
  }
}

function showPick() {
  const roles = $('pick-roles');
  roles.replaceChildren();
  for (const role of me.roles) {
    const label = element('label');
    const box = element('input', undefined, { type: 'checkbox', name: 'role', value: role.name });
    box.checked = role.self_service;
    const where = role.account ? ` (account ${role.account})` : '';
    label.append(box, `${role.name}${where}${role.description ? `: ${role.description}` : ''}`);
    roles.append(label);
  }
  show('pick', ...(me.admin ? ['admin'] : []));
}

async function createAccess(event) {
  event.preventDefault();
  problem(null);
  say('');
  const roles = [...document.querySelectorAll('#pick-roles input:checked')].map((box) => box.value);
  if (roles.length === 0) {
    problem(new Error('Choose at least one role.'));
    return;
  }
  const keys = await receiver();
  const answer = await api('POST', 'users', { roles, encrypt_to: keys.recipient });
  onboarding = answer;
  const armored = answer.access_key?.secret_access_key_age;
  if (armored) {
    shownKey = { id: answer.access_key.access_key_id, secret: await keys.open(armored), previous: null };
  } else if (answer.access_key?.secret_lost) {
    problem(new Error('Your key was made by an earlier request whose answer was lost. Use “Rotate my key” for a new one.'));
  }
  if (answer.mfa?.status === 'pending' && answer.mfa.qr_code_png_base64) {
    showMfa(answer.mfa);
  } else if (shownKey) {
    showKey();
  } else {
    await showMyAccess();
  }
}

function showMfa(mfa) {
  $('mfa-qr').src = `data:image/png;base64,${mfa.qr_code_png_base64}`;
  const secret = new URL(mfa.otpauth_uri).searchParams.get('secret') ?? '';
  const grouped = secret.match(/.{1,4}/g)?.join(' ') ?? '';
  $('mfa-secret').textContent = grouped;
  $('mfa-qr').alt = `QR code of your MFA secret, for an authenticator app; the same secret is written out next to it: ${grouped}`;
  $('mfa-form').reset();
  show('mfa');
}

async function enableMfa(event) {
  event.preventDefault();
  problem(null);
  const form = new FormData($('mfa-form'));
  await api('POST', userPath(me.username, '/mfa'), { code1: form.get('code1').trim(), code2: form.get('code2').trim() });
  $('mfa-qr').removeAttribute('src');
  $('mfa-secret').textContent = '';
  say('MFA is on.');
  if (shownKey) {
    showKey();
  } else {
    await showMyAccess();
  }
}

function cliConfig() {
  if (onboarding?.aws_cli_config) {
    return onboarding.aws_cli_config;
  }
  return '# onboarding setup writes your profiles here\n';
}

function assumeLines() {
  const answer = onboarding;
  if (!answer) {
    return '';
  }
  const identity = answer.source_identity ?? me.username;
  const serial = answer.mfa?.serial_number;
  return answer.roles.map((role) => [
    'aws sts assume-role',
    `--profile ${me.username}`,
    `--role-arn ${role.arn}`,
    `--role-session-name ${identity}`,
    `--source-identity ${identity}`,
    serial ? `--serial-number ${serial} --token-code <code>` : '',
  ].filter(Boolean).join(' ')).join('\n');
}

function plainCredentials() {
  return `[${me.username}]\naws_access_key_id = ${shownKey.id}\naws_secret_access_key = ${shownKey.secret}\n`;
}

function showKey() {
  $('key-id').textContent = shownKey.id;
  $('key-secret').textContent = shownKey.secret;
  $('setup-command').textContent = `onboarding setup ${base.href.replace(/\/$/, '')} --profile ${me.username}`;
  $('cli-config').textContent = cliConfig();
  $('plain-credentials').textContent = plainCredentials();
  $('plain-assume').textContent = assumeLines() || 'aws sts assume-role … (see My access for your roles)';
  chooseUse();
  show('key');
}

function chooseUse() {
  const plain = document.querySelector('input[name="use"]:checked')?.value === 'plain';
  $('use-cli').hidden = plain;
  $('use-plain').hidden = !plain;
}

// The secret goes from the page and from memory; a rotation's previous key is deleted now that the new
// one has been taken.
async function forgetKey() {
  const previous = shownKey?.previous;
  shownKey = null;
  for (const id of ['key-secret', 'key-id', 'plain-credentials']) {
    $(id).textContent = '';
  }
  if (previous && idToken) {
    await api('DELETE', userPath(me.username, `/access-keys/${encodeURIComponent(previous)}`));
    say(`Your previous key ${previous} is deleted.`);
  }
}

function download(name, text) {
  const link = element('a', undefined, { download: name });
  link.href = URL.createObjectURL(new Blob([text], { type: 'text/plain' }));
  link.click();
  setTimeout(() => URL.revokeObjectURL(link.href), 0);
}

async function rotate() {
  problem(null);
  const keys = await receiver();
  const answer = await api('POST', userPath(me.username, '/access-keys'), { encrypt_to: keys.recipient });
  shownKey = {
    id: answer.access_key.access_key_id,
    secret: await keys.open(answer.access_key.secret_access_key_age),
    previous: answer.previous_access_key?.access_key_id ?? null,
  };
  if (shownKey.previous) {
    say(`Your previous key ${shownKey.previous} is now inactive; it is deleted when you press Done.`);
  }
  showKey();
}

async function enrolAgain() {
  problem(null);
  const answer = await api('POST', userPath(me.username, '/mfa'), {});
  showMfa(answer.mfa ?? answer);
}

let adminTarget = null;

async function showSomeone(event) {
  event?.preventDefault();
  problem(null);
  const username = event ? new FormData($('admin-form')).get('username').trim() : adminTarget;
  adminTarget = username;
  const status = await api('GET', userPath(username));
  $('admin-view').replaceChildren(renderStatus(status, revoke));
  $('offboard-form').hidden = false;
  $('offboard-form').reset();
}

async function revoke(role) {
  problem(null);
  const answer = await api('DELETE', userPath(adminTarget, `/roles/${encodeURIComponent(role)}`));
  say(`${role}: ${answer.outcome.replaceAll('_', ' ')}.`);
  await showSomeone();
}

async function offboard(event) {
  event.preventDefault();
  problem(null);
  if ($('offboard-confirm').value.trim() !== adminTarget) {
    problem(new Error(`Type ${adminTarget} exactly to offboard it.`));
    return;
  }
  const answer = await api('DELETE', userPath(adminTarget));
  $('admin-view').replaceChildren(element('p', `${adminTarget}: ${answer.outcome.replaceAll('_', ' ')}.`));
  $('offboard-form').hidden = true;
  adminTarget = null;
}

// Each handler's failure is shown in words, never lost in the console.
function guarded(handler) {
  return (event) => {
    handler(event).catch(problem);
  };
}

function wire() {
  $('signin-button').addEventListener('click', guarded(signIn));
  $('pick-form').addEventListener('submit', guarded(createAccess));
  $('mfa-form').addEventListener('submit', guarded(enableMfa));
  for (const radio of document.querySelectorAll('input[name="use"]')) {
    radio.addEventListener('change', chooseUse);
  }
  for (const button of document.querySelectorAll('button.copy')) {
    button.addEventListener('click', guarded(async () => {
      await navigator.clipboard.writeText($(button.dataset.copy).textContent);
      say('Copied.');
    }));
  }
  $('download-cli').addEventListener('click', () => {
    download('config', cliConfig());
  });
  $('download-plain').addEventListener('click', guarded(async () => {
    download('credentials', plainCredentials());
    await forgetKey();
    await showMyAccess();
  }));
  $('key-done').addEventListener('click', guarded(async () => {
    await forgetKey();
    await showMyAccess();
  }));
  $('rotate').addEventListener('click', guarded(rotate));
  $('enrol-again').addEventListener('click', guarded(enrolAgain));
  $('admin-form').addEventListener('submit', guarded(showSomeone));
  $('offboard-form').addEventListener('submit', guarded(offboard));
  // Leaving the page (or closing the tab) drops the secret and the token from memory.
  addEventListener('pagehide', () => {
    shownKey = null;
    idToken = null;
  });
}

async function start() {
  wire();
  discovery = await getJson(new URL('.well-known/onboarding', base));
  const params = new URLSearchParams(location.search);
  if (!params.has('code') && !params.has('error')) {
    show('signin');
    return;
  }
  await finishSignIn(params);
  me = await api('GET', 'me');
  $('who').textContent = `Signed in as ${me.username}${me.admin ? ' (admin)' : ''}`;
  $('who').hidden = false;
  await showMyAccess();
}

start().catch((error) => {
  problem(error);
  if (!idToken) {
    show('signin');
  }
});
