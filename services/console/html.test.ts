import { describe, expect, it } from 'vitest';
import { html, money } from './html.ts';

describe('console markup', () => {
  it('shows an invoice amount in its currency minor units, whatever scale it is stored at', () => {
    expect(money('51.380000', 'USD')).toBe('51.38 USD');
    expect(money('1200.000000', 'JPY')).toBe('1200 JPY');
    expect(money('3.141500', 'KWD')).toBe('3.142 KWD');
    expect(money('not a number', 'USD')).toBe('not a number USD');
  });

  it('escapes every value it is given, never markup it made itself', () => {
    const name = '<script>alert(1)</script>';
    expect(html`<td>${name}</td>${html`<b>${'&'}</b>`}`.text).toBe('<td>&lt;script&gt;alert(1)&lt;/script&gt;</td><b>&amp;</b>');
  });
});
