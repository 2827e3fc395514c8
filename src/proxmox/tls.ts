// TLS to a Proxmox node is verified against a pinned SHA-256 certificate fingerprint, not a CA chain: nodes
// ship self-signed certificates, and "accept any certificate" would hand the API token to whoever answers.
//
// Why not `rejectUnauthorized: true` + `checkServerIdentity`: Node only calls checkServerIdentity when chain
// verification already passed, so with a self-signed certificate it is never reached. And with
// `rejectUnauthorized: false` alone, HTTP data written before 'secureConnect' is flushed as soon as the handshake
// ends. So the agent below opens the TLS socket itself, waits for the handshake, compares the peer certificate's
// fingerprint256, and only then hands the socket to the HTTP layer — no request byte (headers with the token,
// bodies with passwords) can leave before the fingerprint matched.
import https from 'node:https';
import { isIP } from 'node:net';
import tls from 'node:tls';
import type { Duplex } from 'node:stream';
import { ProxmoxConnectionError, TlsFingerprintMismatchError } from './errors.ts';

/**
 * `AB:CD:…` (uppercase, colon-separated, 32 bytes) as Proxmox shows it (`pvenode cert info`, the web UI).
 * Accepts lowercase, spaces, or no separators; throws on anything that is not a SHA-256 digest.
 */
export function normalizeFingerprint(input: string): string {
  const hex = input.replace(/[\s:]/g, '').toUpperCase();
  if (!/^[0-9A-F]{64}$/.test(hex)) {
    throw new Error('A TLS fingerprint must be a SHA-256 digest: 32 bytes in hex, e.g. AB:CD:…');
  }
  return hex.match(/../g)!.join(':');
}

export interface PinnedAgentOptions {
  /** The pinned certificate fingerprint (any format normalizeFingerprint accepts). */
  fingerprint: string;
  /** Used in error messages only. */
  apiUrl: string;
  /** Idle keep-alive sockets are closed after this; pveproxy closes its side after 5 s, so stay below. */
  keepAliveIdleMs?: number;
  /** TCP connect + TLS handshake budget. */
  connectTimeoutMs?: number;
}

/** An https.Agent whose sockets are only ever used after the peer certificate matched the pin. */
export class PinnedHttpsAgent extends https.Agent {
  private readonly pinned: string;
  private readonly apiUrl: string;
  private readonly connectTimeoutMs: number;

  constructor(options: PinnedAgentOptions) {
    super({ keepAlive: true, timeout: options.keepAliveIdleMs ?? 3000, maxSockets: 8, maxFreeSockets: 4 });
    this.pinned = normalizeFingerprint(options.fingerprint);
    this.apiUrl = options.apiUrl;
    this.connectTimeoutMs = options.connectTimeoutMs ?? 10_000;
  }

  override createConnection(
    options: https.RequestOptions,
    callback?: (err: Error | null, stream: Duplex) => void,
  ): Duplex | null | undefined {
    const done = callback ?? (() => {});
    const host = options.host ?? options.hostname ?? 'localhost';
    const socket = tls.connect({
      host,
      port: Number(options.port ?? 443),
      servername: isIP(host) ? undefined : host,
      // Chain validation is replaced by the fingerprint comparison below, which runs before any data is written.
      rejectUnauthorized: false,
      ALPNProtocols: ['http/1.1'],
    });
    let settled = false;
    const fail = (err: Error) => {
      if (settled) return;
      settled = true;
      socket.destroy();
      done(err, socket);
    };
    const timer = setTimeout(
      () => fail(Object.assign(new Error('connect timed out'), { code: 'ETIMEDOUT' })),
      this.connectTimeoutMs,
    );
    const onError = (err: Error) => {
      clearTimeout(timer);
      fail(err);
    };
    socket.once('error', onError);
    socket.once('secureConnect', () => {
      clearTimeout(timer);
      const actual = socket.getPeerCertificate().fingerprint256;
      if (!actual || actual.toUpperCase() !== this.pinned) {
        fail(new TlsFingerprintMismatchError(this.apiUrl, this.pinned, actual ? actual.toUpperCase() : '(none)'));
        return;
      }
      settled = true;
      socket.removeListener('error', onError);
      done(null, socket);
    });
    // Returning nothing makes the agent wait for the callback (http.Agent#createSocket).
    return undefined;
  }
}

/**
 * Trust on first use: connects, reads the server certificate's SHA-256 fingerprint, and closes without sending
 * anything. Show the result to the user and let them compare it with the node (`pvenode cert info`) before saving.
 */
export async function fetchCertificateFingerprint(apiUrl: string, options: { timeoutMs?: number } = {}): Promise<string> {
  const url = new URL(apiUrl);
  const host = url.hostname.replace(/^\[|\]$/g, '');
  // The same port the API client will use: a URL without one means 443 (the URL parser drops an explicit :443).
  const port = Number(url.port || 443);
  return new Promise<string>((resolve, reject) => {
    const socket = tls.connect({ host, port, servername: isIP(host) ? undefined : host, rejectUnauthorized: false });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new ProxmoxConnectionError(url.origin, 'ETIMEDOUT'));
    }, options.timeoutMs ?? 10_000);
    socket.once('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      reject(new ProxmoxConnectionError(url.origin, err.code, err));
    });
    socket.once('secureConnect', () => {
      clearTimeout(timer);
      const fingerprint = socket.getPeerCertificate().fingerprint256;
      socket.end();
      if (fingerprint) resolve(normalizeFingerprint(fingerprint));
      else reject(new ProxmoxConnectionError(url.origin, undefined, new Error('the server sent no certificate')));
    });
  });
}
