/** Finding and reading config.toml: TOML, then its shape, every mistake with its position. */
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { parse, TomlError } from 'smol-toml';
import { ConfigError } from './config-error.ts';
import { configDiagnostics } from './issues.ts';
import { stateDir } from './paths.ts';
import { resolveConfig } from './resolve.ts';
import { configSchema, type SlipwayConfig } from './schema.ts';
import { MAX_TOML_DEPTH, TomlLocator, tooDeep } from './toml-locator.ts';
import { readSmallFile, UnreadableFile } from '../util/small-file.ts';

/** Far above any real config, which is a few KiB; bounds the time and memory checking one takes. */
const MAX_CONFIG_BYTES = 256 * 1024;

export interface ConfigFile {
  path: string;
  /** Named by SLIPWAY_CONFIG, so it must exist; the default file may be absent. */
  fromEnv: boolean;
}

/** `SLIPWAY_CONFIG`, else `$XDG_CONFIG_HOME/slipway/config.toml` (default `~/.config/...`). */
export function configFile(env: NodeJS.ProcessEnv = process.env): ConfigFile {
  if (env.SLIPWAY_CONFIG) return { path: env.SLIPWAY_CONFIG, fromEnv: true };
  const base = env.XDG_CONFIG_HOME || join(homedir(), '.config');
  return { path: join(base, 'slipway', 'config.toml'), fromEnv: false };
}

/** The config in effect: the file configFile() finds, or the built-in defaults when there is none. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): SlipwayConfig {
  const file = configFile(env);
  if (!existsSync(file.path)) {
    if (file.fromEnv) throw new ConfigError(`SLIPWAY_CONFIG names ${file.path}, which does not exist (write one with: slipway config > ${file.path})`);
    return parseConfig('', file.path, stateDir(env));
  }
  return readConfig(file.path, stateDir(env));
}

export function readConfig(path: string, state: string): SlipwayConfig {
  let text: string;
  try {
    text = readSmallFile(path, MAX_CONFIG_BYTES);
  } catch (error) {
    if (!(error instanceof UnreadableFile)) throw error;
    throw new ConfigError(`${path}: cannot read the config file: ${error.message}`);
  }
  return parseConfig(text, path, state);
}

/** Checks config `text`; `file` names it in messages, relative paths resolve in `state`. */
export function parseConfig(text: string, file: string, state: string): SlipwayConfig {
  const deep = tooDeep(text);
  if (deep) {
    const message = `the TOML nests deeper than ${MAX_TOML_DEPTH} levels (tables, dotted keys, arrays and inline tables together)`;
    throw ConfigError.at([{ file, ...deep, message }]);
  }
  let data: unknown;
  try {
    data = parse(text);
  } catch (error) {
    if (!(error instanceof TomlError)) throw error;
    throw ConfigError.at([{ file, line: error.line, column: error.column, message: tomlMessage(error, text) }]);
  }
  const result = configSchema.safeParse(data);
  if (!result.success) throw ConfigError.at(configDiagnostics(result.error.issues, configSchema, data, file, new TomlLocator(text)));
  return resolveConfig(result.data, state);
}

/** smol-toml's message without its banner and code excerpt (the position says as much), in our words where its own mislead. */
function tomlMessage(error: TomlError, text: string): string {
  const message = error.message.replace(/^Invalid TOML document: /, '').split('\n\n')[0]!;
  const at = text.split('\n')[error.line - 1]?.[error.column - 1];
  // A quote left open is reported as the line break it runs into.
  if (message.startsWith('control characters') && (at === undefined || at === '\r')) return 'the string is not closed on this line';
  return message;
}
