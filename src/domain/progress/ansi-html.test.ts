import { describe, expect, it } from 'vitest';
import { ansiToHtml, ansiToText } from './ansi-html.ts';

describe('ansiToHtml', () => {
  it('escapes HTML in plain text', () => {
    expect(ansiToHtml('<script>alert("x")</script> & \'q\'')).toBe('&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;q&#39;');
  });

  it('renders basic colours and decorations as classes, escaping the coloured text too', () => {
    expect(ansiToHtml('\x1b[31m<b>err</b>\x1b[0m ok')).toBe('<span class="ansi-red-fg">&lt;b&gt;err&lt;/b&gt;</span> ok');
    expect(ansiToHtml('\x1b[1;32mdone\x1b[0m')).toBe('<span class="ansi-green-fg ansi-bold">done</span>');
    expect(ansiToHtml('\x1b[38;5;9mbright\x1b[0m')).toBe('<span class="ansi-bright-red-fg">bright</span>');
  });

  it('keeps the text of colours it cannot express as a class, and never emits a style attribute', () => {
    const html = ansiToHtml('\x1b[38;2;10;20;30mtrue\x1b[0m \x1b[38;5;200mpal\x1b[0m');
    expect(html).toBe('true pal');
    expect(html).not.toContain('style');
  });

  it('drops stray control sequences such as OSC 8 links and BEL', () => {
    expect(ansiToHtml('see \x1b]8;;javascript:alert(1)\x07here\x1b]8;;\x07\x07!')).toBe('see here!');
  });
});

describe('ansiToText', () => {
  it('keeps the text a terminal shows and drops colour codes, hyperlinks and stray control characters', () => {
    expect(ansiToText('\x1b[1;31mred\x1b[0m and \x1b]8;;https://x.example\x07link\x1b]8;;\x07\x07 done')).toBe('red and link done');
    expect(ansiToText('plain <b>text</b>')).toBe('plain <b>text</b>');
  });
});
