import type { RequestHandler } from 'express';
import { csrfSync } from 'csrf-sync';

// Synchronizer tokens kept in the session. Forms send `_csrf`; htmx sends X-CSRF-Token (hx-headers on <body>).
const csrf = csrfSync({
  getTokenFromRequest: (req) => {
    const fromBody = (req.body as Record<string, unknown> | undefined)?._csrf;
    if (typeof fromBody === 'string') return fromBody;
    const header = req.headers['x-csrf-token'];
    return typeof header === 'string' ? header : undefined;
  },
  size: 32,
  errorConfig: { statusCode: 403, message: 'The form expired or came from another site. Reload the page and try again.', code: 'EBADCSRFTOKEN' },
});

export const csrfProtection: RequestHandler = csrf.csrfSynchronisedProtection;
export const generateCsrfToken = csrf.generateToken;
