import type { StepShape, Task } from './types.ts';

/**
 * The tasks a task waits for: those of its step's `needs` that agree with it on the axes
 * they share (DESIGN.md's expansion rule). Shown for waiting and blocked tasks, which have
 * no attempt to explain them.
 */
export function neededTasks(task: Task, steps: readonly StepShape[], tasks: readonly Task[]): Task[] {
  const step = steps.find((s) => s.name === task.step);
  if (!step) return [];
  const out: Task[] = [];
  for (const need of step.needs) {
    const needStep = steps.find((s) => s.name === need);
    if (!needStep) continue;
    const shared = needStep.over.filter((a) => step.over.includes(a));
    for (const t of tasks) {
      if (t.step === need && shared.every((a) => t.matrix[a] === task.matrix[a])) out.push(t);
    }
  }
  return out;
}
