// The three roles of a Launchpad account and what each may do. A leaf module: the route tables, the repositories
// and the container vocabulary all ask it, so it imports nothing.

/** Ordered from most to least power: each role may do everything a later one may. */
export const ROLES = ['admin', 'operator', 'viewer'] as const;
export type Role = (typeof ROLES)[number];

export const isRole = (value: unknown): value is Role => typeof value === 'string' && (ROLES as readonly string[]).includes(value);

/** Whether `role` carries at least the power of `needed` (an admin may do what an operator may, and so on). */
export const hasRole = (role: Role, needed: Role): boolean => ROLES.indexOf(role) <= ROLES.indexOf(needed);

/** Admins and viewers see every container; an operator sees the containers they own. */
export const seesEveryContainer = (role: Role): boolean => role !== 'operator';

/** Who may act on a container: its owner if an operator, any admin; a viewer never. */
export const mayActOn = (viewer: { id: number; role: Role }, ownerId: number): boolean =>
  viewer.role === 'admin' || (viewer.role === 'operator' && viewer.id === ownerId);

export const ROLE_DESCRIPTIONS: Record<Role, string> = {
  admin: 'everything: nodes, templates, package sets, users and every container',
  operator: 'deploys from any template onto any node; sees and acts on their own containers',
  viewer: 'read-only: sees every container, its page, live stream and log; no actions',
};
