// The simulated node's HTTPS API on 127.0.0.1, behaving like pveproxy on the wire (reference/proxmox-api.md §1–2):
// `/api2/json` envelope `{"data":…}`, API-token auth with the 3 s delay on 401, every parameter validated against
// the schema subset, errors as status line + `{"data":null[,"errors"],"message"}`, `Connection: close` on every
// error, 5 s keep-alive idle timeout. Every request is recorded with its validation result so contract tests
// can prove the client only sends what a real node accepts.
import { timingSafeEqual } from 'node:crypto';
import https from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { routeIsNewerThan, type ApiResult, type RouteHandler } from './api-routes.ts';
import { isOlderRelease, type SimulatorFaults } from './faults.ts';
import { PveHttpError } from './pve-error.ts';
import type { PveSchema } from './pve-schema.ts';

export interface ApiServerOptions {
  schema: PveSchema;
  routes: ReadonlyMap<string, RouteHandler>;
  faults: SimulatorFaults;
  node: string;
  /** The other cluster nodes that hold a CT someone moved there (state.peerNodes): the calls in PEER_ROUTES reach them. */
  peerNodes: () => ReadonlySet<string>;
  /** `user@realm!tokenid` and its secret: the only credentials accepted. */
  tokenId: string;
  tokenSecret: string;
  tls: { cert: string; key: string };
  host?: string;
  port?: number;
  /** pveproxy delays every 401 by 3 s; tests set 0. */
  authDelayMs: number;
}

/**
 * Calls pve-manager's auth handler lets through without a ticket or token (HTTPServer.pm `auth_handler`): the
 * realm list for the login window and the ticket call itself.
 */
const WITHOUT_AUTH = new Set(['GET /access/domains', 'GET /access/ticket', 'POST /access/ticket']);

/**
 * What a peer node answers (pveproxy forwards a call for another cluster node to it): reading the CTs it holds.
 * The simulator emulates no more of a peer than that, and says so for anything else.
 */
const PEER_ROUTES = new Set(['GET /nodes/{node}/lxc', 'GET /nodes/{node}/lxc/{vmid}/config', 'GET /nodes/{node}/lxc/{vmid}/status/current']);

export interface RecordedRequest {
  /** 1, 2, 3… in arrival order since the server started (never reused, unlike positions in the trimmed log). */
  seq: number;
  method: string;
  /** Path below /api2/json. */
  path: string;
  /** The schema route it matched, e.g. `/nodes/{node}/lxc`. */
  route?: string;
  /** Parameters as received (secrets masked). */
  params: Record<string, unknown>;
  /** Schema violations; empty when the request was valid. */
  violations: Record<string, string>;
  status: number;
}

export interface ApiServerHandle {
  url: string;
  port: number;
  /** The last requests (newest last), for contract tests and for counting what a page asks of the node. */
  readonly requests: RecordedRequest[];
  close(): Promise<void>;
}

const PREFIX = '/api2/json';
const MAX_BODY = 1024 * 1024;
const KEPT_REQUESTS = 2000;
const SECRET_PARAMS = new Set(['password']);

