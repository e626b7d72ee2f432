/**
 * Axis names become environment variable names. A pipeline author who writes `lang` or
 * `path` as an axis means a matrix dimension, not to replace the LANG or PATH every script
 * relies on; a step's `env` names its variables exactly and may set these on purpose.
 */

/** DESIGN: matrix values reach a task as upper-case names, `py-version` as PY_VERSION. */
export function axisVariable(axis: string): string {
  return axis.toUpperCase().replaceAll('-', '_');
}

/** The base environment of every script (agent/run-script.ts). */
const WORKER_SET = new Set(['PATH', 'HOME', 'LANG', 'TMPDIR', 'USER', 'LOGNAME', 'TZ']);
/** Read by bash, the dynamic loader or libc when a script starts: a value here is code or config. */
const BEHAVIOUR = new Set(['BASH_ENV', 'ENV', 'SHELLOPTS', 'BASHOPTS', 'IFS', 'CDPATH', 'GLOBIGNORE', 'PS4', 'SHELL', 'PWD', 'OLDPWD', 'POSIXLY_CORRECT']);
const BEHAVIOUR_PREFIXES = ['BASH_', 'LD_', 'DYLD_', 'LC_'];

/** Why an axis may not set `variable`, or undefined when it may. */
export function reservedVariable(variable: string): string | undefined {
  if (variable.startsWith('SLIPWAY_')) return 'which Slipway sets itself';
  if (WORKER_SET.has(variable)) return "which the worker sets for every script; rename the axis (a step's env may set it on purpose)";
  if (BEHAVIOUR.has(variable) || BEHAVIOUR_PREFIXES.some((prefix) => variable.startsWith(prefix))) {
    return "which changes how bash and the programs it starts behave; rename the axis (a step's env may set it on purpose)";
  }
  return undefined;
}
