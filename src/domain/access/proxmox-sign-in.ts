// "Sign in with Proxmox VE": off by default; an admin picks the node that checks passwords and what happens to a
// Proxmox user no Launchpad account is linked to (refused, or created with a default role). The login form then
// offers the node's realms (`GET /access/domains`) beside "Launchpad account". A Proxmox password is checked with
// `POST /access/ticket` on that node and nothing of the answer is kept but the canonical `user@realm`, which picks
// the linked Launchpad account. The password goes to the node only, over the pinned TLS connection; it is never
// stored or logged.
import { randomBytes } from 'node:crypto';
import type { NodesRepository } from '../../db/nodes-repository.ts';
import type { SettingsRepository } from '../../db/settings-repository.ts';
import type { User, UsersRepository } from '../../db/users-repository.ts';
import { NotFoundError, ValidationError } from '../../lib/errors.ts';
import type { SecretBox } from '../../lib/secret-box.ts';
import type { Logger } from '../../logger.ts';
import type { PveRealm } from '../../proxmox/api-types.ts';
import { ProxmoxError } from '../../proxmox/errors.ts';
import { normalizeUsername } from '../accounts.ts';
import { NodeNotReadyError, proxmoxClientFor } from '../nodes/node-access.ts';
import { problemFor } from '../nodes/node-problems.ts';
import { hashPassword } from '../passwords.ts';
import { isRole, type Role } from '../roles.ts';

export interface ProxmoxSignInDeps {
  users: UsersRepository;
  settings: SettingsRepository;
  nodes: NodesRepository;
  secrets: SecretBox;
  logger: Logger;
}

export type UnknownUserPolicy = 'refuse' | 'create';

export interface ProxmoxSignInSettings {
  enabled: boolean;
  nodeId: number | null;
  unknownUsers: UnknownUserPolicy;
  /** The role of an account created for an unknown Proxmox user (only with unknownUsers = create). */
  defaultRole: Role;
}

const SETTINGS_KEY = 'proxmox_sign_in';
export const SIGN_IN_DEFAULTS: ProxmoxSignInSettings = { enabled: false, nodeId: null, unknownUsers: 'refuse', defaultRole: 'viewer' };

/** Proxmox's `pve-realm` format and the user part of `pve-userid` (no white space, `:` or `/`; ≤ 60 characters). */
const REALM = /^[A-Za-z][A-Za-z0-9.\-_]{1,31}$/;
const PVE_USER = /^[^\s:/@]{1,60}$/;
const PVE_USERID = /^[^\s:/@]{1,60}@[A-Za-z][A-Za-z0-9.\-_]{1,31}$/;

export async function loadSignInSettings(deps: Pick<ProxmoxSignInDeps, 'settings'>): Promise<ProxmoxSignInSettings> {
  const raw = await deps.settings.get(SETTINGS_KEY);
  if (!raw) return SIGN_IN_DEFAULTS;
  const stored = JSON.parse(raw) as Partial<ProxmoxSignInSettings>;
  return {
    enabled: stored.enabled === true,
    nodeId: typeof stored.nodeId === 'number' ? stored.nodeId : null,
    unknownUsers: stored.unknownUsers === 'create' ? 'create' : 'refuse',
    defaultRole: isRole(stored.defaultRole) ? stored.defaultRole : 'viewer',
  };
}

type SignInForm = { enabled?: unknown; node_id?: unknown; unknown_users?: unknown; default_role?: unknown };

/** The form as typed, to show it again after a refusal: what was chosen stays chosen, valid or not. */
export function signInFormValues(input: SignInForm): { enabled: boolean; nodeId: number | null; unknownUsers: unknown; defaultRole: unknown } {
  return {
    enabled: input.enabled === 'on' || input.enabled === '1' || input.enabled === 'true',
    nodeId: typeof input.node_id === 'string' && /^\d{1,9}$/.test(input.node_id) ? Number(input.node_id) : null,
    unknownUsers: input.unknown_users,
    defaultRole: input.default_role,
  };
}

