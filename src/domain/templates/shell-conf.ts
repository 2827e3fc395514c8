// The shell-style KEY=value syntax of template.conf, tokenised — never sourced, so nothing in it runs.
import { TemplateLoadError } from './template.ts';

export interface ConfEntry {
  value: string;
  line: number;
}

/**
 * Tokenises shell-style `KEY=value` lines: blank lines and `# comments` (whole-line or after a value), an optional
 * `export`, single quotes (literal), double quotes (with `\` escapes), values spanning lines inside quotes,
 * and `$VAR`, `${VAR}`, `${VAR:-default}`, `${VAR-default}` expansions. Variables resolve only to earlier
 * assignments in the same file — never to the environment — so a template loads the same everywhere.
 */
export function parseConf(text: string, file: string): Map<string, ConfEntry> {
  const entries = new Map<string, ConfEntry>();
  let i = 0;
  let line = 1;
  const fail = (detail: string, at = line): never => {
    throw new TemplateLoadError(file, at, detail);
  };
  const isBlank = (ch: string | undefined) => ch === ' ' || ch === '\t' || ch === '\r';

  const lookup = (name: string) => entries.get(name)?.value;

  // At a `$`: returns the expansion and moves past it.
  const readExpansion = (): string => {
    const next = text[i + 1];
    if (next === '(') fail('command substitution $(…) is not supported in template.conf; write the value itself');
    if (next === '{') {
      const m = /\{([A-Za-z_][A-Za-z0-9_]*)/y;
      m.lastIndex = i + 1;
      const match = m.exec(text);
      if (!match) fail('expected a variable name after ${');
      const name = match![1]!;
      i = m.lastIndex;
      if (text[i] === '}') {
        i++;
        return lookup(name) ?? '';
      }
      const op = text.startsWith(':-', i) ? ':-' : text[i] === '-' ? '-' : undefined;
      if (!op) fail(`only \${${name}}, \${${name}:-default} and \${${name}-default} are supported`);
      i += op!.length;
      const fallback = readWord('}');
      if (text[i] !== '}') fail(`missing } to close \${${name}…`);
      i++;
      const value = lookup(name);
      return value === undefined || (op === ':-' && value === '') ? fallback : value;
    }
    const m = /[A-Za-z_][A-Za-z0-9_]*/y;
    m.lastIndex = i + 1;
    const match = m.exec(text);
    if (!match) {
      i++;
      return '$';
    }
    i = m.lastIndex;
    return lookup(match[0]) ?? '';
  };

  const readSingleQuoted = (): string => {
    const openedAt = line;
    const end = text.indexOf("'", i + 1);
    if (end < 0) fail('unterminated single quote', openedAt);
    const value = text.slice(i + 1, end);
    line += value.split('\n').length - 1;
    i = end + 1;
    return value;
  };

  const readDoubleQuoted = (): string => {
    const openedAt = line;
    let out = '';
    i++;
    for (;;) {
      const ch = text[i];
      if (ch === undefined) return fail('unterminated double quote', openedAt);
      if (ch === '"') {
        i++;
        return out;
      }
      if (ch === '\\') {
        const next = text[i + 1];
        if (next === '\n') {
          line++;
        } else if (next !== undefined && '$`"\\'.includes(next)) {
          out += next;
        } else {
          out += '\\' + (next ?? '');
        }
        i += 2;
        continue;
      }
      if (ch === '$') {
        out += readExpansion();
        continue;
      }
      if (ch === '`') fail('command substitution `…` is not supported in template.conf; write the value itself');
      if (ch === '\n') line++;
      out += ch;
      i++;
    }
  };

  // One shell word: unquoted text and quoted parts glued together, up to whitespace (or `stop`, inside ${…}).
  const readWord = (stop?: string): string => {
    let out = '';
    for (;;) {
      const ch = text[i];
      if (ch === undefined || ch === '\n' || (stop === undefined && isBlank(ch)) || ch === stop) return out;
      if (ch === "'") out += readSingleQuoted();
      else if (ch === '"') out += readDoubleQuoted();
      else if (ch === '$') out += readExpansion();
      else if (ch === '\\') {
        const next = text[i + 1];
        if (next === '\n') line++;
        else if (next !== undefined) out += next;
        i += 2;
      } else if (ch === '`') fail('command substitution `…` is not supported in template.conf; write the value itself');
      else if (stop === undefined && ';&|<>()'.includes(ch)) fail(`unexpected “${ch}”: template.conf holds KEY=value lines only; quote values with special characters`);
      else {
        out += ch;
        i++;
      }
    }
  };

  const skipComment = () => {
    while (i < text.length && text[i] !== '\n') i++;
  };

  const assignment = /(?:export[ \t]+)?([A-Za-z_][A-Za-z0-9_]*)=/y;
  while (i < text.length) {
    const ch = text[i]!;
    if (isBlank(ch)) {
      i++;
      continue;
    }
    if (ch === '\n') {
      line++;
      i++;
      continue;
    }
    if (ch === '#') {
      skipComment();
      continue;
    }
    assignment.lastIndex = i;
    const match = assignment.exec(text);
    if (!match) {
      const shown = text.slice(i, text.indexOf('\n', i) < 0 ? undefined : text.indexOf('\n', i)).trim().slice(0, 60);
      fail(`expected KEY=value (no spaces around =), found “${shown}”`);
    }
    const startLine = line;
    i = assignment.lastIndex;
    const value = readWord();
    while (isBlank(text[i])) i++;
    if (text[i] === '#') skipComment();
    else if (i < text.length && text[i] !== '\n') fail('unexpected text after the value; put values that contain spaces in quotes');
    entries.set(match![1]!, { value, line: startLine });
  }
  return entries;
}
