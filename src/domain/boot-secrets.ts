import { randomBytes } from 'node:crypto';
import type { SettingsRepository } from '../db/settings-repository.ts';
import type { Logger } from '../logger.ts';

/**
 * SESSION_SECRET and ENCRYPTION_KEY come from the environment in production. On a fresh machine they are generated
 * once and kept in the settings table so that restarts and other processes agree — with a warning, because anyone
 * who can read the database can then read the secrets.
 */
export async function resolveBootSecrets(
  settings: SettingsRepository,
  env: { sessionSecret: string | undefined; encryptionKey: Buffer | undefined },
  logger: Logger,
  /** false in the processes `npm start` runs: its supervisor has already warned once for all of them. */
  options: { announce: boolean } = { announce: true },
): Promise<{ sessionSecret: string; encryptionKey: Buffer }> {
  const warn = (message: string) => (options.announce ? logger.warn(message) : logger.debug(message));
  let sessionSecret = env.sessionSecret;
  if (!sessionSecret) {
    sessionSecret = await settings.getOrInsert('session_secret', randomBytes(32).toString('base64'));
    warn('SESSION_SECRET is not set: using a generated secret stored in the database. Set SESSION_SECRET in production.');
  }
  let encryptionKey = env.encryptionKey;
  if (!encryptionKey) {
    encryptionKey = Buffer.from(await settings.getOrInsert('encryption_key', randomBytes(32).toString('base64')), 'base64');
    warn('ENCRYPTION_KEY is not set: using a generated key stored in the database. Set ENCRYPTION_KEY (openssl rand -base64 32) in production.');
  }
  return { sessionSecret, encryptionKey };
}