export async function startApiServer(options: ApiServerOptions): Promise<ApiServerHandle> {
  const requests: RecordedRequest[] = [];
  const counter = { seq: 0 };
  const server = https.createServer({ cert: options.tls.cert, key: options.tls.key }, (req, res) => {
    handle(options, requests, counter, req, res).catch((err: unknown) => {
      if (res.headersSent) return void res.destroy();
      const status = err instanceof PveHttpError ? err.status : 500;
      sendError(res, status, err instanceof Error ? err.message : String(err), err instanceof PveHttpError ? err.errors : undefined, false);
    });
  });
  // pveproxy: idle keep-alive connections are closed after 5 s, at most 100 requests per connection.
  server.keepAliveTimeout = 5000;
  server.maxRequestsPerSocket = 100;

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, options.host ?? '127.0.0.1', () => resolve());
  });
  const address = server.address() as AddressInfo;
  return {
    url: `https://127.0.0.1:${address.port}`,
    port: address.port,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

async function handle(options: ApiServerOptions, requests: RecordedRequest[], counter: { seq: number }, req: IncomingMessage, res: ServerResponse): Promise<void> {
  if (options.faults.current.unreachable) {
    req.socket.destroy();
    return;
  }
  const method = req.method ?? 'GET';
  const url = new URL(req.url ?? '/', 'https://localhost');
  // libpve-http-server 5.2.0 (PVE 8.4) added `message` to error bodies.
  const legacy = options.faults.current.legacyErrorBodies || isOlderRelease(options.faults.current.pveVersion, [8, 4]);
  if (!url.pathname.startsWith(`${PREFIX}/`) && url.pathname !== PREFIX) {
    req.resume();
    return sendPlain(res, 501, 'no such uri');
  }
  const apiPath = url.pathname.slice(PREFIX.length) || '/';
  const body = await readBody(req);

  const match = options.schema.match(method, apiPath);
  const handler = match && !routeIsNewerThan(`${method} ${match.route}`, options.faults.current.pveVersion) ? options.routes.get(`${method} ${match.route}`) : undefined;
  if (!match || !handler) return sendError(res, 501, `Method '${method} ${apiPath}' not implemented`, undefined, legacy);

  const auth = checkToken(req.headers.authorization, options.tokenId, options.tokenSecret);
  if (auth !== 'ok' && !WITHOUT_AUTH.has(`${method} ${match.route}`)) {
    if (options.authDelayMs > 0) await sleep(options.authDelayMs);
    return sendError(res, 401, auth === 'missing' ? 'No ticket' : 'Authentication failed!', undefined, legacy);
  }
  if (auth === 'ok' && match.schema.allowtoken === 0) {
    // The inner text ends in a newline, so the closing parenthesis never reaches the status line (proxmox-api.md §1.1).
    return sendError(res, 403, `Permission check failed (URI '${apiPath}' not available with API token, need proper ticket.\n)`, undefined, legacy);
  }

  const injected = options.faults.takeRequestFault(method, apiPath);
  if (injected) {
    res.writeHead(injected.status, injected.reason, { Connection: 'close', 'Content-Length': '0', Server: 'pve-api-daemon/3.0' });
    return void res.end();
  }

  // Query parameters are merged into the body and win; DELETE takes parameters from the query only.
  const params: Record<string, unknown> = { ...(method === 'DELETE' ? {} : parseBody(req, body)) };
  for (const [k, v] of url.searchParams) if (k !== '_dc') params[k] = v;
  Object.assign(params, match.pathParams);

  const { values, errors } = options.schema.validate(match.schema, params);
  const record: RecordedRequest = { seq: ++counter.seq, method, path: apiPath, route: match.route, params: mask(params), violations: errors, status: 0 };
  requests.push(record);
  if (requests.length > KEPT_REQUESTS) requests.shift();

  let status = 200;
  try {
    if (Object.keys(errors).length > 0) throw new PveHttpError(400, 'Parameter verification failed.', errors);
    if (values.node !== undefined && values.node !== options.node) {
      if (!options.peerNodes().has(String(values.node))) {
        throw new PveHttpError(500, `hostname lookup '${values.node}' failed - failed to get address info for: ${values.node}: Name or service not known`);
      }
      if (!PEER_ROUTES.has(`${method} ${match.route}`)) {
        throw new PveHttpError(501, `the simulator is one node: of cluster node '${values.node}' it answers only ${[...PEER_ROUTES].join(', ')}`);
      }
    }
    const result = handler({ params: values, user: options.tokenId });
    sendData(res, result);
  } catch (err) {
    if (!(err instanceof PveHttpError)) throw err;
    status = err.status;
    // A 401 from a handler (a wrong password on /access/ticket) is delayed too, and keeps its `{"data":null}` body.
    if (status === 401 && options.authDelayMs > 0) await sleep(options.authDelayMs);
    sendError(res, err.status, err.message, err.errors, legacy, status === 401);
  } finally {
    record.status = status;
  }
}

function checkToken(header: string | undefined, tokenId: string, secret: string): 'ok' | 'missing' | 'bad' {
  // The value after `PVEAPIToken` (after `=` or a space) runs to the next `;`, is URI-unescaped, and splits at the
  // LAST `=` into token id and secret (pve-http-server Formatter.pm, AccessControl.pm verify_token).
  const m = header ? /^PVEAPIToken[= ]([^;]*)/.exec(header.trim()) : null;
  if (!m) return 'missing';
  let value: string;
  try {
    value = decodeURIComponent(m[1]!.trim());
  } catch {
    return 'bad';
  }
  const eq = value.lastIndexOf('=');
  if (eq < 1) return 'bad';
  const same = (a: string, b: string) => a.length === b.length && timingSafeEqual(Buffer.from(a), Buffer.from(b));
  return same(value.slice(0, eq), tokenId) && same(value.slice(eq + 1), secret) ? 'ok' : 'bad';
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY) throw new PveHttpError(413, 'request entity too large');
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

function parseBody(req: IncomingMessage, body: Buffer): Record<string, unknown> {
  if (body.length === 0) return {};
  const type = req.headers['content-type'] ?? '';
  if (type.startsWith('application/json')) {
    try {
      const parsed: unknown = JSON.parse(body.toString('utf8'));
      return parsed && typeof parsed === 'object' && !Array.isArray(parsed) ? (parsed as Record<string, unknown>) : {};
    } catch {
      throw new PveHttpError(400, 'Parameter verification failed.', { body: 'unable to parse JSON body' });
    }
  }
  return Object.fromEntries(new URLSearchParams(body.toString('utf8')));
}

function mask(params: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(params).map(([k, v]) => [k, SECRET_PARAMS.has(k) ? '********' : v]));
}

