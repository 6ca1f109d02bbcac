import { Readable } from 'node:stream';

/** How a request body ends once its bytes are sent: normally, with an error (client gone), or never (crash). */
export type BodyEnding = 'end' | 'error' | 'hang';

/**
 * A request body of `data` sent in `pieces`, then ended as `ending` says. A piece is pushed only once the reader
 * took everything before it (a high-water mark of one byte): when the body fails or stalls, every byte sent has been
 * read by the store, so "the store keeps what arrived" can be checked exactly.
 */
export function clientBody(data: Buffer, pieces: readonly number[], ending: BodyEnding): Readable {
  const sizes = splitSizes(data.length, pieces);
  let position = 0;
  let next = 0;
  return new Readable({
    highWaterMark: 1,
    read() {
      if (next < sizes.length) {
        const size = sizes[next++];
        this.push(data.subarray(position, (position += size)));
        return;
      }
      if (ending === 'end') this.push(null);
      else if (ending === 'error') setImmediate(() => this.destroy(new Error('client went away')));
      // 'hang': nothing more ever comes
    },
  });
}

/** Sizes of the pieces `length` bytes are sent in: cut where the fractions in `pieces` (0..1) say. */
function splitSizes(length: number, pieces: readonly number[]): number[] {
  const cuts = [...new Set(pieces.map((f) => Math.floor(f * length)))]
    .filter((c) => c > 0 && c < length)
    .sort((a, b) => a - b);
  const sizes: number[] = [];
  let last = 0;
  for (const cut of [...cuts, length]) {
    if (cut > last) sizes.push(cut - last);
    last = cut;
  }
  return sizes;
}
