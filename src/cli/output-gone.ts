import { exitCodes } from './usage-error.ts';

let windDown: (() => void) | undefined;
let gone = false;

/**
 * What to do, instead of ending at once, when whoever reads this command's output goes away
 * (`slipway run … | head` had its lines, the terminal closed): a run's tasks and workers to
 * wind down. Returns what takes it back.
 */
export function whenOutputGone(handler: () => void): () => void {
  windDown = handler;
  return () => {
    if (windDown === handler) windDown = undefined;
  };
}

/**
 * Watches one of this process's output streams for its reader going away: EPIPE (the pipe's
 * reader ended) or EIO (the terminal closed). A command ends quietly then, as cat does,
 * unless it has something to wind down first; every later write fails the same way and is
 * let go.
 */
export function watchOutput(stream: NodeJS.WriteStream): void {
  stream.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code !== 'EPIPE' && error.code !== 'EIO') throw error;
    if (gone) return;
    gone = true;
    if (windDown) windDown();
    else process.exit(exitCodes.ok);
  });
}
