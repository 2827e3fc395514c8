// Terminal colours to HTML on the server: anser parses the escape codes, we escape the text and emit classes only
// (the CSP allows no inline styles). 256-colour and true-colour codes keep their text and lose the colour.
import Anser from 'anser';

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };
export const escapeHtml = (text: string) => text.replace(/[&<>"']/g, (c) => ESCAPES[c]!);

// Control characters left after parsing (stray ESC sequences such as OSC 8 hyperlinks, BEL, NUL) are dropped.
// eslint-disable-next-line no-control-regex
const LEFTOVER = /\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|[\x00-\x08\x0b-\x1f\x7f]/g;

const BASIC = /^ansi-(bright-)?(black|red|green|yellow|blue|magenta|cyan|white)$/;

/** The text a terminal shows, without its escape codes: for lines quoted in plain text (a failure's last lines). */
export function ansiToText(text: string): string {
  return (text.includes('\x1b') ? Anser.ansiToText(text) : text).replace(LEFTOVER, '');
}

export function ansiToHtml(text: string): string {
  if (!text.includes('\x1b')) return escapeHtml(text.replace(LEFTOVER, ''));
  let html = '';
  for (const part of Anser.ansiToJson(text, { use_classes: true, remove_empty: true })) {
    const content = escapeHtml(part.content.replace(LEFTOVER, ''));
    if (!content) continue;
    const classes: string[] = [];
    if (part.fg && BASIC.test(part.fg)) classes.push(`${part.fg}-fg`);
    if (part.bg && BASIC.test(part.bg)) classes.push(`${part.bg}-bg`);
    for (const d of part.decorations ?? []) if (['bold', 'dim', 'italic', 'underline'].includes(d)) classes.push(`ansi-${d}`);
    html += classes.length ? `<span class="${classes.join(' ')}">${content}</span>` : content;
  }
  return html;
}
