import fc from 'fast-check';
import { anyChar, outcome } from '../../../../test/support/properties';
import { decodedPathOf, parseUploadConcat } from './concat';

/** Properties of Upload-Concat: partial, final with its URLs, or a TusError(400); never another error. */

/** A URL-ish token: no space (the separator), may be anything else, hostile included. */
const token = fc.oneof(
  fc
    .string({ unit: anyChar, minLength: 1, maxLength: 30 })
    .map((s) => s.replace(/ /g, ''))
    .filter((s) => s !== ''),
  fc.constantFrom(
    'http://h/files/abc',
    '/files/def',
    'ghi',
    '..',
    '%2e%2e',
    '%00',
    'a\\b',
    '/files//x',
    'final;',
    'partial',
    ';',
    '\t',
  ),
);
const spaces = fc.string({ unit: fc.constant(' '), minLength: 1, maxLength: 3 });

describe('parseUploadConcat (properties)', () => {
  it('on arbitrary strings returns partial/final or throws TusError(400), nothing else', () => {
    const header = fc.oneof(
      fc.string({ unit: anyChar, maxLength: 60 }),
      fc
        .tuple(
          fc.constantFrom('final;', 'final; ', 'final', 'FINAL;', 'partial', 'partial;', ' partial ', 'final;;'),
          fc.string({ unit: anyChar, maxLength: 40 }),
        )
        .map(([a, b]) => a + b),
      fc.array(fc.oneof(token, spaces), { maxLength: 10 }).map((p) => `final;${p.join('')}`),
    );
    fc.assert(
      fc.property(header, (raw) => {
        const result = outcome(() => parseUploadConcat(raw));
        if ('status' in result) return expect(result.status).toBe(400);
        const concat = result.value!;
        if (concat.kind === 'partial') return expect(raw.trim()).toBe('partial');
        expect(raw.trim().startsWith('final;')).toBe(true);
        expect(concat.urls.length).toBeGreaterThan(0);
        expect(concat.urls.length).toBeLessThanOrEqual(10_000);
        for (const url of concat.urls) expect(url === '' || url.includes(' ')).toBe(false);
      }),
      { numRuns: 800 },
    );
  });

  it('reads back the URLs of final;<url> <url> ..., whatever the spacing', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(spaces, token), { minLength: 1, maxLength: 20 }),
        fc.constantFrom('', ' ', '  '),
        (items, lead) => {
          const trimmed = items.map(([, t]) => t.trim()).filter((t) => t !== '');
          // Tokens made only of Unicode whitespace vanish when the header is trimmed: compare only the plain case.
          fc.pre(trimmed.length === items.length && items.every(([, t]) => t === t.trim()));
          const header = `${lead}final;${items.map(([s, t]) => `${s}${t}`).join('')}${lead}`;
          expect(parseUploadConcat(header)).toEqual({ kind: 'final', urls: items.map(([, t]) => t) });
        },
      ),
    );
  });

  it('refuses final; without URLs, and more than 10,000 of them, with 400', () => {
    fc.assert(
      fc.property(fc.string({ unit: fc.constantFrom(' ', '\t'), maxLength: 5 }), (blank) => {
        expect(outcome(() => parseUploadConcat(`final;${blank}`))).toEqual({ status: 400 });
      }),
    );
    expect(
      outcome(() => parseUploadConcat(`final;${Array.from({ length: 10_001 }, (_, i) => `/files/u${i}`).join(' ')}`)),
    ).toEqual({ status: 400 });
    expect(parseUploadConcat(undefined)).toBeUndefined();
  });
});

describe('decodedPathOf (properties)', () => {
  it('never throws: a decoded path, or undefined', () => {
    const url = fc.oneof(
      fc.string({ unit: anyChar, maxLength: 60 }),
      fc
        .array(
          fc.constantFrom(
            '/',
            'a',
            '..',
            '.',
            '%2e',
            '%2E',
            '%2f',
            '%2F',
            '%5c',
            '\\',
            '%00',
            '%',
            '%zz',
            '%c3%a9',
            '%ff',
            '%ed%a0%80',
            '?',
            '#',
            'http://',
            'h:1',
            '@',
            'files',
          ),
          { maxLength: 14 },
        )
        .map((p) => p.join('')),
    );
    fc.assert(
      fc.property(url, (raw) => {
        const path = decodedPathOf(raw);
        // A path of a hierarchical URL starts with "/"; a non-special scheme ("h:1", "urn:x") has an opaque path. The
        // URL parser first strips leading and trailing C0 controls and spaces and drops every tab and newline, so
        // "\u0000A:" has a scheme too.
        if (path !== undefined && !/^[A-Za-z][A-Za-z0-9+.-]*:/.test(asTheUrlParserReadsIt(raw)))
          expect(path.startsWith('/')).toBe(true);
        expect(path === undefined || typeof path === 'string').toBe(true);
      }),
      { numRuns: 800 },
    );
  });
});

/** `raw` as the URL parser reads it: leading and trailing C0 controls and spaces stripped, tabs and newlines dropped. */
function asTheUrlParserReadsIt(raw: string): string {
  let start = 0;
  let end = raw.length;
  while (start < end && raw.charCodeAt(start) <= 0x20) start++;
  while (end > start && raw.charCodeAt(end - 1) <= 0x20) end--;
  return raw.slice(start, end).replace(/[\t\n\r]/g, '');
}
