import { parseMetadata, serializeMetadata } from './metadata';
import { TusError } from './tus-error';

const b64 = (s: string) => Buffer.from(s, 'utf8').toString('base64');

describe('Upload-Metadata', () => {
  it('decodes pairs, keys without values, and UTF-8 values', () => {
    const parsed = parseMetadata(`filename ${b64('Menü.pdf')},is_confidential,filetype ${b64('application/pdf')}`);
    expect({ ...parsed }).toEqual({ filename: 'Menü.pdf', is_confidential: null, filetype: 'application/pdf' });
  });

  it('is empty for a missing or blank header', () => {
    expect({ ...parseMetadata(undefined) }).toEqual({});
    expect({ ...parseMetadata('  ') }).toEqual({});
  });

  it.each([
    ['value that is not base64', 'filename ***'],
    ['duplicate key', `a ${b64('x')},a ${b64('y')}`],
    ['too many spaces', `a ${b64('x')} extra`],
    ['empty pair', `a ${b64('x')},,b ${b64('y')}`],
    ['non-ASCII key', `fïle ${b64('x')}`],
    ['base64 with bad padding', 'a YQ='],
  ])('rejects a %s with 400', (_, header) => {
    expect(() => parseMetadata(header)).toThrow(TusError);
    try {
      parseMetadata(header);
    } catch (error) {
      expect((error as TusError).status).toBe(400);
    }
  });

  it('decodes values as UTF-8 and keeps keys without a value as null', () => {
    expect(parseMetadata(`name ${b64('a b,c')},flag`)).toEqual({ name: 'a b,c', flag: null });
  });

  it('round-trips through serializeMetadata', () => {
    const header = `name ${b64('a b,c')},flag`;
    expect(serializeMetadata(parseMetadata(header))).toBe(header);
  });
});
