import { CheckpointSchedule } from './checkpoint-schedule';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('CheckpointSchedule', () => {
  it('saves an interval after the first request, folding the requests meanwhile into it; then once per interval', async () => {
    const saves: number[] = [];
    const started = Date.now();
    const schedule = new CheckpointSchedule(async () => void saves.push(Date.now() - started), true, 100);
    schedule.request();
    await sleep(10);
    schedule.request();
    schedule.request();
    await sleep(60);
    expect(saves).toEqual([]); // a body ending now saves at its end: no checkpoint of its own
    await sleep(60);
    expect(saves).toHaveLength(1);
    expect(saves[0]).toBeGreaterThanOrEqual(90);
    schedule.request();
    await sleep(150);
    expect(saves).toHaveLength(2);
    expect(saves[1] - saves[0]).toBeGreaterThanOrEqual(90);
    await schedule.stop();
  });

  it('stop wakes a waiting save, which then finds checkpoints stopped; nothing is saved after', async () => {
    let saves = 0;
    let calls = 0;
    const schedule = new CheckpointSchedule(
      async () => {
        calls++;
        if (schedule.running) saves++;
      },
      true,
      10_000,
    );
    schedule.request(); // waits for its turn, 10 s away
    await sleep(5);
    schedule.request();
    const startedStop = Date.now();
    await schedule.stop();
    expect(Date.now() - startedStop).toBeLessThan(1_000);
    expect(calls).toBe(1);
    schedule.request();
    await sleep(5);
    expect(calls).toBe(1);
    expect(saves).toBe(0);
  });

  it('does nothing when created inactive', async () => {
    let saves = 0;
    const schedule = new CheckpointSchedule(async () => void saves++, false);
    schedule.request();
    await schedule.stop();
    expect(saves).toBe(0);
  });
});
