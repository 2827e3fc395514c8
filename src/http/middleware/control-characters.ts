// Control characters are refused once, here, for every route: Postgres rejects NUL in text (a 500 otherwise), and
// none of them belongs in an address, an id or a search. Multi-line form fields (a description, a script body, a
// file) legitimately hold tabs and line breaks, so form fields may carry TAB, LF and CR; nothing else.
import type { RequestHandler } from 'express';
import { BadRequestError } from '../../lib/errors.ts';

const ANY_CONTROL = /\p{Cc}/u;
const FORM_CONTROL = /[^\P{Cc}\t\n\r]/u;

const codePoint = (text: string, pattern: RegExp) => {
  const char = pattern.exec(text)![0];
  return `U+${char.codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')}`;
};

/** The first [name, value] pair (names included) with a character the pattern matches, walking arrays and objects. */
function firstOffending(fields: unknown, pattern: RegExp, name = ''): [string, string] | undefined {
  if (typeof fields === 'string') return pattern.test(fields) ? [name, fields] : undefined;
  if (fields === null || typeof fields !== 'object') return undefined;
  for (const [key, value] of Object.entries(fields)) {
    if (pattern.test(key)) return [key, key];
    const found = firstOffending(value, pattern, Array.isArray(fields) ? name : key);
    if (found) return found;
  }
  return undefined;
}

export const refuseControlCharacters: RequestHandler = (req, _res, next) => {
  let pathname = req.path;
  try {
    pathname = decodeURIComponent(req.path);
  } catch {
    // A malformed escape is left to the router, which answers 400 itself.
  }
  if (ANY_CONTROL.test(pathname)) {
    return next(new BadRequestError(`The address contains a control character (${codePoint(pathname, ANY_CONTROL)}), which Launchpad does not accept. Remove it and try again.`));
  }
  const inQuery = firstOffending(req.query, ANY_CONTROL);
  if (inQuery) {
    return next(new BadRequestError(`The address parameter “${inQuery[0]}” contains a control character (${codePoint(inQuery[1], ANY_CONTROL)}), which Launchpad does not accept. Remove it and try again.`));
  }
  const inBody = firstOffending(req.body, FORM_CONTROL);
  if (inBody) {
    return next(new BadRequestError(`The field “${inBody[0]}” contains a control character (${codePoint(inBody[1], FORM_CONTROL)}), which Launchpad does not accept (only tabs and line breaks are). Remove it and send the form again.`));
  }
  next();
};
