import { createInterface } from 'node:readline/promises';
import { UsageError } from './usage-error.ts';

/** How a destroying command asks before it acts: injected so tests can answer. */
export interface Confirmation {
  interactive(): boolean;
  ask(question: string): Promise<boolean>;
}

export const terminal: Confirmation = {
  interactive: () => process.stdin.isTTY === true,
  async ask(question) {
    const prompt = createInterface({ input: process.stdin, output: process.stderr });
    try {
      return /^y(es)?$/i.test((await prompt.question(question)).trim());
    } finally {
      prompt.close();
    }
  },
};

export interface Destruction {
  /** `--yes` was given: act without asking. */
  yes?: boolean;
  /** What is about to go, as a noun phrase ("2 resource(s)", "key ci"). */
  what: string;
  /** The question, ending in `[y/N] `. */
  question: string;
}

/**
 * Whether to go ahead with destroying something: yes with `--yes`, else the answer on a
 * terminal; without a terminal to ask on, a refusal that says how to go ahead.
 */
export async function confirmed(confirmation: Confirmation, destruction: Destruction): Promise<boolean> {
  if (destruction.yes) return true;
  if (!confirmation.interactive()) throw new UsageError(`refusing to delete ${destruction.what} without --yes when stdin is not a terminal`);
  if (await confirmation.ask(destruction.question)) return true;
  process.stderr.write('nothing deleted\n');
  return false;
}
