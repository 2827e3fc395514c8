// The simulated node's own user database (pve-access-control's user.cfg + the pam/pve password stores), for
// `POST /access/ticket`: a list of `user@realm` with a password, kept in <dataDir>/secrets/pve-users.json (0600) so an
// admin can add users with a text editor. A new data directory gets one user, `launchpad-demo@pve`, with a random
// password (read it from the file). Only the realms `pam` and `pve` exist, as on a fresh Proxmox VE install.
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface PveUser {
  /** `name@realm`, case as stored (Proxmox compares user names case-sensitively). */
  userid: string;
  password: string;
  /** false: the account exists but is disabled (`enable 0` in user.cfg). */
  enable?: boolean;
}

/** `GET /access/domains` on a fresh install: the comments are what the login window shows. */
export const REALMS = [
  { realm: 'pam', type: 'pam', comment: 'Linux PAM standard authentication' },
  { realm: 'pve', type: 'pve', comment: 'Proxmox VE authentication server' },
] as const;

export const PVE_USERS_FILE = 'pve-users.json';

export function loadOrCreatePveUsers(secretsDir: string): PveUser[] {
  const file = join(secretsDir, PVE_USERS_FILE);
  if (!existsSync(file)) {
    const users: PveUser[] = [{ userid: 'launchpad-demo@pve', password: randomBytes(12).toString('base64url') }];
    writeFileSync(file, `${JSON.stringify(users, null, 2)}\n`, { mode: 0o600 });
  }
  const parsed: unknown = JSON.parse(readFileSync(file, 'utf8'));
  if (!Array.isArray(parsed)) throw new Error(`${file}: expected a JSON array of {"userid": "name@realm", "password": "…"}`);
  return parsed.filter((u): u is PveUser => typeof u?.userid === 'string' && typeof u?.password === 'string');
}

/**
 * Checks a password the way `create_ticket` does: the realm comes from the `realm` parameter when given (appended to
 * the user name), else from the user name; an unknown realm, an unknown or disabled user or a wrong password are all
 * the same "authentication failure". Returns the canonical `user@realm` when the password is right.
 */
export function checkPveLogin(users: readonly PveUser[], input: { username: string; password: string; realm?: string }): string | undefined {
  const userid = input.realm ? `${input.username}@${input.realm}` : input.username;
  const at = userid.lastIndexOf('@');
  const realm = at > 0 ? userid.slice(at + 1) : '';
  if (!REALMS.some((r) => r.realm === realm) || userid.indexOf('@') !== at) return undefined;
  const user = users.find((u) => u.userid === userid);
  const same = (a: string, b: string) => a.length === b.length && timingSafeEqual(Buffer.from(a), Buffer.from(b));
  return user && user.enable !== false && same(user.password, input.password) ? user.userid : undefined;
}
