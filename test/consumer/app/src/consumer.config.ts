/** Everything the app needs comes from the environment the test gives it. */
export const SECRET = 'consumer-secret';

export function env(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`consumer app: ${name} is not set`);
  return value;
}

/** One line on stdout per thing the test waits for: `CONSUMER <kind> <json>`. */
export function report(kind: string, payload: unknown): void {
  process.stdout.write(`CONSUMER ${kind} ${JSON.stringify(payload)}\n`);
}
