// Control characters in the address are refused once, here, for every route: Postgres rejects NUL in text (a 500
// otherwise), and none of them belongs in a path, an id or a search. Form fields are checked where each form is
// validated, so the message appears next to the field (multi-line fields may hold tabs and line breaks).
import type { RequestHandler } from 'express';
import { BadRequestError } from '../../lib/errors.ts';
import { CONTROL_CHARACTER, firstControlCharacter } from '../../lib/control-characters.ts';

/** The first [name, value] in a parsed query (names included) holding a control character, walking arrays/objects. */
function firstOffending(fields: unknown, name = ''): [string, string] | undefined {
  if (typeof fields === 'string') return CONTROL_CHARACTER.test(fields) ? [name, fields] : undefined;
  if (fields === null || typeof fields !== 'object') return undefined;
  for (const [key, value] of Object.entries(fields)) {
    if (CONTROL_CHARACTER.test(key)) return [key, key];
    const found = firstOffending(value, Array.isArray(fields) ? name : key);
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
  if (CONTROL_CHARACTER.test(pathname)) {
    return next(new BadRequestError(`The address contains a control character (${firstControlCharacter(pathname)}), which Launchpad does not accept. Remove it and try again.`));
  }
  const inQuery = firstOffending(req.query);
  if (inQuery) {
    return next(new BadRequestError(`The address parameter “${inQuery[0]}” contains a control character (${firstControlCharacter(inQuery[1])}), which Launchpad does not accept. Remove it and try again.`));
  }
  next();
};
