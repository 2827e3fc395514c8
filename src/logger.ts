import { pino, type DestinationStream, type Logger } from 'pino';

export type { Logger };

/** `json`: one JSON object per line (log shippers, `npm start > file`); `pretty`: a line a person reads in a terminal. */
export type LogFormat = 'json' | 'pretty';

// Field names that may carry a secret anywhere in a log object; pino replaces their values.
const REDACT = [
  'password', 'password_confirm', 'token_secret', 'tokenSecret', 'ssh_private_key', 'privateKey', 'secret',
  'authorization', 'cookie', '_csrf',
].flatMap((k) => [k, `*.${k}`, `*.*.${k}`]);

/** LOG_FORMAT=auto: readable lines when stdout is a terminal, JSON otherwise (files, pipes, containers). */
export function resolveLogFormat(setting: 'auto' | LogFormat, stdout: { isTTY?: boolean } = process.stdout): LogFormat {
  if (setting !== 'auto') return setting;
  return stdout.isTTY ? 'pretty' : 'json';
}

export function createLogger(level: string, name: string, destination?: DestinationStream, format: LogFormat = 'json'): Logger {
  const options = {
    name,
    level,
    redact: { paths: [...REDACT, 'req.headers.cookie', 'req.headers.authorization', 'req.headers["x-csrf-token"]', 'res.headers["set-cookie"]'], censor: '[redacted]' },
  };
  if (format === 'pretty') {
    const out = destination ?? process.stdout;
    // Secrets are already redacted here: pino redacts while serialising, before the line reaches this stream.
    return pino(options, { write: (line: string) => void out.write(prettyLine(line, Boolean((out as { isTTY?: boolean }).isTTY))) });
  }
  return destination ? pino(options, destination) : pino(options);
}

const LEVELS: Record<number, [label: string, colour: number]> = {
  10: ['TRACE', 90], 20: ['DEBUG', 90], 30: ['INFO', 32], 40: ['WARN', 33], 50: ['ERROR', 31], 60: ['FATAL', 31],
};
const OWN_KEYS = new Set(['level', 'time', 'pid', 'hostname', 'name', 'msg', 'v', 'err']);

/** `14:03:07 WARN  web      message key=value …` (and an error's stack on the lines below) for one pino JSON line. */
export function prettyLine(json: string, colour: boolean): string {
  let entry: Record<string, unknown>;
  try {
    entry = JSON.parse(json) as Record<string, unknown>;
  } catch {
    return json;
  }
  const paint = (code: number, text: string) => (colour ? `\x1b[${code}m${text}\x1b[0m` : text);
  const [label, code] = LEVELS[entry.level as number] ?? [String(entry.level), 0];
  const time = new Date(entry.time as number).toTimeString().slice(0, 8);
  const fields = Object.entries(entry)
    .filter(([key]) => !OWN_KEYS.has(key))
    .map(([key, value]) => `${key}=${typeof value === 'string' && !/[\s"]/.test(value) ? value : JSON.stringify(value)}`);
  let line = `${paint(90, time)} ${paint(code, label.padEnd(5))} ${paint(36, String(entry.name ?? '').padEnd(9))} ${entry.msg ?? ''}`;
  if (fields.length) line += ` ${paint(90, fields.join(' '))}`;
  const err = entry.err as { stack?: string; message?: string } | string | undefined;
  if (typeof err === 'string') line += ` ${paint(90, `err=${JSON.stringify(err)}`)}`;
  else if (err) line += `\n    ${(err.stack ?? err.message ?? JSON.stringify(err)).split('\n').join('\n    ')}`;
  return `${line}\n`;
}
