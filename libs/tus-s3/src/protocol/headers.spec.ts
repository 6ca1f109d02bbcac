import { parseDeclaredLength, parseNonNegativeInteger, singleHeader } from './headers';
import { TusError } from './tus-error';

function statusOf(fn: () => unknown): number | undefined {
  try {
    fn();
  } catch (error) {
    return error instanceof TusError ? error.status : -1;
  }
  return undefined;
}

describe('tus integer headers', () => {
  it.each(['0', '1', '12345', String(Number.MAX_SAFE_INTEGER)])('accepts %s', (raw) => {
    expect(parseNonNegativeInteger('Upload-Offset', raw)).toBe(Number(raw));
  });

  it.each(['', '-1', '+1', '1.5', '01', '1e3', 'abc', '0x10', '9007199254740993', ' 1 2'])(
    'rejects "%s" with 400',
    (raw) => {
      expect(statusOf(() => parseNonNegativeInteger('Upload-Offset', raw))).toBe(400);
    },
  );

  it('refuses a header sent twice', () => {
    expect(statusOf(() => singleHeader('Upload-Offset', ['1', '2']))).toBe(400);
    expect(singleHeader('Upload-Offset', ['1'])).toBe('1');
  });
});

describe('declared upload length', () => {
  it('reads Upload-Length or Upload-Defer-Length: 1', () => {
    expect(parseDeclaredLength('10', undefined)).toEqual({ kind: 'known', size: 10 });
    expect(parseDeclaredLength(undefined, '1')).toEqual({ kind: 'deferred' });
  });

  it.each([
    [undefined, undefined],
    ['10', '1'],
    [undefined, '0'],
    [undefined, 'yes'],
    ['-5', undefined],
  ])('rejects Upload-Length=%s Upload-Defer-Length=%s with 400', (length, defer) => {
    expect(statusOf(() => parseDeclaredLength(length, defer))).toBe(400);
  });
});