const BASE_HEADERS = {
  Server: 'pve-api-daemon/3.0',
  'Cache-Control': 'max-age=0',
  Pragma: 'no-cache',
};

function sendData(res: ServerResponse, result: ApiResult): void {
  const payload = JSON.stringify(result.total === undefined ? { data: result.data } : { data: result.data, total: result.total });
  res.writeHead(200, 'OK', {
    ...BASE_HEADERS,
    'Content-Type': 'application/json;charset=UTF-8',
    'Content-Length': String(Buffer.byteLength(payload)),
    Expires: new Date().toUTCString(),
  });
  res.end(payload);
}

/** Status line = first line of the message (pve-http-server cuts it); the connection is closed after errors. */
function sendError(res: ServerResponse, status: number, message: string, errors: Record<string, string> | undefined, legacy: boolean, bodyOn401 = false): void {
  const reason = (message.split('\n')[0] ?? '').replace(/[^\t\x20-\x7e]/g, '?');
  let full = message.endsWith('\n') ? message : `${message}\n`;
  if (errors) full += Object.entries(errors).map(([k, v]) => `${k}: ${v.replace(/\n$/, '')}\n`).join('');
  // The auth handler's 401s carry no body; everything else `{"data":null}`, plus `errors` for 400 and `message` since PVE 8.4.
  const payload = status === 401 && !bodyOn401 ? '' : JSON.stringify({ ...(errors ? { errors } : {}), data: null, ...(legacy ? {} : { message: full }) });
  res.writeHead(status, reason, {
    ...BASE_HEADERS,
    Connection: 'close',
    'Content-Type': 'application/json;charset=UTF-8',
    'Content-Length': String(Buffer.byteLength(payload)),
  });
  res.end(payload);
}

function sendPlain(res: ServerResponse, status: number, text: string): void {
  res.writeHead(status, text, { ...BASE_HEADERS, Connection: 'close', 'Content-Type': 'text/plain;charset=UTF-8' });
  res.end(text);
}
