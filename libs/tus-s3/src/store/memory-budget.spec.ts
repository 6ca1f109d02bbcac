import { MemoryBudget, SLAB_BYTES } from './memory-budget';

const MiB = SLAB_BYTES;

describe('MemoryBudget', () => {
  it('grants waiting reservations in turn, as room is released, never past the limit', async () => {
    const budget = new MemoryBudget(10 * MiB);
    expect(budget.reserveSlabs(6)).toBe(true);
    const granted: string[] = [];
    const big = budget.reserveSlabsWithin(8, 10_000).then((ok) => ok && granted.push('big'));
    const small = budget.reserveSlabsWithin(2, 10_000).then((ok) => ok && granted.push('small'));
    expect(budget.reserveSlabs(1)).toBe(false); // room for it, but two wait their turn before it
    budget.releaseSlabs(6);
    await Promise.all([big, small]);
    expect(granted).toEqual(['big', 'small']); // first come, first served, though the small one fit earlier
    expect(budget.inUse).toBe(10 * MiB);
    expect(budget.waiters).toBe(0);
  });

  it('refuses at once what can never fit, and lets the next in line go when the head gives up', async () => {
    const budget = new MemoryBudget(4 * MiB);
    expect(await budget.reserveSlabsWithin(5, 10_000)).toBe(false);
    expect(budget.reserveSlabs(3)).toBe(true);
    const head = budget.reserveSlabsWithin(2, 20);
    const next = budget.reserveSlabsWithin(1, 10_000);
    expect(await head).toBe(false);
    expect(await next).toBe(true);
    expect(budget.inUse).toBe(4 * MiB);
  });

  it('reuses given-back slabs rather than allocating more', () => {
    const budget = new MemoryBudget(4 * MiB);
    expect(budget.reserveSlabs(4)).toBe(true);
    const slabs = [budget.take(), budget.take(), budget.take(), budget.take()];
    for (const slab of slabs) budget.giveBack(slab);
    budget.releaseSlabs(4);
    expect(budget.reserveSlabs(3)).toBe(true);
    const taken = [budget.take(), budget.take(), budget.take()];
    expect(new Set(taken).size).toBe(3);
    for (const slab of taken) expect(slabs).toContain(slab);
    expect(budget.allocatedBytes).toBe(4 * MiB); // nothing new
  });
});
