/** A mistake in how a command was called or in its input: exit code 2, no stack trace. */
export class UsageError extends Error {}

export const exitCodes = { ok: 0, failed: 1, usage: 2, cancelled: 130 } as const;
