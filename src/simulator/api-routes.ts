// The simulated node's route table: `METHOD /schema/path` → handler. Paths come from the schema subset; a schema
// path without an entry here answers 501 like an unknown path (see the list in index.ts's documentation).
import { randomBytes } from 'node:crypto';
import { isOlderRelease } from './faults.ts';
import type { LxcLifecycle } from './lxc-lifecycle.ts';
import type { NodeViews } from './node-views.ts';
import type { ParamValues } from './pve-schema.ts';
import { PveHttpError } from './pve-error.ts';
import { checkPveLogin, REALMS, type PveUser } from './pve-users.ts';
import type { TaskRunner } from './task-runner.ts';

export interface ApiCall {
  /** Validated parameters (path placeholders, query and body merged). */
  params: ParamValues;
  /** The authenticated identity, `user@realm!tokenid`. */
  user: string;
}

export interface ApiResult {
  data: unknown;
  /** Only the task log sets it. */
  total?: number;
}

export type RouteHandler = (call: ApiCall) => ApiResult;

export interface RouteDeps {
  views: NodeViews;
  lxc: LxcLifecycle;
  tasks: TaskRunner;
  /** Who may get a ticket (pve-users.ts). */
  pveUsers: readonly PveUser[];
}

const ok = (data: unknown): ApiResult => ({ data });

/**
 * `POST /access/ticket`: a right password gets a ticket and CSRF token in Proxmox's formats (signed with random bytes
 * here: nothing in the simulator accepts tickets back); anything else is 401 `authentication failure`.
 */
function createTicket(users: readonly PveUser[], params: ParamValues): ApiResult {
  const userid = checkPveLogin(users, {
    username: String(params.username),
    password: String(params.password),
    realm: params.realm === undefined ? undefined : String(params.realm),
  });
  if (!userid) throw new PveHttpError(401, 'authentication failure');
  const epoch = Math.floor(Date.now() / 1000).toString(16).toUpperCase().padStart(8, '0');
  return ok({
    username: userid,
    ticket: `PVE:${userid.replace(/:/g, '\\:')}:${epoch}::${randomBytes(256).toString('base64')}`,
    CSRFPreventionToken: `${epoch}:${randomBytes(32).toString('base64').replace(/=+$/, '')}`,
  });
}

/**
 * Endpoints younger than Proxmox VE 8.0, with the release that brought them: a node emulating an older release
 * (faults.pveVersion) answers 501 there. …/interfaces came with pve-container 5.0.6 (PVE 8.1; its changelog: "api:
 * network: add endpoint to get interfaces details like configured IPs").
 */
const ROUTES_SINCE: ReadonlyMap<string, [major: number, minor: number]> = new Map([
  ['GET /nodes/{node}/lxc/{vmid}/interfaces', [8, 1]],
]);

/** Whether a node running `version` (the pveVersion fault; undefined = the current release) lacks this route. */
export function routeIsNewerThan(route: string, version: string | undefined): boolean {
  const since = ROUTES_SINCE.get(route);
  return since !== undefined && isOlderRelease(version, since);
}

export function buildRoutes({ views, lxc, tasks, pveUsers }: RouteDeps): ReadonlyMap<string, RouteHandler> {
  const vmid = (p: ParamValues) => Number(p.vmid);
  const upid = (p: ParamValues) => String(p.upid);
  const table: [string, RouteHandler][] = [
    ['GET /version', () => ok(views.version())],
    ['GET /access/domains', () => ok(REALMS.map((r) => ({ ...r })))],
    ['GET /access/ticket', () => ok(null)],
    ['POST /access/ticket', ({ params }) => createTicket(pveUsers, params)],
    ['GET /nodes', () => ok(views.nodes())],
    ['GET /nodes/{node}/status', () => ok(views.nodeStatus())],
    ['GET /cluster/nextid', ({ params }) => ok(views.nextId(params))],
    ['GET /cluster/resources', ({ params }) => ok(views.clusterResources(params))],
    ['GET /nodes/{node}/network', ({ params }) => ok(views.network(params))],
    ['GET /nodes/{node}/storage', ({ params }) => ok(views.storages(params))],
    ['GET /nodes/{node}/storage/{storage}/content', ({ params }) => ok(views.storageContent(String(params.storage), params))],

    ['GET /nodes/{node}/lxc', ({ params }) => ok(views.lxcList(String(params.node)))],
    ['POST /nodes/{node}/lxc', ({ params, user }) => ok(lxc.create(params, user))],
    ['GET /nodes/{node}/lxc/{vmid}', ({ params }) => {
      lxc.existing(vmid(params));
      return ok(['config', 'status', 'interfaces', 'snapshot', 'firewall', 'rrd', 'rrddata'].map((subdir) => ({ subdir })));
    }],
    ['DELETE /nodes/{node}/lxc/{vmid}', ({ params, user }) => ok(lxc.destroy(vmid(params), params, user))],
    ['GET /nodes/{node}/lxc/{vmid}/config', ({ params }) => ok(views.lxcConfig(lxc.existing(vmid(params), String(params.node))))],
    ['PUT /nodes/{node}/lxc/{vmid}/config', ({ params }) => {
      lxc.updateConfig(vmid(params), params);
      return ok(null);
    }],
    ['GET /nodes/{node}/lxc/{vmid}/status/current', ({ params }) => ok(views.lxcStatus(lxc.existing(vmid(params), String(params.node))))],
    ['POST /nodes/{node}/lxc/{vmid}/status/start', ({ params, user }) => ok(lxc.start(vmid(params), user))],
    ['POST /nodes/{node}/lxc/{vmid}/status/stop', ({ params, user }) => ok(lxc.stop(vmid(params), user))],
    ['POST /nodes/{node}/lxc/{vmid}/status/shutdown', ({ params, user }) => ok(lxc.shutdown(vmid(params), user, Number(params.timeout ?? 60)))],
    ['POST /nodes/{node}/lxc/{vmid}/status/reboot', ({ params, user }) => ok(lxc.reboot(vmid(params), user))],
    ['GET /nodes/{node}/lxc/{vmid}/rrddata', ({ params }) => ok(views.rrdData(lxc.existing(vmid(params)), params))],
    ['GET /nodes/{node}/lxc/{vmid}/interfaces', ({ params }) => ok(views.interfaces(vmid(params)))],

    ['GET /nodes/{node}/tasks', ({ params }) => ok(views.tasks(params))],
    ['GET /nodes/{node}/tasks/{upid}', ({ params }) => {
      views.task(upid(params));
      return ok([{ name: 'log' }, { name: 'status' }]);
    }],
    ['DELETE /nodes/{node}/tasks/{upid}', ({ params }) => {
      tasks.stop(views.task(upid(params)).upid);
      return ok(null);
    }],
    ['GET /nodes/{node}/tasks/{upid}/status', ({ params }) => ok(views.taskStatus(upid(params)))],
    ['GET /nodes/{node}/tasks/{upid}/log', ({ params }) => views.taskLog(upid(params), params)],
  ];
  return new Map(table);
}
