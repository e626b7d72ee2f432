/** Finding `needs` cycles, iteratively: a long chain of steps must not overflow the stack. */

export interface Cycle {
  /** The step whose `needs` entry closes the cycle, and that entry's index. */
  step: string;
  index: number;
  /**
   * The steps around the cycle, the first repeated at the end. A long cycle keeps only
   * its first and last few steps around '...', so that many long cycles stay cheap.
   */
  cycle: string[];
}

/**
 * Every `needs` entry that closes a cycle, visiting steps and their needs in order.
 * Entries that name no step (undefined, or not a key of `needs`) are passed over.
 */
export function findCycles(needs: ReadonlyMap<string, readonly (string | undefined)[]>): Cycle[] {
  const state = new Map<string, 'open' | 'done'>();
  const cycles: Cycle[] = [];
  for (const root of needs.keys()) {
    if (state.has(root)) continue;
    const stack: { step: string; next: number }[] = [{ step: root, next: 0 }];
    const depth = new Map([[root, 0]]);
    state.set(root, 'open');
    while (stack.length > 0) {
      const frame = stack.at(-1)!;
      const edges = needs.get(frame.step)!;
      if (frame.next === edges.length) {
        stack.pop();
        depth.delete(frame.step);
        state.set(frame.step, 'done');
        continue;
      }
      const index = frame.next++;
      const target = edges[index];
      if (target === undefined || !needs.has(target)) continue;
      const targetState = state.get(target);
      if (targetState === 'open') {
        cycles.push({ step: frame.step, index, cycle: [...around(stack, depth.get(target)!), target] });
      } else if (targetState === undefined) {
        state.set(target, 'open');
        depth.set(target, stack.length);
        stack.push({ step: target, next: 0 });
      }
    }
  }
  return cycles;
}

const SHOWN = 4;

function around(stack: readonly { step: string }[], from: number): string[] {
  const length = stack.length - from;
  const pick = (i: number) => stack[i]!.step;
  if (length <= 2 * SHOWN + 1) return Array.from({ length }, (_, i) => pick(from + i));
  const head = Array.from({ length: SHOWN }, (_, i) => pick(from + i));
  const tail = Array.from({ length: SHOWN }, (_, i) => pick(stack.length - SHOWN + i));
  return [...head, '...', ...tail];
}
