// Signing in against a real listening server (for SSE and browser tests, where supertest's agent does not reach).
import type { Server } from 'node:http';
import type { Express } from 'express';
import type { Deps } from '../../src/deps.ts';
import { hashPassword } from '../../src/domain/passwords.ts';
import type { Role } from '../../src/domain/roles.ts';

export async function listen(app: Express): Promise<{ server: Server; baseUrl: string; close: () => Promise<void> }> {
  const server = await new Promise<Server>((resolve) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s));
  });
  const { port } = server.address() as { port: number };
  return {
    server,
    baseUrl: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** Creates the account unless it exists: an operator unless a role is given (a second account, not the admin). */
export async function ensureUser(deps: Deps, username: string, password: string, role: Role = 'operator') {
  return (await deps.repos.users.findByUsername(username)) ?? deps.repos.users.create({ username, passwordHash: await hashPassword(password), role });
}

const cookieOf = (res: Response) => res.headers.getSetCookie().find((c) => c.startsWith('launchpad.sid='))?.split(';')[0];

/** Signs in with fetch and returns the session cookie and a CSRF token for that session. */
export async function signIn(baseUrl: string, username: string, password: string): Promise<{ cookie: string; csrf: string }> {
  const page = await fetch(`${baseUrl}/login`);
  // Not signed in yet: the sign-in form's CSRF token is bound to a cookie, not to a stored session.
  const first = page.headers.getSetCookie().find((c) => c.startsWith('launchpad.form='))!.split(';')[0]!;
  const token = /name="_csrf" value="([^"]+)"/.exec(await page.text())![1]!;
  const res = await fetch(`${baseUrl}/login`, {
    method: 'POST',
    redirect: 'manual',
    headers: { Cookie: first, 'Content-Type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ _csrf: token, username, password }),
  });
  if (res.status !== 303) throw new Error(`sign-in failed with ${res.status}`);
  const cookie = cookieOf(res)!;
  const after = await fetch(`${baseUrl}/containers`, { headers: { Cookie: cookie } });
  const csrf = /<meta name="csrf-token" content="([^"]+)"/.exec(await after.text())![1]!;
  return { cookie, csrf };
}
