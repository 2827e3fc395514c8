// Control characters Launchpad refuses. Postgres cannot store NUL in text at all (a lookup with one fails), and
// none of them belongs in a name, an id, a search or a one-line field; multi-line texts (a description, a script
// body, a file) legitimately hold tabs and line breaks.

/** Any control character (C0, DEL, C1). */
export const CONTROL_CHARACTER = /\p{Cc}/u;

/** Control characters a multi-line text may not hold: all but tab, line feed and carriage return. */
export const NON_TEXT_CONTROL_CHARACTER = /[^\P{Cc}\t\n\r]/u;

/** `U+0000`-style name of the first character the pattern matches (for messages). */
export function firstControlCharacter(text: string, pattern: RegExp = CONTROL_CHARACTER): string | undefined {
  const char = pattern.exec(text)?.[0];
  return char === undefined ? undefined : `U+${char.codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')}`;
}
