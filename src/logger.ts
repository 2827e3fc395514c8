import { pino, type DestinationStream, type Logger } from 'pino';

export type { Logger };

// Field names that may carry a secret anywhere in a log object; pino replaces their values.
const REDACT = [
  'password', 'password_confirm', 'token_secret', 'tokenSecret', 'ssh_private_key', 'privateKey', 'secret',
  'authorization', 'cookie', '_csrf',
].flatMap((k) => [k, `*.${k}`, `*.*.${k}`]);

export function createLogger(level: string, name: string, destination?: DestinationStream): Logger {
  const options = {
    name,
    level,
    redact: { paths: [...REDACT, 'req.headers.cookie', 'req.headers.authorization', 'req.headers["x-csrf-token"]', 'res.headers["set-cookie"]'], censor: '[redacted]' },
  };
  return destination ? pino(options, destination) : pino(options);
}
