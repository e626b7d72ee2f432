import { ConfigError } from '../../src/config/config-error.ts';
import { parseConfig } from '../../src/config/load.ts';

/** The state directory config tests resolve paths against. */
export const STATE = '/state/slipway';

/** The lines of the ConfigError that checking `text` throws. */
export function mistakes(text: string): string[] {
  try {
    parseConfig(text, 'config.toml', STATE);
  } catch (error) {
    if (error instanceof ConfigError) return error.message.split('\n');
    throw error;
  }
  throw new Error('expected mistakes, found none');
}
