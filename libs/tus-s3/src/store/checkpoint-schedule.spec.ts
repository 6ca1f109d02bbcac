import { CheckpointSchedule } from './checkpoint-schedule';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('CheckpointSchedule', () => {
  it('saves at once, then folds requests within the interval into one later save', async () => {
    const saves: number[] = [];
    const started = Date.now();
    const schedule = new CheckpointSchedule(async () => void saves.push(Date.now() - started), true, 100);
    schedule.request();
    await sleep(10);
    schedule.request();
    schedule.request();
    await sleep(150);
    expect(saves).toHaveLength(2);
    expect(saves[1] - saves[0]).toBeGreaterThanOrEqual(90);
    await schedule.stop();
  });

  it('stop wakes a waiting save, which then finds checkpoints stopped; nothing is saved after', async () => {
    let saves = 0;
    const schedule = new CheckpointSchedule(
      async () => {
        if (schedule.running) saves++;
      },
      true,
      10_000,
    );
    schedule.request();
    await sleep(5);
    schedule.request(); // waits for its turn, 10 s away
    const startedStop = Date.now();
    await schedule.stop();
    expect(Date.now() - startedStop).toBeLessThan(1_000);
    schedule.request();
    await sleep(5);
    expect(saves).toBe(1);
  });

  it('does nothing when created inactive', async () => {
    let saves = 0;
    const schedule = new CheckpointSchedule(async () => void saves++, false);
    schedule.request();
    await schedule.stop();
    expect(saves).toBe(0);
  });
});
