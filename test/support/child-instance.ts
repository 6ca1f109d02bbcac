import { WatchedProcess } from './processes';
import type { TestAppOptions } from './test-app';

/** An app instance in a child process (test/support/instance-main.ts), so that a test can SIGKILL it. */
export interface ChildInstance {
  process: WatchedProcess;
  origin: string;
  endpoint: string;
}

/** Starts the test app with these module options in a child process; resolves once it listens. */
export async function startChildInstance(
  label: string,
  options: NonNullable<TestAppOptions['options']>,
): Promise<ChildInstance> {
  const child = new WatchedProcess(
    label,
    process.execPath,
    ['-r', 'ts-node/register', 'test/support/instance-main.ts'],
    {
      cwd: `${__dirname}/../..`,
      env: {
        ...process.env,
        TS_NODE_PROJECT: 'tsconfig.jest.json',
        TS_NODE_TRANSPILE_ONLY: '1',
        TUS_INSTANCE_OPTIONS: JSON.stringify(options),
      },
    },
  );
  const origin = (await child.waitForLine((line) => line.startsWith('READY '), 60_000)).slice('READY '.length);
  return { process: child, origin, endpoint: `${origin}/files` };
}