/** The admin's form: enabled (checkbox), node_id, unknown_users, default_role. */
export async function saveSignInSettings(
  deps: Pick<ProxmoxSignInDeps, 'settings' | 'nodes'>,
  input: SignInForm,
): Promise<ProxmoxSignInSettings> {
  const fields: Record<string, string> = {};
  const { enabled, nodeId } = signInFormValues(input);
  const node = nodeId === null ? undefined : await deps.nodes.findById(nodeId);
  if (enabled && !node) fields.node_id = 'Choose the node that checks Proxmox VE passwords.';
  if (input.unknown_users !== 'refuse' && input.unknown_users !== 'create') fields.unknown_users = 'Choose whether unknown Proxmox VE users are refused or get an account.';
  if (!isRole(input.default_role)) fields.default_role = 'Choose admin, operator or viewer.';
  if (Object.keys(fields).length) throw new ValidationError(fields);
  const settings: ProxmoxSignInSettings = {
    enabled,
    nodeId: node?.id ?? null,
    unknownUsers: input.unknown_users as UnknownUserPolicy,
    defaultRole: input.default_role as Role,
  };
  await deps.settings.set(SETTINGS_KEY, JSON.stringify(settings));
  realmCache.clear();
  return settings;
}

export interface LoginRealms {
  realms: PveRealm[];
  /** Set when the node could not be asked: the realms shown are Proxmox's two built-in ones. */
  note?: string;
}

// The login form is the busiest page a node would be asked for: its realm list is remembered for a minute.
const REALMS_TTL_MS = 60_000;
const realmCache = new Map<number, { at: number; value: LoginRealms }>();
const BUILT_IN_REALMS: PveRealm[] = [
  { realm: 'pam', type: 'pam', comment: 'Linux PAM standard authentication' },
  { realm: 'pve', type: 'pve', comment: 'Proxmox VE authentication server' },
];

/** What the login form offers besides a Launchpad account; undefined while Proxmox sign-in is off. */
export async function loginRealms(deps: ProxmoxSignInDeps): Promise<LoginRealms | undefined> {
  const settings = await loadSignInSettings(deps);
  const node = settings.enabled ? await deps.nodes.findById(settings.nodeId) : undefined;
  if (!node) return undefined;
  const cached = realmCache.get(node.id);
  if (cached && Date.now() - cached.at < REALMS_TTL_MS) return cached.value;
  let value: LoginRealms;
  try {
    const client = proxmoxClientFor(node, deps.secrets, { requestTimeoutMs: 5_000, retry: { attempts: 1 } });
    try {
      const realms = (await client.listRealms()).filter((r) => REALM.test(r.realm));
      value = { realms: realms.length ? realms : BUILT_IN_REALMS };
    } finally {
      client.close();
    }
  } catch (err) {
    deps.logger.warn({ node: node.name, err: err instanceof Error ? err.message : String(err) }, 'could not list the sign-in realms of the Proxmox node');
    value = { realms: BUILT_IN_REALMS, note: `Node “${node.name}” did not answer; only its built-in realms are listed.` };
  }
  realmCache.set(node.id, { at: Date.now(), value });
  return value;
}

export type ProxmoxSignIn =
  | { ok: true; user: User; userid: string; created: boolean }
  | { ok: false; status: 401 | 403 | 422 | 503; error: string };

const refused = (status: 401 | 403 | 422 | 503, error: string): ProxmoxSignIn => ({ ok: false, status, error });

