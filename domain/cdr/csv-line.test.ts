import { describe, expect, it } from 'vitest';
import { parseCsvLine } from './csv-line.ts';

describe('parseCsvLine', () => {
  it.each<[string, string[]]>([
    ['a,b,c', ['a', 'b', 'c']],
    ['', ['']],
    [',', ['', '']],
    ['a,,c,', ['a', '', 'c', '']],
    ['"a","b"', ['a', 'b']],
    ['"",""', ['', '']],
    ['"Smith, John",1', ['Smith, John', '1']],
    ['"""Jane Doe"" <2125550142>",x', ['"Jane Doe" <2125550142>', 'x']],
    ['"""Smith, John"" <3125550199>"', ['"Smith, John" <3125550199>']],
    ['"a""b"', ['a"b']],
    ['""""', ['"']],
    // Asterisk: unquoted integers and an empty unquoted answer time between quoted fields
    ['"2026-11-02 14:20:41",,"2026-11-02 14:21:11",30,0,"NO ANSWER"', ['2026-11-02 14:20:41', '', '2026-11-02 14:21:11', '30', '0', 'NO ANSWER']],
    // FreeSWITCH sql/snom templates put a space before a quoted field
    ['"x", "acme"', ['x', 'acme']],
    [' a , b ', [' a ', ' b ']], // unquoted spaces are data
    ['é,"ü"', ['é', 'ü']],
  ])('%s', (line, fields) => {
    expect(parseCsvLine(line)).toEqual({ ok: true, value: fields });
  });

  it.each<[string, number, string]>([
    ['"abc', 1, 'unterminated quoted field'],
    ['a,"b,c', 3, 'unterminated quoted field'],
    ['"a"b,c', 4, 'unexpected character after a closing quote'],
    ['a"b,c', 2, 'quote inside an unquoted field'],
    ['"2026-11-02 16:00:0', 1, 'unterminated quoted field'],
  ])('refuses %s', (line, position, message) => {
    expect(parseCsvLine(line)).toEqual({ ok: false, error: { position, message } });
  });

  it('takes another delimiter', () => {
    expect(parseCsvLine('a;"b;c";d', ';')).toEqual({ ok: true, value: ['a', 'b;c', 'd'] });
    expect(() => parseCsvLine('a', '"')).toThrow();
  });
});
