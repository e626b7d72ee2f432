/** What may be stored as a secret: names a step can list and a shell can export, values long enough to mask. */
export const SECRET_NAME = /^[A-Z_][A-Z0-9_]*$/;

/** Shorter values would be masked everywhere they happen to occur, hiding the log rather than the secret. */
export const MIN_SECRET_LENGTH = 4;

/** Why a name is not a secret's name, or undefined when it is one. */
export function secretNameProblem(name: string): string | undefined {
  return SECRET_NAME.test(name) ? undefined : `a secret's name is upper-case letters, digits and '_', not starting with a digit: not '${name}'`;
}

/** Why a value cannot be a secret, or undefined when it can. */
export function secretValueProblem(value: string): string | undefined {
  if (value.length < MIN_SECRET_LENGTH) return `a secret's value must be at least ${MIN_SECRET_LENGTH} characters (shorter ones cannot be masked in logs)`;
  if (value.includes('\0')) return "a secret's value cannot hold a NUL character (no environment variable can)";
  return undefined;
}