/** Checks the password with the node and returns the linked (or newly created) Launchpad account. */
export async function signInWithProxmox(deps: ProxmoxSignInDeps, input: { username: string; realm: string; password: string }): Promise<ProxmoxSignIn> {
  const settings = await loadSignInSettings(deps);
  const node = settings.enabled ? await deps.nodes.findById(settings.nodeId) : undefined;
  if (!node) return refused(422, 'Sign-in with Proxmox VE accounts is off. Choose “Launchpad account”.');
  if (input.username.includes('@')) return refused(422, `Type the user name without “@realm” and choose the realm in the list.`);
  if (!PVE_USER.test(input.username) || !REALM.test(input.realm)) return refused(401, 'Wrong username or password.');
  if (!input.password) return refused(401, 'Wrong username or password.');

  let check;
  try {
    const client = proxmoxClientFor(node, deps.secrets, { requestTimeoutMs: 10_000, retry: { attempts: 1 } });
    try {
      check = await client.checkLogin(input);
    } finally {
      client.close();
    }
  } catch (err) {
    if (!(err instanceof ProxmoxError) && !(err instanceof NodeNotReadyError)) throw err;
    const problem = problemFor(err, { node });
    deps.logger.warn({ node: node.name, err: err.message }, 'Proxmox VE sign-in: the node could not check the password');
    return refused(503, `Proxmox VE node “${node.name}” could not check the password${problem ? ` (${problem.title.toLowerCase()}: ${problem.message})` : ''}. Try again in a moment, or sign in with a Launchpad account.`);
  }
  if (!check.ok && check.reason === 'needs-tfa') {
    return refused(401, `Proxmox VE asks ${input.username}@${input.realm} for a second factor, which Launchpad cannot pass on. Sign in with a Launchpad account instead (an admin can send you an invite link).`);
  }
  if (!check.ok) return refused(401, 'Wrong username or password.');

  const linked = await deps.users.findByPveUserid(check.userid);
  if (linked) {
    if (linked.disabledAt) return refused(403, `Proxmox VE accepted ${check.userid}, but its Launchpad account “${linked.username}” is disabled. Ask an admin.`);
    return { ok: true, user: linked, userid: check.userid, created: false };
  }
  if (settings.unknownUsers === 'refuse') {
    return refused(403, `Proxmox VE accepted ${check.userid}, but no Launchpad account is linked to it. Ask an admin to link it under Users.`);
  }
  const user = await createLinkedAccount(deps, check.userid, settings.defaultRole);
  if (!user) return refused(403, `Proxmox VE accepted ${check.userid}, but no Launchpad username could be made from it. Ask an admin to create an account and link it under Users.`);
  deps.logger.info({ userId: user.id, pveUserid: check.userid, role: user.role }, 'account created at first sign-in with Proxmox VE');
  return { ok: true, user, userid: check.userid, created: true };
}

/** `alice@pve` → account `alice`, or `alice-pve` when `alice` is taken; undefined when neither can be a username. */
async function createLinkedAccount(deps: Pick<ProxmoxSignInDeps, 'users'>, userid: string, role: Role): Promise<User | undefined> {
  const [name, realm] = [userid.slice(0, userid.lastIndexOf('@')), userid.slice(userid.lastIndexOf('@') + 1)];
  for (const candidate of [normalizeUsername(name), normalizeUsername(`${name}-${realm}`)]) {
    if (!candidate || (await deps.users.findByUsername(candidate))) continue;
    // No Launchpad password until an admin sends an invite link: a random one nobody knows.
    return deps.users.create({ username: candidate, passwordHash: await hashPassword(randomBytes(32).toString('hex')), role, pveUserid: userid });
  }
  return undefined;
}

/** The admin links an account to a Proxmox VE user (`name@realm`), or unlinks it with an empty value. */
export async function linkProxmoxUser(deps: Pick<ProxmoxSignInDeps, 'users'>, rawId: string, value: unknown): Promise<{ user: User; pveUserid: string | null }> {
  const user = /^\d{1,9}$/.test(rawId) ? await deps.users.findById(Number(rawId)) : undefined;
  if (!user) throw new NotFoundError('That user');
  const pveUserid = typeof value === 'string' && value.trim() ? value.trim() : null;
  if (pveUserid !== null && !PVE_USERID.test(pveUserid)) {
    throw new ValidationError({ pve_userid: 'Type the Proxmox VE user as name@realm, e.g. alice@pve or root@pam.' });
  }
  if (!(await deps.users.setPveUserid(user.id, pveUserid))) {
    throw new ValidationError({ pve_userid: `${pveUserid} is already linked to another account.` });
  }
  return { user, pveUserid };
}
