import fc from 'fast-check';
import { TusError } from '../../libs/tus-s3/src/protocol/tus-error';

/** What a parser did: returned a value, or threw a TusError with this status. */
export type Outcome<T> = { value: T } | { status: number };

/**
 * Runs a parser; a TusError becomes its status, any other exception is rethrown, so that fast-check reports it as a
 * failure together with the input that caused it ("returns or throws TusError, never anything else").
 */
export function outcome<T>(fn: () => T): Outcome<T> {
  try {
    return { value: fn() };
  } catch (error) {
    if (error instanceof TusError) return { status: error.status };
    throw error;
  }
}

/**
 * Any code point but a lone surrogate: ASCII (controls included) half the time, Latin-1 (what Node lets through in a
 * header, as obs-text) often, and the rest of Unicode. fast-check's own `unit: 'binary'` does the same but takes
 * seconds to set up in each Jest module registry.
 */
export const anyChar: fc.Arbitrary<string> = fc
  .oneof(
    { weight: 4, arbitrary: fc.integer({ min: 0, max: 0x7f }) },
    { weight: 2, arbitrary: fc.integer({ min: 0x80, max: 0xff }) },
    { weight: 2, arbitrary: fc.integer({ min: 0x100, max: 0xffff }).filter((c) => c < 0xd800 || c > 0xdfff) },
    { weight: 1, arbitrary: fc.integer({ min: 0x10000, max: 0x10ffff }) },
  )
  .map((c) => String.fromCodePoint(c));
