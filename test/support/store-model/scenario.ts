import fc from 'fast-check';

/** A command the client side of the model gives; `via` picks the live instance (modulo their number). */
export type Command =
  /** A whole PATCH of `size` bytes (cut to what the upload still takes) at the model's offset. */
  | { kind: 'write'; via: number; size: number; pieces: number[] }
  /** A PATCH at an offset `delta` away from the model's: refused, nothing changes. */
  | { kind: 'wrong-offset'; via: number; delta: number }
  /** A PATCH of `size` bytes whose body stops after the fraction `sent` of them: it ends, or fails (client gone). */
  | { kind: 'interrupt'; via: number; size: number; sent: number; pieces: number[]; ending: 'end' | 'error' }
  /**
   * A PATCH during which the instance dies, at its `atCall`th S3 request (`atPart`: its `atCall`th part upload), or
   * once it has read its body and gone quiet; the body ends or never does.
   */
  | {
      kind: 'crash';
      via: number;
      size: number;
      pieces: number[];
      atCall: number;
      atPart: boolean;
      bodyEnds: boolean;
      /** Instead of dying at a call: once the journal listing a held chunk landed, and the chunk's PUT not yet. */
      journalFirst: boolean;
    }
  /** The part uploads (and chunk objects) that dead instances had sent reach S3 now: stale writers. */
  | { kind: 'late' }
  /** HEAD: the offset, from any instance. */
  | { kind: 'head'; via: number }
  /** Declares the deferred length (the upload's final size), once. */
  | { kind: 'declare'; via: number };

export interface Scenario {
  /** Bytes the upload will have when finished. */
  total: number;
  /** Created with Upload-Defer-Length: its length is declared later. */
  deferred: boolean;
  /** The dead instances' held part uploads land just before the last PATCH (a stale writer at the worst time). */
  lateBeforeFinish: boolean;
  /** Seeds the bytes sent, so that a counterexample replays with the same bytes. */
  seed: number;
  commands: Command[];
}

/**
 * Scenarios around parts of `partSize`: uploads of 0 to `maxParts` parts, PATCHes of a few bytes to 3 parts (S3's "part
 * boundaries" land anywhere), through `instances` instances.
 */
export function scenarios(
  partSize: number,
  instances: number,
  { maxCommands = 16, maxParts = 5 }: { maxCommands?: number; maxParts?: number } = {},
): fc.Arbitrary<Scenario> {
  const via = fc.nat({ max: instances - 1 });
  const size = fc.oneof(
    fc.integer({ min: 0, max: 64 }),
    fc.integer({ min: 0, max: partSize }),
    fc.integer({ min: 0, max: 3 * partSize }),
  );
  const pieces = fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { maxLength: 3 });
  const command: fc.Arbitrary<Command> = fc.oneof(
    { weight: 6, arbitrary: fc.record({ kind: fc.constant('write' as const), via, size, pieces }) },
    {
      weight: 1,
      arbitrary: fc.record({
        kind: fc.constant('wrong-offset' as const),
        via,
        delta: fc.integer({ min: -2 * partSize, max: 2 * partSize }).filter((d) => d !== 0),
      }),
    },
    {
      weight: 2,
      arbitrary: fc.record({
        kind: fc.constant('interrupt' as const),
        via,
        size,
        sent: fc.double({ min: 0, max: 1, noNaN: true, maxExcluded: true }),
        pieces,
        ending: fc.constantFrom('end' as const, 'error' as const),
      }),
    },
    {
      weight: 3,
      arbitrary: fc.record({
        kind: fc.constant('crash' as const),
        via,
        // mostly big enough to be cut into parts: their uploads are what a stale writer sends late
        size: fc.integer({ min: 0, max: 3 * partSize }),
        pieces,
        atCall: fc.integer({ min: 1, max: 4 }),
        atPart: fc.boolean(),
        bodyEnds: fc.boolean(),
        journalFirst: fc.boolean(),
      }),
    },
    { weight: 2, arbitrary: fc.constant({ kind: 'late' as const }) },
    { weight: 2, arbitrary: fc.record({ kind: fc.constant('head' as const), via }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('declare' as const), via }) },
  );
  return fc.record({
    total: fc.oneof(
      { weight: 1, arbitrary: fc.constant(0) },
      { weight: 6, arbitrary: fc.integer({ min: 1, max: maxParts * partSize }) },
    ),
    deferred: fc.boolean(),
    lateBeforeFinish: fc.boolean(),
    seed: fc.integer(),
    commands: fc.array(command, { minLength: 1, maxLength: maxCommands }),
  });
}

/** Deterministic bytes from a seed (xorshift32): what the client sends. */
export class ByteSource {
  private state: number;
  constructor(seed: number) {
    this.state = seed | 0 || 0x9e3779b9;
  }

  next(length: number): Buffer {
    const bytes = Buffer.alloc(length);
    for (let i = 0; i < length; i++) {
      let x = this.state;
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      this.state = x;
      bytes[i] = x & 0xff;
    }
    return bytes;
  }
}
