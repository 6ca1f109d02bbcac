/**
 * Loads an optional peer dependency (prom-client, @nestjs/terminus) only when a feature that needs it is used, so the
 * module starts without them. `undefined` when the package is not installed; other load errors propagate.
 */
export function loadOptionalPeer<T>(name: string): T | undefined {
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    return require(name) as T;
  } catch (error) {
    if (isNotFound(error, name)) return undefined;
    throw error;
  }
}

function isNotFound(error: unknown, name: string): boolean {
  const { code, message } = (error ?? {}) as { code?: string; message?: string };
  return (code === 'MODULE_NOT_FOUND' || code === 'ERR_MODULE_NOT_FOUND') && String(message).includes(name);
}
