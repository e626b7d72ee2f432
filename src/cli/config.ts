import type { Command } from 'commander';
import { existsSync } from 'node:fs';
import { defaultConfigText } from '../config/default-text.ts';
import { configFile, loadConfig, readConfig } from '../config/load.ts';
import { stateDir } from '../config/paths.ts';

export function registerConfig(program: Command): void {
  const config = program.command('config')
    .description('print the default config with a comment on every key; see which file is read; check one')
    .option('--json', 'print the config in effect instead (the file, or the defaults), with paths resolved')
    .addHelpText('after', `
The config holds the store, the server and each provider's settings. It is read from
$XDG_CONFIG_HOME/slipway/config.toml (default ~/.config/slipway/config.toml), or from the
file SLIPWAY_CONFIG names. Without one, the defaults printed here apply.

Examples:
  mkdir -p ~/.config/slipway && slipway config > ~/.config/slipway/config.toml
  slipway config check                      every mistake as file:line:column: message
  slipway config path                       which file is read
  slipway config --json | jq .server        the settings in effect`)
    .action((options: { json?: boolean }) => {
      process.stdout.write(options.json ? `${JSON.stringify(loadConfig(), null, 2)}\n` : defaultConfigText());
    });

  config.command('path')
    .description('print the path of the config file Slipway reads (on stdout) and whether it exists (on stderr)')
    .addHelpText('after', `
Example:
  $EDITOR "$(slipway config path)"`)
    .action(() => {
      const file = configFile();
      const source = file.fromEnv ? 'named by SLIPWAY_CONFIG' : 'the default location';
      const state = existsSync(file.path) ? 'exists'
        : file.fromEnv ? 'does not exist: commands that read the config stop until it does'
        : 'does not exist: the built-in defaults apply';
      process.stdout.write(`${file.path}\n`);
      process.stderr.write(`(${source}; ${state})\n`);
    });

  config.command('check')
    .description('check a config file: prints FILE: ok, or every mistake as file:line:column: message (exit 2)')
    .argument('[file]', 'the file to check (default: the one Slipway reads; see slipway config path)')
    .addHelpText('after', `
Examples:
  slipway config check
  slipway config check staging.toml
  slipway config > new.toml && SLIPWAY_CONFIG=new.toml slipway config check`)
    .action((file: string | undefined) => {
      if (file !== undefined) {
        readConfig(file, stateDir());
        process.stdout.write(`${file}: ok\n`);
        return;
      }
      const found = configFile();
      const missing = !found.fromEnv && !existsSync(found.path);
      loadConfig();
      process.stdout.write(missing ? `${found.path}: does not exist; the built-in defaults apply\n` : `${found.path}: ok\n`);
    });
}
